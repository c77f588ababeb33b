// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/stability_run_dialog.h"
#include "panels/model_panel.h"
#include "widgets/file_dialogs.h"
#include "workbench/workbench.h"
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

namespace achilles::ui {

StabilityRunDialog::StabilityRunDialog(Workbench* wb, const StabilityRequest& initial, QWidget* parent)
    : QDialog(parent), wb_(wb) {
    setWindowTitle(tr("Run stability study"));
    setObjectName(QStringLiteral("stabilityRunDialog"));
    probes_ = new QLineEdit(this);
    probes_->setObjectName(QStringLiteral("stabilityProbes"));
    probes_->setPlaceholderText(tr("JSONL ({\"text\": ...} or {\"ids\": [...]}, optional \"name\") or a folder of .txt files"));
    auto* file = new QPushButton(tr("File…"), this);
    auto* folder = new QPushButton(tr("Folder…"), this);
    vary_ = new QPlainTextEdit(this);
    vary_->setObjectName(QStringLiteral("stabilityVary"));
    vary_->setPlaceholderText(tr("optional, one per line: KEY=V1,V2,...  e.g. seed=1,2,3 (every combination runs)"));
    vary_->setTabChangesFocus(true);
    vary_->setMaximumHeight(vary_->fontMetrics().height() * 5);
    consensus_ = new QSpinBox(this);
    consensus_->setRange(0, 1000000);
    consensus_->setSpecialValueText(tr("majority"));
    consensus_->setToolTip(tr("--consensus: the consensus set holds the channels found in at least K runs (0: a majority)"));
    heldout_ = new QLineEdit(this);
    heldout_->setPlaceholderText(tr("optional: a dataset on which the consensus set's Δ log10 PPL is measured"));
    auto* heldoutBrowse = new QPushButton(tr("Browse…"), this);
    heldoutMax_ = new QSpinBox(this);
    heldoutMax_->setRange(0, 1000000000);
    heldoutMax_->setSpecialValueText(tr("all"));
    heldoutMax_->setToolTip(tr("--heldout-max-samples: at most this many samples (0: all)"));
    context_ = new QLabel(this);
    context_->setWordWrap(true);
    plan_ = new QLabel(this);
    plan_->setObjectName(QStringLiteral("stabilityPlan"));
    plan_->setWordWrap(true);
    plan_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons_->button(QDialogButtonBox::Ok)->setText(tr("Run"));

    auto* probesRow = new QHBoxLayout;
    probesRow->addWidget(probes_, 1);
    probesRow->addWidget(file);
    probesRow->addWidget(folder);
    auto* heldRow = new QHBoxLayout;
    heldRow->addWidget(heldout_, 1);
    heldRow->addWidget(heldoutBrowse);
    auto* form = new QFormLayout;
    form->addRow(tr("Probes (--probes)"), probesRow);
    form->addRow(tr("Vary (--vary)"), vary_);
    form->addRow(tr("Consensus K (--consensus)"), consensus_);
    form->addRow(tr("Held-out dataset (--heldout)"), heldRow);
    form->addRow(tr("Held-out samples at most"), heldoutMax_);
    auto* lay = new QVBoxLayout(this);
    lay->addWidget(context_);
    lay->addLayout(form);
    lay->addWidget(plan_);
    lay->addWidget(buttons_);
    resize(640, sizeHint().height());

    if (wb_ && wb_->hasModel()) {
        const SearchOptions& o = wb_->options();
        context_->setText(tr("On %1 with the Search panel's options (α %2, K %3, ε %4, max steps %5, seed %6): one search per "
                             "probe and --vary combination, on the model lane.")
                              .arg(ModelPanel::describe(wb_->modelPath()))
                              .arg(o.alpha)
                              .arg(o.samples)
                              .arg(o.epsilon)
                              .arg(o.max_steps)
                              .arg(qulonglong(o.seed)));
    } else {
        context_->setText(tr("There is no model loaded: load one in the Model panel first."));
    }

    debounce_ = new QTimer(this);
    debounce_->setSingleShot(true);
    debounce_->setInterval(250);
    connect(debounce_, &QTimer::timeout, this, &StabilityRunDialog::updatePlan);
    auto later = [this] {
        buttons_->button(QDialogButtonBox::Ok)->setEnabled(false);  // until checked
        debounce_->start();
    };
    connect(probes_, &QLineEdit::textChanged, this, later);
    connect(heldout_, &QLineEdit::textChanged, this, later);
    connect(vary_, &QPlainTextEdit::textChanged, this, later);
    connect(file, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, DialogKind::probes, tr("Probes file"), tr("JSONL (*.jsonl *.json);;All files (*)"));
        if (!f.isEmpty()) probes_->setText(f);
    });
    connect(folder, &QPushButton::clicked, this, [this] {
        const QString d = folderDialog(this, DialogKind::probes, tr("Folder of .txt probes"));
        if (!d.isEmpty()) probes_->setText(d);
    });
    connect(heldoutBrowse, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, DialogKind::texts, tr("Held-out dataset"), tr("Text or JSONL (*.txt *.raw *.jsonl);;All files (*)"));
        if (!f.isEmpty()) heldout_->setText(f);
    });
    connect(buttons_, &QDialogButtonBox::accepted, this, [this] {
        updatePlan();  // what is accepted is what was just checked
        if (runs_ > 0) accept();
    });
    connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
    setRequest(initial);
    updatePlan();
}

void StabilityRunDialog::setRequest(const StabilityRequest& r) {
    probes_->setText(r.probes);
    vary_->setPlainText(r.vary.join(QLatin1Char('\n')));
    consensus_->setValue(r.consensus);
    heldout_->setText(r.heldout);
    heldoutMax_->setValue(r.heldoutMaxSamples);
}

StabilityRequest StabilityRunDialog::request() const {
    StabilityRequest r;
    r.probes = probes_->text().trimmed();
    for (const QString& l : vary_->toPlainText().split(QLatin1Char('\n')))
        if (!l.trimmed().isEmpty()) r.vary << l.trimmed();
    r.consensus = consensus_->value();
    r.heldout = heldout_->text().trimmed();
    r.heldoutMaxSamples = heldoutMax_->value();
    return r;
}

void StabilityRunDialog::updatePlan() {
    debounce_->stop();
    runs_ = -1;
    const StabilityRequest r = request();
    if (r.probes.isEmpty()) {
        plan_->setStyleSheet(QString());
        plan_->setText(tr("Choose the probes: a JSONL file or a folder of .txt files."));
    } else {
        try {
            const StabilityPlan p = planStability(r);
            runs_ = int(p.runs.size());
            const size_t per = p.probes.empty() ? 0 : p.runs.size() / p.probes.size();
            plan_->setStyleSheet(QString());
            plan_->setText(per > 1 ? tr("%1 runs: %2 probes × %3 option combinations (one search each).").arg(runs_).arg(p.probes.size()).arg(per)
                                   : tr("%1 runs: one search per probe.").arg(runs_));
        } catch (const std::exception& e) {
            plan_->setStyleSheet(QStringLiteral("color: #b00020;"));
            plan_->setText(QString::fromUtf8(e.what()));
        }
    }
    buttons_->button(QDialogButtonBox::Ok)->setEnabled(runs_ > 0 && wb_ && wb_->hasModel());
}

QString StabilityRunDialog::planText() const { return plan_->text(); }
bool StabilityRunDialog::runEnabled() const { return buttons_->button(QDialogButtonBox::Ok)->isEnabled(); }

}  // namespace achilles::ui
