// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/search_panel.h"
#include "workbench/workbench.h"
#include "panels/option_form.h"
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QPointer>
#include <QTime>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

namespace achilles::ui {

namespace {
QString duration(double s) {
    if (!(s >= 0) || std::isinf(s)) return QStringLiteral("?");
    if (s < 60) return QStringLiteral("%1 s").arg(int(std::ceil(s)));
    if (s < 3600) return QStringLiteral("%1 min %2 s").arg(int(s) / 60).arg(int(s) % 60);
    return QStringLiteral("%1 h %2 min").arg(int(s) / 3600).arg((int(s) % 3600) / 60);
}
}  // namespace

SearchPanel::SearchPanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    form_ = new OptionForm("search", this);  // one widget per row of the options table
    auto* params = new QGroupBox(tr("Parameters"), this);
    params->setLayout(form_->layout());

    run_ = new QPushButton(tr("Run search"), this);
    run_->setToolTip(tr("Run the two-stage search on the probe text (Ctrl+R)"));
    QFont bf = run_->font();
    bf.setBold(true);
    run_->setFont(bf);
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    cancel_->setToolTip(tr("Stop the running search; the previous result stays (Ctrl+.)"));
    defaults_ = new QPushButton(tr("Paper defaults"), this);
    defaults_->setToolTip(tr("Reset every parameter to the paper's values"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(defaults_);
    buttons->addStretch();
    buttons->addWidget(cancel_);
    buttons->addWidget(run_);

    stageBox_ = new QVBoxLayout;
    summary_ = new QLabel(this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    log_ = new QPlainTextEdit(this);
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    log_->setPlaceholderText(tr("Search log"));
    log_->setMinimumHeight(80);

    run_->setObjectName(QStringLiteral("runSearch"));
    cancel_->setObjectName(QStringLiteral("cancelSearch"));
    log_->setObjectName(QStringLiteral("searchLog"));
    log_->setMinimumHeight(60);
    // Only the parameters scroll (vertically, never sideways: the panel is as wide as they need,
    // so no field is cut off); the buttons, the progress of each stage, the summary and the log
    // stay in view below them whatever the dock's height.
    auto* inner = new QWidget(this);
    auto* il = new QVBoxLayout(inner);
    il->setContentsMargins(0, 0, 0, 0);
    il->addWidget(params);
    il->addStretch();
    auto* scroll = scroll_ = new QScrollArea(this);
    scroll->setWidget(inner);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumHeight(90);
    scroll->setMinimumWidth(inner->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width() + 4);
    scroll->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(4, 0, 4, 4);
    lay->addWidget(scroll, 3);
    lay->addLayout(buttons);
    lay->addLayout(stageBox_);
    lay->addWidget(summary_);
    lay->addWidget(log_, 1);

    setOptions(wb_->options());
    connect(form_, &OptionForm::changed, this, &SearchPanel::push);
    connect(defaults_, &QPushButton::clicked, this, [this] {
        SearchOptions d;
        d.eval_dataset = wb_->options().eval_dataset;
        d.eval_max_samples = wb_->options().eval_max_samples;
        wb_->setOptions(d);
    });
    connect(wb_, &Workbench::optionsChanged, this, [this] {
        if (!updating_) setOptions(wb_->options());
    });
    connect(run_, &QPushButton::clicked, wb_, &Workbench::runSearch);
    connect(cancel_, &QPushButton::clicked, wb_, &Workbench::cancelSearch);
    connect(wb_, &Workbench::searchStarted, this, [this] {
        resetStages();
        total_.start();
        run_->setEnabled(false);
        cancel_->setEnabled(true);
        summary_->clear();
        appendLog(tr("Search started (α=%1, K=%2, ε=%3, mode %4).")
                      .arg(wb_->options().alpha)
                      .arg(wb_->options().samples)
                      .arg(wb_->options().epsilon)
                      .arg(qs(to_string(wb_->options().mode))));
    });
    connect(wb_, &Workbench::searchStageProgress, this, &SearchPanel::onProgress);
    auto done = [this] {
        run_->setEnabled(true);
        cancel_->setEnabled(false);
    };
    connect(wb_, &Workbench::searchFinished, this, [this, done] {
        done();
        for (auto& s : stages_) s.bar->setValue(1000);
        const auto& r = *wb_->result();
        QString s;
        if (r.faithful.reached)
            s = tr("<b>Critical set: %1 neurons</b> (n* = %2 entries, rate %3 of %4). PPL %5 → %6, Δ log10 = %7. Took %8.")
                    .arg(r.faithful.neurons.size())
                    .arg(r.faithful.n)
                    .arg(r.rate(), 0, 'g', 3)
                    .arg(r.total_entries)
                    .arg(r.ppl_orig, 0, 'g', 5)
                    .arg(r.faithful.ppl, 0, 'g', 5)
                    .arg(r.faithful.delta, 0, 'f', 2)
                    .arg(duration(total_.elapsed() / 1000.0));
        else
            s = tr("<b>ε not reached</b>: masking the first %1 ranking entries (%2 neurons) raises log10 PPL by only %3 "
                   "(PPL %4 → %5). Raise Max steps or Step Δn, or lower ε. Took %6.")
                    .arg(r.faithful.n)
                    .arg(r.faithful.neurons.size())
                    .arg(r.faithful.delta, 0, 'f', 2)
                    .arg(r.ppl_orig, 0, 'g', 5)
                    .arg(r.faithful.ppl, 0, 'g', 5)
                    .arg(duration(total_.elapsed() / 1000.0));
        summary_->setText(s);
        appendLog(QString(s).remove(QRegularExpression(QStringLiteral("<[^>]*>"))));
    });
    connect(wb_, &Workbench::searchFailed, this, [this, done](const QString& m) {
        done();
        for (auto it = stages_.begin(); it != stages_.end(); ++it)
            if (it->bar->value() < 1000) it->label->setText(tr("<b>%1</b> failed").arg(it.key().toHtmlEscaped()));
        appendLog(tr("Search failed: %1").arg(m));
        summary_->setText(tr("<span style='color:#b00'>Search failed: %1</span>").arg(m.toHtmlEscaped()));
    });
    connect(wb_, &Workbench::searchCancelled, this, [this, done] {
        done();
        for (auto it = stages_.begin(); it != stages_.end(); ++it)  // no ETA for a run that is over
            if (it->bar->value() < 1000) it->label->setText(tr("<b>%1</b> cancelled").arg(it.key().toHtmlEscaped()));
        appendLog(tr("Search cancelled."));
        summary_->setText(tr("Search cancelled."));
    });
    connect(wb_, &Workbench::modelLoaded, this, [this] { run_->setEnabled(!wb_->searching()); });
}

double SearchPanel::etaSeconds(const std::vector<std::pair<double, double>>& r, double window) {
    if (r.size() < 2) return -1;
    const auto& [t1, f1] = r.back();
    if (f1 >= 1.0) return 0;
    // the oldest report inside the window (at least two reports apart)
    size_t i = r.size() - 2;
    while (i > 0 && t1 - r[i - 1].first <= window) --i;
    const double dt = t1 - r[i].first, df = f1 - r[i].second;
    if (dt <= 0 || df <= 0) return -1;
    return (1.0 - f1) * dt / df;
}

QStringList SearchPanel::stageTexts() const {
    QStringList l;
    for (const auto& s : stages_) l << s.label->text();
    return l;
}

void SearchPanel::setOptions(const SearchOptions& o) {
    updating_ = true;
    form_->write(o);
    updating_ = false;
}

SearchOptions SearchPanel::options() const {
    SearchOptions o = wb_->options();  // keeps the dataset fields of the Probe panel
    form_->read(o);
    return o;
}

void SearchPanel::push() {
    if (updating_) return;
    updating_ = true;
    wb_->setOptions(options());
    updating_ = false;
}

void SearchPanel::resetStages() {
    for (auto& s : stages_) {
        delete s.bar;
        delete s.label;
    }
    stages_.clear();
}

void SearchPanel::appendLog(const QString& line) {
    log_->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss  ")) + line);
}

void SearchPanel::onProgress(const QString& stage, double f, const QString& msg) {
    if (!msg.isEmpty()) appendLog(stage.isEmpty() ? msg : QStringLiteral("[%1] %2").arg(stage, msg));
    if (stage.isEmpty() || f < 0 || stage == QLatin1String("done")) return;
    auto it = stages_.find(stage);
    if (it == stages_.end()) {
        Stage s;
        s.label = new QLabel(this);
        s.bar = new QProgressBar(this);
        s.bar->setRange(0, 1000);
        s.bar->setFormat(QStringLiteral("%p%"));
        s.clock.start();
        stageBox_->addWidget(s.label);
        stageBox_->addWidget(s.bar);
        it = stages_.insert(stage, s);
    }
    it->bar->setValue(int(std::clamp(f, 0.0, 1.0) * 1000));
    const double el = it->clock.elapsed() / 1000.0;
    it->reports.emplace_back(el, f);
    if (it->reports.size() > 4096) it->reports.erase(it->reports.begin(), it->reports.begin() + 2048);
    QString eta;
    const double left = etaSeconds(it->reports);
    if (f >= 1.0) eta = tr("done in %1").arg(duration(el));
    else if (f > 0.01 && el > 0.5 && left >= 0) eta = tr("ETA %1").arg(duration(left));
    it->label->setText(QStringLiteral("<b>%1</b> %2").arg(stage.toHtmlEscaped(), eta));
}

}  // namespace achilles::ui
