// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/compare_panel.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "jobs/job_runner.h"
#include "plots/plot_style.h"
#include "plots/layer_module_map.h"
#include "workbench/workbench.h"
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
QString elide(const QString& s, int n = 60) { return s.size() <= n ? s : QStringLiteral("…") + s.right(n - 1); }
}  // namespace

struct ComparePanel::Loaded {
    RunComparison cmp;
    std::vector<double> heat[2];
    int layers[2] = {0, 0};
};

struct ComparePanel::Jobs {
    explicit Jobs(JobRunner* r) : cmp(r, Lane::io) {}
    JobTracker<ComparePanel::Loaded> cmp;
};

ComparePanel::~ComparePanel() = default;

ComparePanel::ComparePanel(Workbench* wb, QWidget* parent)
    : QWidget(parent), wb_(wb), jobs_(std::make_unique<Jobs>(wb->jobs())) {
    a_ = new QLineEdit(this);
    b_ = new QLineEdit(this);
    a_->setPlaceholderText(tr("result JSON or session (.achilles)"));
    b_->setPlaceholderText(tr("result JSON or session (.achilles)"));
    auto* browseA = new QPushButton(tr("Browse…"), this);
    auto* browseB = new QPushButton(tr("Browse…"), this);
    set_ = new QComboBox(this);
    set_->addItem(tr("faithful set"), QStringLiteral("faithful"));
    set_->addItem(tr("minimal set"), QStringLiteral("minimal"));
    run_ = new QPushButton(tr("Compare"), this);
    save_ = new QPushButton(tr("Save JSON…"), this);
    save_->setEnabled(false);
    auto* expJ = new QPushButton(tr("Export Jaccard plot…"), this);
    auto* expC = new QPushButton(tr("Export curves…"), this);
    auto* expH = new QPushButton(tr("Export heatmaps…"), this);
    summary_ = new QLabel(tr("Pick two results or sessions (two models, or two settings) and compare their critical sets."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* grid = new QGridLayout;
    grid->addWidget(new QLabel(tr("A:"), this), 0, 0);
    grid->addWidget(a_, 0, 1);
    grid->addWidget(browseA, 0, 2);
    grid->addWidget(new QLabel(tr("B:"), this), 1, 0);
    grid->addWidget(b_, 1, 1);
    grid->addWidget(browseB, 1, 2);
    auto* row = new QHBoxLayout;
    row->addWidget(set_);
    row->addWidget(run_);
    row->addStretch();
    row->addWidget(save_);
    row->addWidget(expJ);
    row->addWidget(expC);
    row->addWidget(expH);

    auto* listsBox = new QWidget(this);
    auto* lg = new QGridLayout(listsBox);
    lg->setContentsMargins(0, 0, 0, 0);
    const QString names[3] = {tr("shared"), tr("only A"), tr("only B")};
    for (int i = 0; i < 3; ++i) {
        listTitles_[i] = new QLabel(names[i], listsBox);
        lists_[i] = new QListWidget(listsBox);
        lists_[i]->setObjectName(QStringLiteral("compareList%1").arg(i));
        lists_[i]->setMinimumHeight(60);
        lg->addWidget(listTitles_[i], 0, i);
        lg->addWidget(lists_[i], 1, i);
    }

    jacPlot_ = new QCustomPlot(this);
    jacPlot_->setObjectName(QStringLiteral("compareJaccard"));
    stylePlot(jacPlot_, tr("Overlap of the critical sets per module"));
    jacPlot_->yAxis->setLabel(tr("Jaccard |A∩B| / |A∪B|"));
    jacPlot_->xAxis->setLabel(tr("module (— : neither set has a channel there)"));
    jacPlot_->xAxis->grid()->setVisible(false);
    jacPlot_->setMinimumSize(260, 200);
    curvePlot_ = new QCustomPlot(this);
    curvePlot_->setObjectName(QStringLiteral("compareCurves"));
    stylePlot(curvePlot_, tr("Stage-2 curves of A and B"));
    curvePlot_->xAxis->setLabel(tr("unique channels masked (at every position)"));
    curvePlot_->yAxis->setLabel(tr("Δ log10 PPL (vs. original)"));
    curvePlot_->setMinimumSize(260, 200);
    {
        auto t = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);  // whole channels
        t->setTickStep(1);
        t->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        curvePlot_->xAxis->setTicker(t);
        curvePlot_->xAxis->setSubTicks(false);
    }
    curvePlot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);

    // Paired heatmaps: two axis rects and one colour scale in one plot, so that both maps are
    // coloured by the same range by construction.
    pairPlot_ = new QCustomPlot(this);
    pairPlot_->setObjectName(QStringLiteral("comparePairedHeatmaps"));
    stylePlot(pairPlot_, tr("Max stage-1 importance per layer × module: A | B (one colour scale)"));
    {
        QCPLayoutGrid* root = pairPlot_->plotLayout();
        QCPAxisRect* ra = pairPlot_->axisRect();
        root->take(ra);
        root->simplify();
        auto* row = new QCPLayoutGrid;
        root->addElement(1, 0, row);
        auto* rb = new QCPAxisRect(pairPlot_);
        row->addElement(0, 0, ra);
        row->addElement(0, 1, rb);
        pairScale_ = new QCPColorScale(pairPlot_);
        row->addElement(0, 2, pairScale_);
        row->setColumnStretchFactor(2, 0.01);
        pairScale_->setType(QCPAxis::atRight);
        pairScale_->axis()->setLabel(tr("max stage-1 importance (log scale),\nmean |clean − noisy|"));
        pairScale_->setGradient(heatGradient());
        auto* group = new QCPMarginGroup(pairPlot_);
        QCPAxisRect* rects[2] = {ra, rb};
        for (int k = 0; k < 2; ++k) {
            QCPAxisRect* r = rects[k];
            r->setMarginGroup(QCP::msBottom | QCP::msTop, group);
            QCPAxis *x = r->axis(QCPAxis::atBottom), *y = r->axis(QCPAxis::atLeft);
            x->setTickLabelFont(pairPlot_->xAxis->tickLabelFont());
            y->setTickLabelFont(pairPlot_->xAxis->tickLabelFont());
            x->setLabelFont(pairPlot_->xAxis->labelFont());
            y->setLabelFont(pairPlot_->xAxis->labelFont());
            x->grid()->setVisible(false);
            y->grid()->setVisible(false);
            x->setTicker(moduleTicker());
            x->setTickLabelRotation(35);
            x->setSubTicks(false);
            x->setLabel(k ? tr("module — B") : tr("module — A"));
            y->setLabel(tr("layer"));
            pairMaps_[k] = new QCPColorMap(x, y);
            pairMaps_[k]->setInterpolate(false);
            pairMaps_[k]->setTightBoundary(false);
            pairMaps_[k]->setColorScale(pairScale_);
            pairMaps_[k]->setGradient(heatGradient());
        }
        pairScale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    }
    pairPlot_->setMinimumSize(420, 240);
    pairNote_ = new QLabel(this);
    pairNote_->setWordWrap(true);
    pairNote_->setVisible(false);
    auto* pairBox = new QWidget(this);
    auto* pl = new QVBoxLayout(pairBox);
    pl->setContentsMargins(0, 0, 0, 0);
    pl->addWidget(pairNote_);
    pl->addWidget(pairPlot_, 1);

    auto* plots = new QSplitter(Qt::Horizontal, this);
    plots->addWidget(jacPlot_);
    plots->addWidget(curvePlot_);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(plots);
    split->addWidget(pairBox);
    split->addWidget(listsBox);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 1);

    auto* page = new QWidget(this);
    auto* lay = new QVBoxLayout(page);
    lay->addLayout(grid);
    lay->addLayout(row);
    lay->addWidget(summary_);
    lay->addWidget(split, 1);
    page->setMinimumSize(560, 420);
    auto* sa = new QScrollArea(this);
    sa->setWidgetResizable(true);
    sa->setFrameShape(QFrame::NoFrame);
    sa->setWidget(page);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(sa);

    auto browse = [this](QLineEdit* e) {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open result or session"), QFileInfo(e->text()).path(),
                                                       tr("Achilles sessions and results (*.achilles *.json);;All files (*)"));
        if (!f.isEmpty()) e->setText(f);
    };
    connect(browseA, &QPushButton::clicked, this, [this, browse] { browse(a_); });
    connect(browseB, &QPushButton::clicked, this, [this, browse] { browse(b_); });
    connect(run_, &QPushButton::clicked, this, &ComparePanel::compare);
    connect(expJ, &QPushButton::clicked, this, [this] { emit exportRequested(jacPlot_, QStringLiteral("compare-jaccard")); });
    connect(expC, &QPushButton::clicked, this, [this] { emit exportRequested(curvePlot_, QStringLiteral("compare-curves")); });
    connect(expH, &QPushButton::clicked, this, [this] { emit exportRequested(pairPlot_, QStringLiteral("compare-heatmaps")); });
    connect(save_, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getSaveFileName(this, tr("Save comparison"), QStringLiteral("comparison.json"), tr("JSON (*.json)"));
        if (f.isEmpty()) return;
        try {
            saveJson(f);
        } catch (const std::exception& e) {
            emit errorOccurred(tr("Save failed"), QString::fromUtf8(e.what()));
        }
    });
    jobs_->cmp.onFinished([this](Loaded l) {
        run_->setEnabled(true);
        for (int k = 0; k < 2; ++k) {
            heat_[k] = std::move(l.heat[k]);
            heatLayers_[k] = l.layers[k];
        }
        cmp_ = std::move(l.cmp);
        refresh();
        emit compared();
    });
    jobs_->cmp.onFailed([this](const QString& m) {
        run_->setEnabled(true);
        summary_->setText(tr("Failed: %1").arg(m));
        emit errorOccurred(tr("Compare failed"), m);
        emit failed(m);
    });
    jobs_->cmp.onCancelled([this] { run_->setEnabled(true); });
    refresh();
}

void ComparePanel::setPaths(const QString& a, const QString& b) {
    a_->setText(a);
    b_->setText(b);
}
void ComparePanel::setSet(const QString& s) { set_->setCurrentIndex(std::max(0, set_->findData(s))); }
QString ComparePanel::summaryText() const { return summary_->text(); }

void ComparePanel::compare() {
    const std::string a = a_->text().trimmed().toStdString(), b = b_->text().trimmed().toStdString();
    if (a.empty() || b.empty()) {
        const QString m = tr("Choose two results or sessions, A and B.");
        emit errorOccurred(tr("Compare"), m);
        emit failed(m);
        return;
    }
    const std::string set = set_->currentData().toString().toStdString();
    run_->setEnabled(false);
    summary_->setText(tr("Reading both runs…"));
    jobs_->cmp.run([a, b, set](Progress&) {
        const SearchResult ra = read_result_file(a), rb = read_result_file(b);
        Loaded l;
        l.cmp = compare_results(ra, a, rb, b, set);
        const SearchResult* rs[2] = {&ra, &rb};
        for (int k = 0; k < 2; ++k) {
            l.layers[k] = resultLayers(*rs[k]);
            l.heat[k] = maxImportanceCells(*rs[k], l.layers[k]);
        }
        return l;
    });
}

void ComparePanel::setComparison(RunComparison c) {
    cmp_ = std::move(c);
    for (int k = 0; k < 2; ++k) {  // a comparison alone carries no rankings: no maps
        heat_[k].clear();
        heatLayers_[k] = 0;
    }
    refresh();
}

QString ComparePanel::pairNote() const { return pairNote_->isVisibleTo(this) ? pairNote_->text() : QString(); }

double ComparePanel::pairCell(int which, int layer, int module) const {
    if (which < 0 || which > 1 || layer < 0 || layer >= heatLayers_[which] || module < 0 || module >= kNumModules) return 0;
    return heat_[which][size_t(layer * kNumModules + module)];
}

void ComparePanel::refreshPair() {
    const bool have = cmp_ && heatLayers_[0] > 0 && heatLayers_[1] > 0;
    QString note;
    if (cmp_ && heatLayers_[0] != heatLayers_[1])
        note = tr("A has %1 layers and B has %2: the models differ in shape, so their heatmaps are not drawn side by side "
                  "(a layer of one is not a layer of the other).").arg(heatLayers_[0]).arg(heatLayers_[1]);
    bool anyValue = false;
    for (int k = 0; k < 2; ++k)
        for (double v : heat_[k]) anyValue = anyValue || v > 0;
    if (note.isEmpty() && have && !anyValue) note = tr("Neither result has a stage-1 ranking, so there is no importance to map.");
    pairNote_->setText(note);
    pairNote_->setVisible(!note.isEmpty());
    const bool draw = have && note.isEmpty();
    const int L = draw ? heatLayers_[0] : 1;
    std::vector<double> both;
    for (int k = 0; k < 2; ++k) {
        fillLayerModuleMap(pairMaps_[k], draw ? heat_[k] : std::vector<double>{}, draw ? L : 0);
        QCPAxis* y = pairMaps_[k]->valueAxis();
        auto yt = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
        yt->setTickStep(std::max(1.0, std::ceil(L / 16.0)));
        yt->setScaleStrategy(QCPAxisTickerFixed::ssNone);
        y->setTicker(yt);
        if (draw) both.insert(both.end(), heat_[k].begin(), heat_[k].end());
    }
    if (cmp_) {
        const QString A = qs(cmp_->source_a), B = qs(cmp_->source_b);
        pairMaps_[0]->keyAxis()->setLabel(tr("module — A: %1").arg(QFileInfo(A).fileName()));
        pairMaps_[1]->keyAxis()->setLabel(tr("module — B: %1").arg(QFileInfo(B).fileName()));
    }
    applyHeatScale(pairScale_, both, true);
    pairScale_->setVisible(draw);
    setPlotHint(pairPlot_, draw ? QString() : !note.isEmpty() ? tr("No paired heatmaps (see the note above).")
                                                               : tr("Compare two runs: their importance heatmaps appear here."));
    pairPlot_->replot();
}

double ComparePanel::shownJaccard(const QString& module) const {
    auto it = shownJac_.find(module);
    return it == shownJac_.end() ? kNaN : it->second;
}

void ComparePanel::saveJson(const QString& path) const {
    if (!cmp_) throw Error("There is no comparison yet: compare two runs first.");
    write_file_atomic(path.toStdString(), comparison_to_json(*cmp_));
}

void ComparePanel::refresh() {
    jacPlot_->clearPlottables();
    jacPlot_->clearItems();
    curvePlot_->clearGraphs();
    shownJac_.clear();
    for (QListWidget* l : lists_) l->clear();
    save_->setEnabled(bool(cmp_));
    setLegendBelow(curvePlot_, bool(cmp_));  // A and B with their paths, under the axes
    if (cmp_) curvePlot_->legend->setFillOrder(QCPLayoutGrid::foRowsFirst);  // one path per line
    refreshPair();
    if (!cmp_) {
        setPlotHint(jacPlot_, tr("Compare two runs: Jaccard per module appears here."));
        setPlotHint(curvePlot_, tr("…and both stage-2 curves here."));
        jacPlot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        jacPlot_->yAxis->setRange(0, 1.15);
        jacPlot_->replot();
        curvePlot_->replot();
        return;
    }
    const RunComparison& c = *cmp_;
    const QString A = qs(c.source_a), B = qs(c.source_b);
    auto jac = [](const SetOverlap& o) { return o.jaccard ? QString::number(*o.jaccard, 'f', 3) : QStringLiteral("—"); };
    QString s = tr("A: %1 (%2 channels)\nB: %3 (%4 channels)\n%5 set · %6 · shared %7, only A %8, only B %9, Jaccard %10")
                    .arg(elide(A, 90)).arg(c.all.a).arg(elide(B, 90)).arg(c.all.b).arg(qs(c.set_name))
                    .arg(c.same_model ? tr("same model") : tr("different models (fingerprints differ)"))
                    .arg(c.all.shared).arg(c.only_a.size()).arg(c.only_b.size()).arg(jac(c.all));
    if (!c.option_differences.empty()) {
        QStringList d;
        for (const auto& x : c.option_differences) d << qs(x);
        s += tr("\noptions differ: %1").arg(d.join(QStringLiteral("; ")));
    }
    summary_->setText(s);
    const std::vector<Neuron>* sets[3] = {&c.shared, &c.only_a, &c.only_b};
    const QString names[3] = {tr("shared"), tr("only A"), tr("only B")};
    for (int i = 0; i < 3; ++i) {
        listTitles_[i]->setText(QStringLiteral("%1 (%2)").arg(names[i]).arg(sets[i]->size()));
        for (const Neuron& n : *sets[i]) lists_[i]->addItem(qs(to_string(n)));
    }

    // Jaccard per module.
    setPlotHint(jacPlot_, {});
    auto* bars = new QCPBars(jacPlot_->xAxis, jacPlot_->yAxis);
    bars->setPen(QPen(seriesColor(0).darker(130)));
    bars->setBrush(seriesColor(0).lighter(120));
    bars->setWidth(0.7);
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    QVector<double> keys, vals;
    for (size_t i = 0; i < c.by_module.size(); ++i) {
        const SetOverlap& o = c.by_module[i];
        QString lab = qs(o.label);  // two lines: q_proj -> q / proj, post_attention_layernorm -> post_attention / layernorm
        const qsizetype cut = lab.lastIndexOf(QLatin1Char('_'));
        if (cut > 0) lab = lab.left(cut) + QStringLiteral("_\n") + lab.mid(cut + 1);
        ticker->addTick(double(i), lab);
        auto* t = new QCPItemText(jacPlot_);
        t->position->setCoords(double(i), std::max(o.jaccard ? *o.jaccard : 0.0, 0.02));
        t->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
        t->setText(o.jaccard ? QStringLiteral("%1/%2").arg(o.shared).arg(o.a + o.b - o.shared) : QStringLiteral("—"));
        t->setColor(QColor(60, 60, 60));
        if (o.jaccard) {
            keys << double(i);
            vals << *o.jaccard;
            shownJac_[qs(o.label)] = *o.jaccard;
        }
    }
    bars->setData(keys, vals);
    jacPlot_->xAxis->setTicker(ticker);
    jacPlot_->xAxis->setSubTicks(false);
    jacPlot_->xAxis->setRange(-0.6, double(c.by_module.size()) - 0.4);
    jacPlot_->yAxis->setRange(0, 1.15);
    jacPlot_->replot();

    // Both curves on one axis.
    const std::vector<CurvePoint>* curves[2] = {&c.curve_a, &c.curve_b};
    const QString labels[2] = {tr("A: %1").arg(elide(A, 48)),
                               tr("B: %1").arg(elide(B, 48))};
    bool any = false;
    for (int k = 0; k < 2; ++k) {
        QCPGraph* g = curvePlot_->addGraph();
        g->setName(labels[k]);
        g->setPen(QPen(seriesColor(k), 2.0, k ? Qt::DashLine : Qt::SolidLine));
        g->setScatterStyle(QCPScatterStyle(k ? QCPScatterStyle::ssSquare : QCPScatterStyle::ssCircle, seriesColor(k), Qt::white, 5));
        for (const CurvePoint& p : *curves[k])
            if (std::isfinite(p.delta)) g->addData(p.unique_channels, p.delta);
        any = any || !curves[k]->empty();
    }
    setPlotHint(curvePlot_, any ? QString() : tr("Neither result has a stage-2 curve."));
    curvePlot_->rescaleAxes();
    const QCPRange x = curvePlot_->xAxis->range(), y = curvePlot_->yAxis->range();
    curvePlot_->xAxis->setRange(std::min(0.0, x.lower) - 0.04 * std::max(1.0, x.size()), x.upper + 0.04 * std::max(1.0, x.size()));
    curvePlot_->yAxis->setRange(std::min(0.0, y.lower) - 0.08 * std::max(0.1, y.size()), y.upper + 0.15 * std::max(0.1, y.size()));
    curvePlot_->replot();
}

}  // namespace achilles::ui
