// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/neurons_panel.h"
#include "workbench/workbench.h"
#include "models/neuron_model.h"
#include "widgets/ablation_control.h"
#include "widgets/stale_banner.h"
#include <QCheckBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableView>
#include <QTimer>
#include <QUndoStack>
#include <QVBoxLayout>
#include <cmath>

namespace achilles::ui {

NeuronsPanel::NeuronsPanel(Workbench* wb, NeuronTableModel* model, QWidget* parent)
    : QWidget(parent), wb_(wb), model_(model), proxy_(new NeuronFilterProxy(this)) {
    proxy_->setSourceModel(model_);
    view_ = new QTableView(this);
    view_->setModel(proxy_);
    view_->setSortingEnabled(true);
    view_->sortByColumn(NeuronTableModel::ColRank, Qt::AscendingOrder);
    view_->verticalHeader()->setVisible(false);
    view_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    view_->horizontalHeader()->setStretchLastSection(true);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setAlternatingRowColors(true);
    view_->setColumnWidth(NeuronTableModel::ColMask, 52);
    view_->setColumnWidth(NeuronTableModel::ColModule, 170);
    filter_ = new QLineEdit(this);
    filter_->setPlaceholderText(tr("Filter: e.g. down_proj, L3., 4095"));
    filter_->setClearButtonEnabled(true);
    filter_->setToolTip(tr("Words must all match the neuron label (L<layer>.<module>:<channel>); numbers match a layer or channel"));
    maskedOnly_ = new QCheckBox(tr("Masked only"), this);
    critical_ = new QPushButton(tr("Mask critical set"), this);
    critical_->setToolTip(tr("Mask every neuron of the critical set found by stage 2"));
    minimal_ = new QPushButton(tr("Mask minimal set"), this);
    minimal_->setToolTip(tr("Mask the minimized critical set (run the search with \"Minimize\")"));
    clear_ = new QPushButton(tr("Clear"), this);
    clear_->setToolTip(tr("Unmask everything"));
    auto* exportCsv = new QPushButton(tr("CSV…"), this);
    exportCsv->setToolTip(tr("Export the table to CSV"));
    regen_ = new QCheckBox(tr("Regenerate on change"), this);
    regen_->setToolTip(tr("After each change, regenerate both continuations in the Generations panel"));
    ppl_ = new QLabel(this);
    ppl_->setTextFormat(Qt::RichText);
    QFont f = ppl_->font();
    f.setPointSizeF(f.pointSizeF() * 1.15);
    ppl_->setFont(f);

    auto* bar = new QHBoxLayout;
    bar->addWidget(filter_, 1);
    auto* perChannel = new QLabel(tr("Ticks mask channels"), this);
    perChannel->setStyleSheet(QStringLiteral("color:#666"));
    perChannel->setToolTip(tr("Masking is per channel: ticking a row zeroes its channel at every position, so all rows "
                              "of the same layer, module and channel are ticked together"));
    bar->addWidget(perChannel);
    bar->addWidget(maskedOnly_);
    bar->addWidget(exportCsv);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(critical_);
    buttons->addWidget(minimal_);
    buttons->addWidget(clear_);
    buttons->addWidget(regen_);
    buttons->addStretch();
    ppl_->setWordWrap(true);  // its own row: the header names the model and the text
    stale_ = new StaleBanner(this);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(buttons);
    lay->addWidget(new AblationControl(wb_, this));
    lay->addWidget(ppl_);
    lay->addWidget(stale_);
    lay->addLayout(bar);
    lay->addWidget(view_, 1);

    // An empty table says what fills it.
    auto* empty = new QLabel(tr("Run a search to list the ranked neurons here.\n"
                                "Tick a neuron to mask it: the perplexity above updates at once."),
                             view_->viewport());
    empty->setAlignment(Qt::AlignCenter);
    empty->setStyleSheet(QStringLiteral("color: #888;"));
    empty->setAttribute(Qt::WA_TransparentForMouseEvents);
    auto placeEmpty = [this, empty] {
        empty->setGeometry(view_->viewport()->rect());
        empty->setVisible(proxy_->rowCount() == 0 && model_->rowCount() == 0);
    };
    connect(proxy_, &QAbstractItemModel::modelReset, empty, placeEmpty);
    connect(proxy_, &QAbstractItemModel::rowsInserted, empty, placeEmpty);
    connect(proxy_, &QAbstractItemModel::rowsRemoved, empty, placeEmpty);
    connect(proxy_, &QAbstractItemModel::layoutChanged, empty, placeEmpty);
    view_->viewport()->installEventFilter(this);
    emptyHint_ = empty;
    placeEmpty();

    // Filtering 100k rows takes a while: run it once typing pauses, never per keystroke.
    auto* filterTimer = new QTimer(this);
    filterTimer->setSingleShot(true);
    filterTimer->setInterval(250);
    connect(filter_, &QLineEdit::textChanged, filterTimer, qOverload<>(&QTimer::start));
    connect(filterTimer, &QTimer::timeout, this, [this] { proxy_->setText(filter_->text()); });
    connect(filter_, &QLineEdit::returnPressed, this, [this, filterTimer] {
        filterTimer->stop();
        proxy_->setText(filter_->text());
    });
    connect(maskedOnly_, &QCheckBox::toggled, proxy_, &NeuronFilterProxy::setMaskedOnly);
    connect(critical_, &QPushButton::clicked, this, &NeuronsPanel::maskCritical);
    connect(minimal_, &QPushButton::clicked, this, &NeuronsPanel::maskMinimal);
    connect(clear_, &QPushButton::clicked, this, &NeuronsPanel::clearMasks);
    connect(exportCsv, &QPushButton::clicked, this, &NeuronsPanel::exportCsvRequested);
    connect(regen_, &QCheckBox::toggled, wb_, &Workbench::setAutoRegenerate);
    connect(wb_, &Workbench::pplChanged, this, &NeuronsPanel::updatePpl);
    connect(wb_, &Workbench::pplEvaluating, this, [this] {
        ppl_->setText(ppl_->text() + QStringLiteral(" <span style='color:#888'>%1</span>").arg(tr("(evaluating…)")));
    });
    connect(wb_, &Workbench::pplFailed, this, [this](const QString& m) {
        ppl_->setText(QStringLiteral("<span style='color:#b00'>%1</span>").arg(m.toHtmlEscaped()));
    });
    auto updateButtons = [this] {
        const auto& r = wb_->result();
        // Another model's neurons are never masked on this one.
        const bool own = !wb_->hasModel() || wb_->resultMatchesModel();
        critical_->setEnabled(own && r && !r->faithful.neurons.empty());
        minimal_->setEnabled(own && r && r->minimal && !r->minimal->neurons.empty());
        clear_->setEnabled(!wb_->masked().empty());
    };
    connect(wb_, &Workbench::resultChanged, this, updateButtons);
    connect(wb_, &Workbench::maskChanged, this, updateButtons);
    connect(wb_, &Workbench::provenanceChanged, this, updateButtons);
    connect(wb_, &Workbench::provenanceChanged, this, &NeuronsPanel::updateStale);
    connect(wb_, &Workbench::maskChanged, this, [this] {
        if (maskedOnly_->isChecked()) proxy_->setMaskedOnly(true);
    });
    updateButtons();
    updatePpl(wb_->pplOriginal(), wb_->pplMasked());
    updateStale();
}

void NeuronsPanel::updateStale() {
    QStringList reasons;
    if (const QString r = wb_->resultStaleReason(); !r.isEmpty()) {
        reasons << tr("Table: %1").arg(r);
        if (!wb_->resultMatchesModel()) reasons << tr("Its neurons cannot be masked on this model; run a search.");
    }
    if (const QString m = wb_->masksStaleReason(); !m.isEmpty()) reasons << m;
    stale_->setReason(reasons.join(QLatin1Char('\n')));
    view_->viewport()->update();  // the mask column is not checkable for another model's table
    updatePpl(wb_->pplOriginal(), wb_->pplMasked());
}

QString NeuronsPanel::staleText() const { return stale_->isVisibleTo(const_cast<NeuronsPanel*>(this)) ? stale_->text() : QString(); }

void NeuronsPanel::maskCritical() {
    const auto& r = wb_->result();
    if (!r) return;
    std::set<Neuron> s(r->faithful.neurons.begin(), r->faithful.neurons.end());
    wb_->requestMask(s, tr("Mask critical set (%1)").arg(s.size()));
}

void NeuronsPanel::maskMinimal() {
    const auto& r = wb_->result();
    if (!r || !r->minimal) return;
    std::set<Neuron> s(r->minimal->neurons.begin(), r->minimal->neurons.end());
    wb_->requestMask(s, tr("Mask minimal set (%1)").arg(s.size()));
}

void NeuronsPanel::clearMasks() { wb_->requestMask({}, tr("Clear masks")); }

void NeuronsPanel::updatePpl(double orig, double masked) {
    if (orig <= 0) {
        ppl_->setText(tr("PPL: —"));
        return;
    }
    const double d = masked > 0 ? std::log10(masked) - std::log10(orig) : 0;
    const QString stale = wb_->pplStaleReason();
    const QString color = !stale.isEmpty() ? QStringLiteral("#888")
                          : d >= (wb_->result() ? wb_->result()->options.epsilon : 3.0) ? QStringLiteral("#c00")
                          : d > 0.3 ? QStringLiteral("#c60") : QStringLiteral("#070");
    // The header names the model and the text its numbers were computed on.
    QString t = tr("%1 masked · PPL %2 → <b style='color:%3'>%4</b> (Δ log10 %5)")
                    .arg(wb_->pplMaskCount())
                    .arg(orig, 0, 'g', 5)
                    .arg(color)
                    .arg(masked, 0, 'g', 5)
                    .arg(d, 0, 'f', 2);
    if (wb_->pplMaskCount() > 0 && wb_->pplAblation() != MaskEntry())
        t += QStringLiteral(" · ") + Workbench::ablationText(wb_->pplAblation()).toHtmlEscaped();
    if (wb_->pplProvenance().hasModel())
        t += QStringLiteral("<br><span style='color:#555'>%1</span>").arg(wb_->pplProvenance().describe().toHtmlEscaped());
    if (!stale.isEmpty()) t += QStringLiteral("<br><b style='color:#a40'>%1</b>").arg(stale.toHtmlEscaped());
    ppl_->setText(t);
}

QString NeuronsPanel::pplText() const { return ppl_->text(); }

QJsonObject NeuronsPanel::viewState() const {
    return QJsonObject{{"filter", filter_->text()},
                       {"masked_only", maskedOnly_->isChecked()},
                       {"sort_column", view_->horizontalHeader()->sortIndicatorSection()},
                       {"sort_order", int(view_->horizontalHeader()->sortIndicatorOrder())},
                       {"regenerate", regen_->isChecked()}};
}

void NeuronsPanel::restoreViewState(const QJsonObject& o) {
    filter_->setText(o.value("filter").toString());
    proxy_->setText(filter_->text());  // at once, not after the typing pause
    maskedOnly_->setChecked(o.value("masked_only").toBool());
    regen_->setChecked(o.value("regenerate").toBool());
    view_->sortByColumn(o.value("sort_column").toInt(NeuronTableModel::ColRank),
                        Qt::SortOrder(o.value("sort_order").toInt(0)));
}

}  // namespace achilles::ui

namespace achilles::ui {
bool NeuronsPanel::eventFilter(QObject* o, QEvent* e) {
    if (emptyHint_ && o == view_->viewport() && e->type() == QEvent::Resize) emptyHint_->setGeometry(view_->viewport()->rect());
    return QWidget::eventFilter(o, e);
}
}  // namespace achilles::ui
