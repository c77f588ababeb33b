// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/heatmap_panel.h"
#include "workbench/workbench.h"
#include "models/neuron_model.h"
#include "plots/plot_style.h"
#include "plots/layer_module_map.h"
#include "export/export.h"
#include "widgets/stale_banner.h"
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <set>

namespace achilles::ui {

namespace {
// The marks' legend in a row of its own under the axis rect, so that it never covers a cell.
void legendBelow(QCustomPlot* plot) {
    plot->axisRect()->insetLayout()->take(plot->legend);
    plot->axisRect()->insetLayout()->simplify();
    const int row = plot->plotLayout()->rowCount();
    plot->plotLayout()->addElement(row, 0, plot->legend);
    plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setMargins(QMargins(4, 0, 4, 2));
    plot->plotLayout()->setRowStretchFactor(row, 0.001);
}
}  // namespace

namespace {
void setupMap(QCustomPlot* plot, QCPColorMap*& map, QCPColorScale*& scale, const QString& label) {
    scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(1, 1, scale);
    scale->setType(QCPAxis::atRight);
    scale->axis()->setLabel(label);
    map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->setColorScale(scale);
    map->setGradient(heatGradient());
    map->setInterpolate(false);
    map->setTightBoundary(false);
    auto* group = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
}
}  // namespace

HeatmapPanel::HeatmapPanel(Workbench* wb, NeuronTableModel* neurons, QWidget* parent)
    : QWidget(parent), wb_(wb), proxy_(new NeuronFilterProxy(this)) {
    auto* top = new QHBoxLayout;
    metricBox_ = new QComboBox(this);
    metricBox_->addItem(tr("Critical neurons (count)"));
    metricBox_->addItem(tr("Top-ranked entries (count)"));
    metricBox_->addItem(tr("Max importance"));
    metricBox_->setToolTip(tr("Colour of each layer × module cell:\n"
                              "• Critical neurons: how many channels of the critical set sit there\n"
                              "• Top-ranked: how many of the first N stage-1 ranking entries sit there\n"
                              "• Max importance: the largest stage-1 importance there"));
    topN_ = new QSpinBox(this);
    topN_->setRange(1, 1000000);
    topN_->setValue(100);
    topN_->setPrefix(tr("top "));
    topN_->setToolTip(tr("N for the top-ranked count"));
    log_ = new QCheckBox(tr("Log scale"), this);
    log_->setChecked(true);
    auto* exportBtn = new QPushButton(tr("Export…"), this);
    auto* exportDrill = new QPushButton(tr("Export drill-down…"), this);
    top->addWidget(new QLabel(tr("Colour:"), this));
    top->addWidget(metricBox_);
    top->addWidget(topN_);
    top->addWidget(log_);
    top->addStretch();
    top->addWidget(exportBtn);
    top->addWidget(exportDrill);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("heatmap"));
    stylePlot(plot_, tr("Where the critical neurons sit (layer × module)"));
    setupMap(plot_, map_, scale_, tr("count"));
    plot_->xAxis->setLabel(tr("module"));
    plot_->yAxis->setLabel(tr("layer"));
    plot_->xAxis->setTicker(moduleTicker());
    plot_->xAxis->setTickLabelRotation(35);
    plot_->xAxis->setSubTicks(false);
    marker_ = new QCPItemRect(plot_);
    marker_->setPen(QPen(QColor(0, 120, 255), 3.0));
    marker_->setBrush(Qt::NoBrush);
    marker_->setVisible(false);
    marker_->setProperty(kUiOnlyProperty, true);  // the selection is not part of an exported figure
    // Cells holding neurons of the critical set: a ring at the cell's centre (a legend says so).
    critMarks_ = plot_->addGraph();
    critMarks_->setObjectName(QStringLiteral("criticalCells"));
    critMarks_->setLineStyle(QCPGraph::lsNone);
    critMarks_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0, 0, 0), 1.8), QBrush(Qt::white), 9));
    critMarks_->setName(tr("holds critical-set neurons"));
    map_->removeFromLegend();  // the legend explains the marks only
    plot_->legend->setVisible(false);
    plot_->legend->setBrush(QColor(255, 255, 255, 225));
    plot_->legend->setFont(QFont(plot_->font().family(), 8));
    legendBelow(plot_);
    plot_->setMinimumSize(320, 260);

    drill_ = new QCustomPlot(this);
    drill_->setObjectName(QStringLiteral("drilldown"));
    stylePlot(drill_, tr("Drill-down: click a cell"));
    setupMap(drill_, drillMap_, drillScale_, tr("max importance"));
    drill_->xAxis->setLabel(tr("channel"));
    drill_->yAxis->setLabel(tr("layer"));
    drill_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    // Zoom and pan the channels only: the layers stay whole rows with integer ticks.
    drill_->axisRect()->setRangeZoom(Qt::Horizontal);
    drill_->axisRect()->setRangeDrag(Qt::Horizontal);
    {
        auto layerTicks = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
        layerTicks->setTickStep(1.0);
        layerTicks->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        drill_->yAxis->setTicker(layerTicks);
        drill_->yAxis->setSubTicks(false);
    }
    drill_->setMinimumSize(300, 200);
    drillCrit_ = drill_->addGraph();
    drillCrit_->setObjectName(QStringLiteral("drillCritical"));
    drillCrit_->setLineStyle(QCPGraph::lsNone);
    drillCrit_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, QPen(QColor(0, 0, 0), 1.6), Qt::NoBrush, 10));
    drillCrit_->setName(tr("in the critical set"));
    drillMin_ = drill_->addGraph();
    drillMin_->setObjectName(QStringLiteral("drillMinimal"));
    drillMin_->setLineStyle(QCPGraph::lsNone);
    drillMin_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QPen(QColor(0, 90, 220), 2.0), Qt::NoBrush, 8));
    drillMin_->setName(tr("in the minimal set"));
    drillMap_->removeFromLegend();
    drill_->legend->setVisible(false);
    drill_->legend->setBrush(QColor(255, 255, 255, 225));
    drill_->legend->setFont(QFont(drill_->font().family(), 8));
    legendBelow(drill_);
    drill_->setToolTip(tr("Drag to pan and wheel to zoom the channels; double-click to reset"));

    drillLabel_ = new QLabel(tr("Click a heatmap cell to list its neurons."), this);
    drillLabel_->setWordWrap(true);
    proxy_->setSourceModel(neurons);
    proxy_->setCell(-1, -1);  // nothing until a cell is chosen
    table_ = new QTableView(this);
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(NeuronTableModel::ColRank, Qt::AscendingOrder);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    // layer and module are those of the chosen cell
    table_->setColumnHidden(NeuronTableModel::ColLayer, true);
    table_->setColumnHidden(NeuronTableModel::ColModule, true);
    table_->setColumnWidth(NeuronTableModel::ColMask, 44);
    // Narrow numeric columns so that importance and set fit beside the drill-down without scrolling.
    const int digits = fontMetrics().horizontalAdvance(QStringLiteral("0000000")) + 12;
    table_->setColumnWidth(NeuronTableModel::ColRank, digits);
    table_->setColumnWidth(NeuronTableModel::ColChannel, digits);
    table_->setColumnWidth(NeuronTableModel::ColPosition, digits);
    table_->setColumnWidth(NeuronTableModel::ColImportance, digits + 8);

    auto* right = new QWidget(this);
    auto* rl = new QVBoxLayout(right);
    rl->setContentsMargins(0, 0, 0, 0);
    rl->addWidget(drill_, 3);
    rl->addWidget(drillLabel_);
    rl->addWidget(table_, 2);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(plot_);
    split->addWidget(right);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    stale_ = new StaleBanner(this);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(top);
    lay->addWidget(stale_);
    lay->addWidget(split, 1);
    connect(wb_, &Workbench::provenanceChanged, this, [this] { stale_->setReason(wb_->resultStaleReason()); });

    connect(metricBox_, &QComboBox::currentIndexChanged, this, [this] { rebuild(); });
    connect(topN_, &QSpinBox::valueChanged, this, [this] { rebuild(); });
    connect(log_, &QCheckBox::toggled, this, [this] { rebuild(); rebuildDrill(); });
    connect(exportBtn, &QPushButton::clicked, this, [this] { emit exportRequested(plot_, QStringLiteral("heatmap")); });
    connect(exportDrill, &QPushButton::clicked, this, [this] { emit exportRequested(drill_, QStringLiteral("drilldown")); });
    connect(wb_, &Workbench::modelLoaded, this, [this] {
        if (!wb_->result()) rebuild();
    });
    connect(wb_, &Workbench::resultChanged, this, [this] {
        selected_.reset();
        rebuild();
        // Drill into the hottest cell so that the drill-down is never empty after a search.
        int best = -1;
        for (int i = 0; i < int(values_.size()); ++i)
            if (values_[size_t(i)] > 0 && (best < 0 || values_[size_t(i)] > values_[size_t(best)])) best = i;
        if (best >= 0) selectCell(best / kNumModules, best % kNumModules);
        else rebuildDrill();
    });
    connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (layers_ <= 0) return;
        const double x = plot_->xAxis->pixelToCoord(e->position().x());
        const double y = plot_->yAxis->pixelToCoord(e->position().y());
        const int m = int(std::lround(x)), l = int(std::lround(y));
        if (m >= 0 && m < kNumModules && l >= 0 && l < layers_) selectCell(l, m);
    });
    plot_->setMouseTracking(true);
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        if (layers_ <= 0) return;
        const int m = int(std::lround(plot_->xAxis->pixelToCoord(e->position().x())));
        const int l = int(std::lround(plot_->yAxis->pixelToCoord(e->position().y())));
        if (m < 0 || m >= kNumModules || l < 0 || l >= layers_) {
            QToolTip::hideText();
            return;
        }
        QToolTip::showText(e->globalPosition().toPoint(),
                           tr("layer %1, %2\n%3: %4\n(click to drill down)")
                               .arg(l)
                               .arg(qs(module_name(kAllModules[size_t(m)])))
                               .arg(metricBox_->currentText())
                               .arg(cellValue(l, m), 0, 'g', 5),
                           plot_);
    });
    drill_->setMouseTracking(true);  // hover without a pressed button
    connect(drill_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        const QString t = drillHoverText(e->position().x(), e->position().y());
        if (t.isEmpty()) QToolTip::hideText();
        else QToolTip::showText(e->globalPosition().toPoint(), t, drill_);
    });
    connect(drill_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetDrillZoom(); });
    rebuild();
    rebuildDrill();
}

void HeatmapPanel::setMetric(Metric m) { metricBox_->setCurrentIndex(int(m)); }
HeatmapPanel::Metric HeatmapPanel::metric() const { return Metric(metricBox_->currentIndex()); }
void HeatmapPanel::setLogScale(bool on) { log_->setChecked(on); }

double HeatmapPanel::cellValue(int layer, int module) const {
    if (layer < 0 || layer >= layers_ || module < 0 || module >= kNumModules) return 0;
    return values_[size_t(layer * kNumModules + module)];
}

int HeatmapPanel::populatedCells() const {
    int n = 0;
    for (double v : values_) n += v > 0;
    return n;
}

void HeatmapPanel::rebuild() {
    const auto& r = wb_->result();
    topN_->setEnabled(metric() == TopRankedCount);
    layers_ = r ? resultLayers(*r) : 0;
    values_.assign(size_t(std::max(layers_, 0) * kNumModules), 0.0);
    if (r) {
        auto cell = [&](const Neuron& n) -> double* {
            if (n.layer < 0 || n.layer >= layers_) return nullptr;
            return &values_[size_t(n.layer * kNumModules + int(n.module))];
        };
        switch (metric()) {
        case CriticalCount:
            for (const Neuron& n : r->faithful.neurons)
                if (double* v = cell(n)) *v += 1;
            break;
        case TopRankedCount: {
            const int n = std::min<int>(topN_->value(), int(r->ranking.size()));
            for (int i = 0; i < n; ++i)
                if (double* v = cell(r->ranking[size_t(i)].neuron)) *v += 1;
            break;
        }
        case MaxImportance:
            values_ = maxImportanceCells(*r, layers_);
            break;
        }
    }
    // Before any result the axes already show the loaded model's layers.
    const int L = std::max(layers_ > 0 ? layers_ : (wb_->info() ? wb_->info()->layers : 0), 1);
    map_->data()->setSize(kNumModules, L);
    map_->data()->setRange(QCPRange(0, kNumModules - 1), QCPRange(0, L - 1));
    for (int l = 0; l < L; ++l)
        for (int m = 0; m < kNumModules; ++m) {
            const double v = l < layers_ ? values_[size_t(l * kNumModules + m)] : 0;
            map_->data()->setCell(m, l, v > 0 ? v : std::nan(""));
        }
    applyHeatScale(scale_, values_, log_->isChecked());
    scale_->axis()->setLabel(metric() == MaxImportance ? tr("max importance") : tr("count"));
    plot_->xAxis->setRange(-0.5, kNumModules - 0.5);
    plot_->yAxis->setRange(-0.5, L - 0.5);
    auto yt = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    yt->setTickStep(std::max(1.0, std::ceil(L / 16.0)));
    yt->setScaleStrategy(QCPAxisTickerFixed::ssNone);
    plot_->yAxis->setTicker(yt);
    scale_->setVisible(populatedCells() > 0);  // no colour bar over an empty map
    if (auto* t = qobject_cast<QCPTextElement*>(plot_->plotLayout()->element(0, 0)))
        t->setText(r && !r->faithful.reached && metric() == CriticalCount
                       ? tr("Where the stage-2 set sits (ε not reached)")
                       : tr("Where the critical neurons sit (layer × module)"));
    if (!r && !wb_->hasModel()) setPlotHint(plot_, tr("Load a model (Model panel),\nthen run a search."));
    else if (!r) setPlotHint(plot_, tr("Run a search (Search panel)\nto see where the critical neurons sit."));
    else if (populatedCells() == 0) setPlotHint(plot_, tr("No neurons for this colouring."));
    else setPlotHint(plot_, {});
    if (selected_) {
        marker_->topLeft->setCoords(selected_->second - 0.5, selected_->first + 0.5);
        marker_->bottomRight->setCoords(selected_->second + 0.5, selected_->first - 0.5);
    }
    marker_->setVisible(bool(selected_));
    {
        QVector<double> x, y;
        for (const auto& [l, m] : criticalCells()) {
            x << m;
            y << l;
        }
        critMarks_->setData(x, y);
        critMarks_->setName(r && !r->faithful.reached ? tr("holds stage-2-set neurons (ε not reached)")
                                                      : tr("holds critical-set neurons"));
        plot_->legend->setVisible(!x.isEmpty());
    }
    plot_->replot();
}

std::vector<std::pair<int, int>> HeatmapPanel::criticalCells() const {
    std::set<std::pair<int, int>> cells;
    if (const auto& r = wb_->result())
        for (const Neuron& n : r->faithful.neurons)
            if (n.layer >= 0 && n.layer < layers_) cells.insert({n.layer, int(n.module)});
    return {cells.begin(), cells.end()};
}

namespace {
std::vector<std::pair<int, int>> marks_in(const std::vector<Neuron>& set, Module mod, int layers, int width) {
    std::set<std::pair<int, int>> out;
    for (const Neuron& n : set)
        if (n.module == mod && n.layer >= 0 && n.layer < layers && n.channel >= 0 && n.channel < width) out.insert({n.layer, n.channel});
    return {out.begin(), out.end()};
}
}  // namespace

std::vector<std::pair<int, int>> HeatmapPanel::drillCriticalMarks() const {
    const auto& r = wb_->result();
    if (!r || !selected_) return {};
    return marks_in(r->faithful.neurons, kAllModules[size_t(selected_->second)], layers_, drillWidth_);
}

std::vector<std::pair<int, int>> HeatmapPanel::drillMinimalMarks() const {
    const auto& r = wb_->result();
    if (!r || !selected_ || !r->minimal) return {};
    return marks_in(r->minimal->neurons, kAllModules[size_t(selected_->second)], layers_, drillWidth_);
}

void HeatmapPanel::selectCell(int layer, int module) {
    if (layer < 0 || module < 0 || module >= kNumModules) return;
    selected_ = std::make_pair(layer, module);
    rebuild();
    rebuildDrill();
}

int HeatmapPanel::drillRows() const { return proxy_->rowCount(); }

double HeatmapPanel::drillValue(int layer, int channel) const {
    if (layer < 0 || layer >= layers_ || channel < 0 || channel >= drillWidth_) return 0;
    return drillValues_[size_t(layer) * size_t(drillWidth_) + size_t(channel)];
}

void HeatmapPanel::rebuildDrill() {
    const auto& r = wb_->result();
    drillValues_.clear();
    drillWidth_ = 0;
    if (!r || !selected_) {
        proxy_->setCell(-1, -1);
        drillLabel_->setText(tr("Click a heatmap cell to list its neurons."));
        drillMap_->data()->setSize(1, 1);
        drillMap_->data()->setCell(0, 0, std::nan(""));
        drillScale_->setVisible(false);
        drill_->xAxis->setRange(-0.5, 4.5);
        drill_->yAxis->setRange(-0.5, 4.5);
        setPlotHint(drill_, r ? tr("Click a cell of the heatmap\nto see its channels.") : tr("Channels of the chosen\nheatmap cell appear here."));
        if (auto* t = qobject_cast<QCPTextElement*>(drill_->plotLayout()->element(0, 0)))
            t->setText(tr("Drill-down: layer × channel"));
        drillCrit_->data()->clear();
        drillMin_->data()->clear();
        drill_->legend->setVisible(false);
        drill_->replot();
        return;
    }
    const auto [layer, module] = *selected_;
    const Module mod = kAllModules[size_t(module)];
    int width = 0;
    if (const ModelInfo* info = wb_->info(); info && info->shape.layers == layers_) width = info->shape.module_width(mod);
    for (const auto& e : r->ranking)
        if (e.neuron.module == mod) width = std::max(width, e.neuron.channel + 1);
    width = std::max(width, 1);
    drillWidth_ = width;
    const int L = std::max(layers_, 1);
    drillValues_.assign(size_t(L) * size_t(width), 0.0);
    for (const auto& e : r->ranking)
        if (e.neuron.module == mod && e.neuron.layer >= 0 && e.neuron.layer < L && e.neuron.channel >= 0) {
            double& v = drillValues_[size_t(e.neuron.layer) * size_t(width) + size_t(e.neuron.channel)];
            v = std::max(v, e.importance);
        }
    drillMap_->data()->setSize(width, L);
    drillMap_->data()->setRange(QCPRange(0, width - 1), QCPRange(0, L - 1));
    for (int l = 0; l < L; ++l)
        for (int c = 0; c < width; ++c) {
            const double v = drillValues_[size_t(l) * size_t(width) + size_t(c)];
            drillMap_->data()->setCell(c, l, v > 0 ? v : std::nan(""));
        }
    applyHeatScale(drillScale_, drillValues_, log_->isChecked());
    drillScale_->setVisible(true);
    drill_->xAxis->setRange(-0.5, width - 0.5);
    drill_->yAxis->setRange(-0.5, L - 0.5);
    if (auto* t = qobject_cast<QCPTextElement*>(drill_->plotLayout()->element(0, 0)))
        t->setText(tr("%1: layer × channel").arg(qs(module_name(mod))));
    setPlotHint(drill_, {});
    {
        QVector<double> cx, cy, mx, my;
        for (const auto& [l, c] : drillCriticalMarks()) {
            cx << c;
            cy << l;
        }
        for (const auto& [l, c] : drillMinimalMarks()) {
            mx << c;
            my << l;
        }
        drillCrit_->setData(cx, cy);
        drillCrit_->setName(r->faithful.reached ? tr("in the critical set") : tr("in the stage-2 set (ε not reached)"));
        drillMin_->setData(mx, my);
        drillCrit_->removeFromLegend();
        drillMin_->removeFromLegend();
        if (!cx.isEmpty()) drillCrit_->addToLegend();
        if (!mx.isEmpty()) drillMin_->addToLegend();
        drill_->legend->setVisible(!cx.isEmpty() || !mx.isEmpty());
    }
    drill_->replot();
    proxy_->setCell(layer, module);
    drillLabel_->setText((r->faithful.reached ? tr("<b>L%1.%2</b>: %3 ranked entries, %4 in the critical set")
                                              : tr("<b>L%1.%2</b>: %3 ranked entries, %4 in the stage-2 set (ε not reached)"))
                             .arg(layer)
                             .arg(qs(module_name(mod)))
                             .arg(proxy_->rowCount())
                             .arg(std::count_if(r->faithful.neurons.begin(), r->faithful.neurons.end(),
                                                [&](const Neuron& n) { return n.layer == layer && n.module == mod; })));
}

QJsonObject HeatmapPanel::viewState() const {
    QJsonObject o{{"metric", int(metric())}, {"top", topN_->value()}, {"log", log_->isChecked()}};
    if (selected_) o["cell"] = QJsonObject{{"layer", selected_->first}, {"module", selected_->second}};
    return o;
}

void HeatmapPanel::restoreViewState(const QJsonObject& o) {
    metricBox_->setCurrentIndex(std::clamp(o.value("metric").toInt(0), 0, 2));
    topN_->setValue(o.value("top").toInt(100));
    log_->setChecked(o.value("log").toBool(true));
    if (o.value("cell").isObject()) {
        const QJsonObject c = o.value("cell").toObject();
        selectCell(c.value("layer").toInt(), c.value("module").toInt());
    } else {
        selected_.reset();
        rebuild();
        rebuildDrill();
    }
}

QString HeatmapPanel::drillHoverText(double px, double py) const {
    if (!selected_ || drillWidth_ <= 0) return {};
    const int c = int(std::lround(drill_->xAxis->pixelToCoord(px)));
    const int l = int(std::lround(drill_->yAxis->pixelToCoord(py)));
    if (c < 0 || c >= drillWidth_ || l < 0 || l >= layers_) return {};
    const double v = drillValue(l, c);
    const Neuron n{l, kAllModules[size_t(selected_->second)], c};
    const auto& r = wb_->result();
    const bool crit = r && std::find(r->faithful.neurons.begin(), r->faithful.neurons.end(), n) != r->faithful.neurons.end();
    const bool minimal = r && r->minimal && std::find(r->minimal->neurons.begin(), r->minimal->neurons.end(), n) != r->minimal->neurons.end();
    QString set = crit ? tr("in the critical set") : tr("not in the critical set");
    if (r && r->minimal) set += minimal ? tr(", in the minimal set") : tr(", not in the minimal set");
    return tr("L%1.%2:%3\nmax importance %4\n%5")
        .arg(l)
        .arg(qs(module_name(kAllModules[size_t(selected_->second)])))
        .arg(c)
        .arg(v > 0 ? QString::number(v, 'g', 6) : tr("— (not ranked)"))
        .arg(set);
}

void HeatmapPanel::resetDrillZoom() {
    drill_->xAxis->setRange(-0.5, std::max(drillWidth_, 5) - 0.5);
    drill_->yAxis->setRange(-0.5, std::max(layers_, drillWidth_ > 0 ? 1 : 5) - 0.5);
    drill_->replot();
}

QString HeatmapPanel::staleText() const {
    return stale_->isVisibleTo(const_cast<HeatmapPanel*>(this)) ? stale_->text() : QString();
}

}  // namespace achilles::ui
