// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/mechanism_panel.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "jobs/job_runner.h"
#include "plots/plot_style.h"
#include "widgets/ablation_control.h"
#include "widgets/stale_banner.h"
#include "workbench/workbench.h"
#include <QComboBox>
#include <QDoubleSpinBox>
#include "widgets/file_dialogs.h"
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QCPColorGradient sequential() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(255, 247, 200));
    g.setColorStopAt(0.3, QColor(254, 178, 76));
    g.setColorStopAt(0.65, QColor(227, 26, 28));
    g.setColorStopAt(1.0, QColor(90, 0, 30));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}
QCPColorGradient diverging() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(33, 102, 172));
    g.setColorStopAt(0.5, QColor(247, 247, 247));
    g.setColorStopAt(1.0, QColor(178, 24, 43));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

QCustomPlot* makePlot(QWidget* parent, const QString& name, const QString& title, const QString& x, const QString& y) {
    auto* p = new QCustomPlot(parent);
    p->setObjectName(name);
    stylePlot(p, title);
    p->xAxis->setLabel(x);
    p->yAxis->setLabel(y);
    p->setMinimumSize(180, 150);
    return p;
}

void setupMap(QCustomPlot* plot, QCPColorMap*& map, QCPColorScale*& scale, const QString& label) {
    scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(1, 1, scale);
    scale->setType(QCPAxis::atRight);
    scale->axis()->setLabel(label);
    scale->setBarWidth(14);
    map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->setColorScale(scale);
    map->setGradient(sequential());
    map->setInterpolate(false);
    map->setTightBoundary(false);
    auto* group = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
}

void intTicks(QCPAxis* a, int n) {
    auto t = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    t->setTickStep(std::max(1.0, std::ceil(n / 12.0)));
    t->setScaleStrategy(QCPAxisTickerFixed::ssNone);
    a->setTicker(t);
    a->setSubTicks(false);
}

void setLogScale(QCPColorMap* map, QCPColorScale* scale, bool log) {
    const auto type = log ? QCPAxis::stLogarithmic : QCPAxis::stLinear;
    map->setDataScaleType(type);
    scale->setDataScaleType(type);
    if (log) {
        auto t = QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog);
        scale->axis()->setTicker(t);
        scale->axis()->setNumberFormat(QStringLiteral("eb"));
        scale->axis()->setNumberPrecision(0);
    } else {
        scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        scale->axis()->setNumberFormat(QStringLiteral("g"));
        scale->axis()->setNumberPrecision(3);
    }
}

// nx × ny cells (x: key, y: value) from v(x, y); NaN cells are transparent.
void fillMap(QCustomPlot* plot, QCPColorMap* map, int nx, int ny, const std::function<double(int, int)>& v) {
    nx = std::max(nx, 1);
    ny = std::max(ny, 1);
    map->data()->setSize(nx, ny);
    map->data()->setRange(QCPRange(0, nx - 1), QCPRange(0, ny - 1));
    for (int x = 0; x < nx; ++x)
        for (int y = 0; y < ny; ++y) map->data()->setCell(x, y, v(x, y));
    plot->xAxis->setRange(-0.5, nx - 0.5);
    plot->yAxis->setRange(-0.5, ny - 0.5);
    intTicks(plot->xAxis, nx);
    intTicks(plot->yAxis, ny);
}

void clearMap(QCustomPlot* plot, QCPColorMap* map, QCPColorScale* scale, const QString& hint) {
    map->data()->setSize(1, 1);
    map->data()->setCell(0, 0, kNaN);
    scale->setVisible(false);
    plot->xAxis->setRange(-0.5, 4.5);
    plot->yAxis->setRange(-0.5, 4.5);
    setPlotHint(plot, hint);
    plot->replot();
}

QTableWidget* makeTable(QWidget* parent, const QStringList& headers) {
    auto* t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->verticalHeader()->setVisible(false);
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setAlternatingRowColors(true);
    return t;
}

void setCell(QTableWidget* t, int row, int col, const QString& text, bool right = false) {
    auto* it = new QTableWidgetItem(text);
    if (right) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    t->setItem(row, col, it);
}

QString num(double v, int prec = 4) {
    if (!std::isfinite(v)) return QStringLiteral("—");
    const double a = std::abs(v);
    if (a != 0 && (a >= 1e5 || a < 1e-3)) return QString::number(v, 'e', prec - 1);
    return QString::number(v, 'g', prec + 1);
}
QString grouped(double v) { return QLocale(QLocale::English).toString(v, 'f', 0); }

QString siteLabel(MassiveSite s) {
    switch (s) {
    case MassiveSite::residual: return QObject::tr("residual stream");
    case MassiveSite::down_proj: return QObject::tr("down_proj output");
    case MassiveSite::down_proj_input: return QObject::tr("down_proj input");
    }
    return {};
}

QString tokenText(const LensToken& t) {
    if (t.text.empty()) return QStringLiteral("#%1").arg(t.id);  // no tokenizer: the id
    QString s = qs(t.text);
    s.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
    return QStringLiteral("“%1”").arg(s);
}

double log10Delta(double a, double b) { return a > 0 && b > 0 ? std::log10(b) - std::log10(a) : kNaN; }
}  // namespace

struct MechanismPanel::Jobs {
    explicit Jobs(JobRunner* r)
        : massive(r, Lane::eval), sinks(r, Lane::eval), lens(r, Lane::eval), trace(r, Lane::eval) {}
    JobTracker<MassiveReport> massive;
    JobTracker<SinkReport> sinks;
    JobTracker<LensReport> lens;
    JobTracker<TraceReport> trace;
};

MechanismPanel::~MechanismPanel() = default;

MechanismPanel::MechanismPanel(Workbench* wb, QWidget* parent)
    : QWidget(parent), wb_(wb), jobs_(std::make_unique<Jobs>(wb->jobs())) {
    tabs_ = new QTabWidget(this);
    // Each page scrolls when the dock is small, so the panel never raises the window's minimum size.
    // A stale banner over each page says when its report belongs to another probe, model or mask.
    auto scroll = [this](QWidget* page, int tab) {
        auto* sa = new QScrollArea(this);
        sa->setWidgetResizable(true);
        sa->setFrameShape(QFrame::NoFrame);
        sa->setWidget(page);
        auto* box = new QWidget(this);
        auto* l = new QVBoxLayout(box);
        l->setContentsMargins(0, 0, 0, 0);
        l->setSpacing(2);
        stale_[tab] = new StaleBanner(box);
        stale_[tab]->setObjectName(QStringLiteral("mechanismStale%1").arg(tab));
        l->addWidget(stale_[tab]);
        l->addWidget(sa, 1);
        return box;
    };
    tabs_->addTab(scroll(buildMassiveTab(), Massive), tr("Massive activations"));
    tabs_->addTab(scroll(buildSinksTab(), Sinks), tr("Attention sinks"));
    tabs_->addTab(scroll(buildLensTab(), Lens), tr("Logit lens"));
    tabs_->addTab(scroll(buildTraceTab(), Trace), tr("Super weights"));

    status_ = new QLabel(tr("Each tab computes on the current probe when you press its button."), this);
    status_->setWordWrap(true);
    maskInfo_ = new QLabel(this);
    maskInfo_->setStyleSheet(QStringLiteral("color:#555"));
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setMaximumWidth(160);
    progress_->setMaximumHeight(14);
    progress_->hide();
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    maskInfo_->setWordWrap(true);
    maskInfo_->setMinimumWidth(80);
    auto* head = new QHBoxLayout;
    head->addWidget(new AblationControl(wb_, this));
    head->addWidget(maskInfo_, 1);
    auto* foot = new QHBoxLayout;
    foot->addWidget(status_, 1);
    foot->addWidget(progress_);
    foot->addWidget(cancel_);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(head);
    lay->addWidget(tabs_, 1);
    lay->addLayout(foot);
    connect(cancel_, &QPushButton::clicked, this, &MechanismPanel::cancel);

    auto updateMask = [this] {
        const size_t n = wb_->masked().size();
        if (n == 0) maskInfo_->setText(tr("Masked side: no neurons ticked (tick neurons in the Neurons table)."));
        else if (!wb_->masksApplicable()) maskInfo_->setText(wb_->masksStaleReason());
        else maskInfo_->setText(tr("Masked side: %n ticked neuron(s), %1.", nullptr, int(n)).arg(Workbench::ablationText(wb_->ablation())));
    };
    connect(wb_, &Workbench::maskChanged, this, updateMask);
    connect(wb_, &Workbench::ablationChanged, this, updateMask);
    connect(wb_, &Workbench::modelLoaded, this, updateMask);
    connect(wb_, &Workbench::resultChanged, this, [this] { showPositions(); });
    connect(wb_, &Workbench::modelLoaded, this, [this] {
        cancel();
        massive_.reset();
        sinks_.reset();
        lens_.reset();
        trace_.reset();
        showMassive();
        showSinks();
        showPattern();
        showLens();
        showTrace();
    });
    for (auto sig : {&Workbench::provenanceChanged, &Workbench::maskChanged, &Workbench::ablationChanged, &Workbench::textChanged,
                     &Workbench::modelLoaded})
        connect(wb_, sig, this, &MechanismPanel::updateStale);
    updateMask();
    setUpJobs();
    showMassive();
    showPositions();
    showSinks();
    showPattern();
    showLens();
    showTrace();
}

QWidget* MechanismPanel::exportRow(std::initializer_list<std::pair<QCustomPlot*, QString>> plots, Tab tab, QPushButton* compute) {
    auto* w = new QWidget(this);
    auto* l = new QHBoxLayout(w);
    l->setContentsMargins(0, 0, 0, 0);
    compute->setDefault(true);
    l->addWidget(compute);
    l->addStretch();
    for (const auto& [plot, name] : plots) {
        auto* b = new QPushButton(tr("Export %1…").arg(name), w);
        b->setToolTip(tr("PNG, SVG or PDF (vector heatmap cells)"));
        connect(b, &QPushButton::clicked, this, [this, plot, name] { emit exportRequested(plot, QStringLiteral("mechanism-") + name); });
        l->addWidget(b);
    }
    auto* json = new QPushButton(tr("Save JSON…"), w);
    json->setToolTip(tr("The tab's data as the core's JSON document (as achilles-cli writes it)"));
    connect(json, &QPushButton::clicked, this, [this, tab] { saveJsonInteractive(tab); });
    l->addWidget(json);
    return w;
}

// ---------------------------------------------------------------- tabs

QWidget* MechanismPanel::buildMassiveTab() {
    auto* page = new QWidget(this);
    absThr_ = new QDoubleSpinBox(page);
    absThr_->setRange(0, 1e9);
    absThr_->setDecimals(1);
    absThr_->setValue(100);
    absThr_->setPrefix(QStringLiteral("|a| > "));
    absThr_->setToolTip(tr("A massive activation's magnitude must exceed this ..."));
    ratio_ = new QDoubleSpinBox(page);
    ratio_->setRange(1, 1e9);
    ratio_->setDecimals(0);
    ratio_->setValue(1000);
    ratio_->setSuffix(tr(" × median"));
    ratio_->setToolTip(tr("... and this many times the median |a| of its layer (and site)"));
    site_ = new QComboBox(page);
    for (int s = 0; s < kNumMassiveSites; ++s) site_->addItem(siteLabel(MassiveSite(s)), s);
    site_->setToolTip(tr("Which recorded site the line plot and the heatmap show"));
    massiveRun_ = new QComboBox(page);
    massiveRun_->setObjectName(QStringLiteral("massiveRun"));
    massiveRun_->addItem(tr("clean model"));
    massiveRun_->addItem(tr("masked (ticked neurons)"));
    massiveRun_->setToolTip(tr("The plots and the table show the clean forward or the forward with the ticked neurons "
                               "masked (computed when neurons are ticked as you press “Find massive activations”)"));
    auto* rule = new QHBoxLayout;
    rule->addWidget(new QLabel(tr("Rule:"), page));
    rule->addWidget(absThr_);
    rule->addWidget(new QLabel(tr("and"), page));
    rule->addWidget(ratio_);
    rule->addSpacing(16);
    rule->addWidget(new QLabel(tr("Site shown:"), page));
    rule->addWidget(site_);
    rule->addSpacing(16);
    rule->addWidget(new QLabel(tr("Run:"), page));
    rule->addWidget(massiveRun_);
    rule->addStretch();

    massiveSummary_ = new QLabel(page);
    massiveSummary_->setObjectName(QStringLiteral("massiveSummary"));
    massiveSummary_->setWordWrap(true);
    massiveSummary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    massiveNotes_ = new QLabel(page);
    massiveNotes_->setWordWrap(true);
    massiveNotes_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    linesPlot_ = makePlot(page, QStringLiteral("massiveLines"), tr("Top-3 |activation| per layer"), tr("layer"),
                          tr("|activation| (log scale)"));
    linesPlot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    {
        auto t = QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog);
        linesPlot_->yAxis->setTicker(t);
        linesPlot_->yAxis->setNumberFormat(QStringLiteral("eb"));
        linesPlot_->yAxis->setNumberPrecision(0);
    }
    linesPlot_->legend->setVisible(true);
    linesPlot_->legend->setBrush(QColor(255, 255, 255, 220));
    linesPlot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    const Qt::PenStyle styles[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine};
    for (int i = 0; i < 3; ++i) {
        QCPGraph* g = linesPlot_->addGraph();
        g->setPen(QPen(seriesColor(i), i == 0 ? 2.2 : 1.6, styles[i]));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(i), Qt::white, 5));
    }
    massivePlot_ = makePlot(page, QStringLiteral("massiveMap"), tr("Max |activation| per layer and token"), tr("token position"),
                            tr("layer"));
    setupMap(massivePlot_, massiveMap_, massiveScale_, tr("max |a| over channels (log scale)"));
    posPlot_ = makePlot(page, QStringLiteral("criticalPositions"), tr("Critical ranking entries by position"),
                        tr("token position"), tr("entries (count)"));
    posPlot_->setMinimumSize(180, 150);
    hitsTable_ = makeTable(page, {tr("site"), tr("layer"), tr("token"), tr("channel"), tr("value"), tr("× median"),
                                  tr("persists"), tr("in critical set"), tr("masked value")});

    auto* compute = new QPushButton(tr("Find massive activations"), page);
    connect(compute, &QPushButton::clicked, this, &MechanismPanel::runMassive);
    connect(site_, &QComboBox::currentIndexChanged, this, [this] { showMassive(); });
    connect(massiveRun_, &QComboBox::currentIndexChanged, this, [this] { showMassive(); });

    auto* plots = new QSplitter(Qt::Horizontal, page);
    plots->addWidget(linesPlot_);
    plots->addWidget(massivePlot_);
    auto* bottom = new QSplitter(Qt::Horizontal, page);
    auto* tableBox = new QWidget(page);
    auto* tl = new QVBoxLayout(tableBox);
    tl->setContentsMargins(0, 0, 0, 0);
    tl->addWidget(hitsTable_, 1);
    tl->addWidget(massiveNotes_);
    bottom->addWidget(tableBox);
    bottom->addWidget(posPlot_);
    bottom->setStretchFactor(0, 3);
    bottom->setStretchFactor(1, 2);
    auto* vsplit = new QSplitter(Qt::Vertical, page);
    vsplit->addWidget(plots);
    vsplit->addWidget(bottom);
    vsplit->setStretchFactor(0, 3);
    vsplit->setStretchFactor(1, 2);
    auto* lay = new QVBoxLayout(page);
    lay->addLayout(rule);
    lay->addWidget(exportRow({{linesPlot_, QStringLiteral("lines")}, {massivePlot_, QStringLiteral("heatmap")},
                              {posPlot_, QStringLiteral("positions")}},
                             Massive, compute));
    lay->addWidget(massiveSummary_);
    lay->addWidget(vsplit, 1);
    return page;
}

QWidget* MechanismPanel::buildSinksTab() {
    auto* page = new QWidget(this);
    sinkView_ = new QComboBox(page);
    sinkView_->addItem(tr("clean"));
    sinkView_->addItem(tr("masked"));
    sinkView_->addItem(tr("masked − clean"));
    sinkPlot_ = makePlot(page, QStringLiteral("sinkMap"), tr("Attention mass on the first token"), tr("head"), tr("layer"));
    setupMap(sinkPlot_, sinkMap_, sinkScale_, tr("attention on token 0 (mean over queries t ≥ 1)"));
    patCleanPlot_ = makePlot(page, QStringLiteral("patternClean"), tr("Attention pattern (clean)"), tr("key position"),
                             tr("query position"));
    setupMap(patCleanPlot_, patCleanMap_, patCleanScale_, tr("attention probability"));
    patMaskedPlot_ = makePlot(page, QStringLiteral("patternMasked"), tr("Attention pattern (masked)"), tr("key position"),
                              tr("query position"));
    setupMap(patMaskedPlot_, patMaskedMap_, patMaskedScale_, tr("attention probability"));
    for (QCustomPlot* p : {patCleanPlot_, patMaskedPlot_}) p->yAxis->setRangeReversed(true);
    sinkInfo_ = new QLabel(tr("Click a cell of the map to see that head's full attention pattern."), page);
    sinkInfo_->setWordWrap(true);
    auto* compute = new QPushButton(tr("Compute attention sinks"), page);
    connect(compute, &QPushButton::clicked, this, [this] { runSinks(sinks_ ? sinks_->pattern_head : std::nullopt); });
    connect(sinkView_, &QComboBox::currentIndexChanged, this, [this] { showSinks(); });
    sinkPlot_->setMouseTracking(true);
    connect(sinkPlot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (!sinks_) return;
        const int h = int(std::lround(sinkPlot_->xAxis->pixelToCoord(e->position().x())));
        const int l = int(std::lround(sinkPlot_->yAxis->pixelToCoord(e->position().y())));
        if (h >= 0 && h < sinks_->heads && l >= 0 && l < sinks_->layers) runSinks(std::make_pair(l, h));
    });
    connect(sinkPlot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        if (!sinks_) return;
        const int h = int(std::lround(sinkPlot_->xAxis->pixelToCoord(e->position().x())));
        const int l = int(std::lround(sinkPlot_->yAxis->pixelToCoord(e->position().y())));
        if (h < 0 || h >= sinks_->heads || l < 0 || l >= sinks_->layers) return QToolTip::hideText();
        QString t = tr("L%1.h%2\nclean %3").arg(l).arg(h).arg(num(sinks_->clean_mass[size_t(l)][size_t(h)], 3));
        if (!sinks_->masked_mass.empty())
            t += tr("\nmasked %1").arg(num(sinks_->masked_mass[size_t(l)][size_t(h)], 3));
        QToolTip::showText(e->globalPosition().toPoint(), t + tr("\n(click: full pattern)"), sinkPlot_);
    });
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Show:"), page));
    top->addWidget(sinkView_);
    top->addWidget(sinkInfo_, 1);
    auto* patterns = new QSplitter(Qt::Horizontal, page);
    patterns->addWidget(patCleanPlot_);
    patterns->addWidget(patMaskedPlot_);
    auto* split = new QSplitter(Qt::Horizontal, page);
    split->addWidget(sinkPlot_);
    split->addWidget(patterns);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({560, 840});
    auto* lay = new QVBoxLayout(page);
    lay->addWidget(exportRow({{sinkPlot_, QStringLiteral("sinks")}, {patCleanPlot_, QStringLiteral("pattern-clean")},
                              {patMaskedPlot_, QStringLiteral("pattern-masked")}},
                             Sinks, compute));
    lay->addLayout(top);
    lay->addWidget(split, 1);
    return page;
}

QWidget* MechanismPanel::buildLensTab() {
    auto* page = new QWidget(this);
    lensView_ = new QComboBox(page);
    lensView_->addItem(tr("clean"));
    lensView_->addItem(tr("masked"));
    lensPos_ = new QSpinBox(page);
    lensPos_->setRange(-1, 1 << 20);
    lensPos_->setValue(-1);
    lensPos_->setSpecialValueText(tr("last"));
    lensPos_->setPrefix(tr("position "));
    lensPos_->setToolTip(tr("The position whose next-token prediction the table shows (or click the map)"));
    lensTopK_ = new QSpinBox(page);
    lensTopK_->setRange(1, 50);
    lensTopK_->setValue(5);
    lensTopK_->setPrefix(tr("top "));
    lensPlot_ = makePlot(page, QStringLiteral("lensMap"), tr("Logit lens: rank of the true next token"),
                         tr("position (predicting token t+1)"), tr("layer"));
    setupMap(lensPlot_, lensMap_, lensScale_, tr("log10 rank of the true next token"));
    lensTable_ = makeTable(page, {tr("layer"), tr("clean: top tokens (p)"), tr("clean rank"), tr("clean p(true)"),
                                  tr("masked: top tokens (p)"), tr("masked rank"), tr("masked p(true)")});
    lensInfo_ = new QLabel(page);
    lensInfo_->setWordWrap(true);
    auto* compute = new QPushButton(tr("Run the logit lens"), page);
    connect(compute, &QPushButton::clicked, this, &MechanismPanel::runLens);
    connect(lensView_, &QComboBox::currentIndexChanged, this, [this] { showLens(); });
    connect(lensPlot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
        if (!lens_) return;
        const int t = int(std::lround(lensPlot_->xAxis->pixelToCoord(e->position().x())));
        if (t >= 0 && t + 1 < int(lens_->ids.size())) {
            lensPos_->setValue(t);
            runLens();
        }
    });
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Map:"), page));
    top->addWidget(lensView_);
    top->addWidget(lensPos_);
    top->addWidget(lensTopK_);
    top->addWidget(lensInfo_, 1);
    auto* split = new QSplitter(Qt::Vertical, page);
    split->addWidget(lensPlot_);
    split->addWidget(lensTable_);
    split->setSizes({480, 320});
    auto* lay = new QVBoxLayout(page);
    lay->addWidget(exportRow({{lensPlot_, QStringLiteral("lens")}}, Lens, compute));
    lay->addLayout(top);
    lay->addWidget(split, 1);
    return page;
}

QWidget* MechanismPanel::buildTraceTab() {
    auto* page = new QWidget(this);
    traceNeuron_ = new QLineEdit(page);
    traceNeuron_->setPlaceholderText(tr("e.g. L1.down_proj:21 (a down_proj or act_fn channel)"));
    traceNeuron_->setToolTip(tr("The channel to trace; selecting a down_proj or act_fn row in the Neurons table fills it"));
    traceToken_ = new QSpinBox(page);
    traceToken_->setRange(-1, 1 << 20);
    traceToken_->setValue(-1);
    traceToken_->setSpecialValueText(tr("auto (argmax |value|)"));
    traceToken_->setPrefix(tr("token "));
    traceTopK_ = new QSpinBox(page);
    traceTopK_->setRange(1, 100);
    traceTopK_->setValue(8);
    traceTopK_->setPrefix(tr("top "));
    traceScale_ = new QDoubleSpinBox(page);
    traceScale_->setRange(-100, 100);
    traceScale_->setDecimals(3);
    traceScale_->setValue(0);
    traceScale_->setPrefix(tr("top weight × "));
    traceScale_->setToolTip(tr("The top weight alone is scaled by this (0 zeroes it), in memory only"));
    traceTable_ = makeTable(page, {tr("weight"), tr("W value"), tr("input x"), tr("contribution W·x"), tr("share of value")});
    traceInfo_ = new QLabel(page);
    traceInfo_->setObjectName(QStringLiteral("traceSummary"));
    traceInfo_->setWordWrap(true);
    traceInfo_->setTextFormat(Qt::RichText);
    traceInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* compute = new QPushButton(tr("Trace super weights"), page);
    connect(compute, &QPushButton::clicked, this, &MechanismPanel::runTrace);
    connect(traceNeuron_, &QLineEdit::returnPressed, this, &MechanismPanel::runTrace);
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Neuron:"), page));
    top->addWidget(traceNeuron_, 1);
    top->addWidget(traceToken_);
    top->addWidget(traceTopK_);
    top->addWidget(traceScale_);
    auto* lay = new QVBoxLayout(page);
    lay->addWidget(exportRow({}, Trace, compute));
    lay->addLayout(top);
    lay->addWidget(traceInfo_);
    lay->addWidget(traceTable_, 1);
    return page;
}

// ---------------------------------------------------------------- jobs

void MechanismPanel::setUpJobs() {
    auto progress = [this](const QString& stage, double f, const QString& m) {
        if (f >= 0) progress_->setValue(int(std::clamp(f, 0.0, 1.0) * 1000));
        if (!m.isEmpty()) status_->setText(stage.isEmpty() ? m : stage + QStringLiteral(": ") + m);
    };
    auto fail = [this](int tab) {
        return [this, tab](const QString& m) {
            finished(tab);
            status_->setText(tr("Failed: %1").arg(m));
            emit failed(tab, m);
            emit errorOccurred(tabs_->tabText(tab), m);
        };
    };
    auto onCancel = [this](int tab) {
        return [this, tab] {
            finished(tab);
            status_->setText(tr("Cancelled."));
            emit cancelled(tab);
        };
    };
    jobs_->massive.onProgress(progress);
    jobs_->massive.onFailed(fail(Massive));
    jobs_->massive.onCancelled(onCancel(Massive));
    jobs_->massive.onFinished([this](MassiveReport r) {
        massive_ = std::move(r);
        runKey_[Massive] = pendingKey_[Massive];
        updateStale();
        finished(Massive);
        status_->setText(qs(massive_->summary));
        showMassive();
        emit computed(Massive);
    });
    jobs_->sinks.onProgress(progress);
    jobs_->sinks.onFailed(fail(Sinks));
    jobs_->sinks.onCancelled(onCancel(Sinks));
    jobs_->sinks.onFinished([this](SinkReport r) {
        sinks_ = std::move(r);
        runKey_[Sinks] = pendingKey_[Sinks];
        updateStale();
        finished(Sinks);
        status_->setText(tr("Attention sinks: %1 layers × %2 heads.").arg(sinks_->layers).arg(sinks_->heads));
        showSinks();
        showPattern();
        emit computed(Sinks);
    });
    jobs_->lens.onProgress(progress);
    jobs_->lens.onFailed(fail(Lens));
    jobs_->lens.onCancelled(onCancel(Lens));
    jobs_->lens.onFinished([this](LensReport r) {
        lens_ = std::move(r);
        runKey_[Lens] = pendingKey_[Lens];
        updateStale();
        finished(Lens);
        status_->setText(tr("Logit lens at position %1.").arg(lens_->position));
        showLens();
        emit computed(Lens);
    });
    jobs_->trace.onProgress(progress);
    jobs_->trace.onFailed(fail(Trace));
    jobs_->trace.onCancelled(onCancel(Trace));
    jobs_->trace.onFinished([this](TraceReport r) {
        trace_ = std::move(r);
        runKey_[Trace] = pendingKey_[Trace];
        updateStale();
        finished(Trace);
        status_->setText(tr("Traced %1.").arg(qs(to_string(trace_->neuron))));
        showTrace();
        emit computed(Trace);
    });
}

bool MechanismPanel::prepare(int tab, std::vector<int>& ids, MaskSpec& mask) {
    auto fail = [&](const QString& m) {
        status_->setText(m);
        emit failed(tab, m);
        emit errorOccurred(tabs_->tabText(tab), m);
        return false;
    };
    if (!wb_->hasModel()) return fail(tr("Load a model first (Model panel)."));
    try {
        ids = wb_->probeIds();
    } catch (const std::exception& e) {
        return fail(QString::fromUtf8(e.what()));
    }
    if (ids.size() < 2) return fail(tr("The probe text is too short: it needs at least two tokens."));
    mask.clear();
    if (!wb_->masked().empty() && wb_->masksApplicable()) mask = wb_->maskSpec();
    pendingKey_[tab] = currentKey();
    return true;
}

MechanismPanel::RunKey MechanismPanel::currentKey() const {
    RunKey k;
    k.prov = wb_->current();
    if (!wb_->masked().empty() && wb_->masksApplicable()) {
        k.masked = wb_->masked();
        k.ablation = Workbench::ablationText(wb_->ablation());
    }
    return k;
}

std::vector<std::pair<QCustomPlot*, QString>> MechanismPanel::computedPlots() const {
    std::vector<std::pair<QCustomPlot*, QString>> out;
    if (massive_) {
        out.emplace_back(linesPlot_, QStringLiteral("mechanism-lines"));
        out.emplace_back(massivePlot_, QStringLiteral("mechanism-heatmap"));
    }
    if (wb_->result()) out.emplace_back(posPlot_, QStringLiteral("mechanism-positions"));
    if (sinks_) {
        out.emplace_back(sinkPlot_, QStringLiteral("mechanism-sinks"));
        if (!sinks_->clean_pattern.empty()) {
            out.emplace_back(patCleanPlot_, QStringLiteral("mechanism-pattern-clean"));
            if (!sinks_->masked_pattern.empty()) out.emplace_back(patMaskedPlot_, QStringLiteral("mechanism-pattern-masked"));
        }
    }
    if (lens_) out.emplace_back(lensPlot_, QStringLiteral("mechanism-lens"));
    return out;
}

QString MechanismPanel::staleText(Tab tab) const { return stale_[tab]->isHidden() ? QString() : stale_[tab]->text(); }

void MechanismPanel::updateStale() {
    const bool have[4] = {bool(massive_), bool(sinks_), bool(lens_), bool(trace_)};
    const RunKey cur = currentKey();
    const QString again[4] = {tr("Find massive activations"), tr("Compute attention sinks"), tr("Run the logit lens"), tr("Trace super weights")};
    for (int t = 0; t < 4; ++t) {
        QString why;
        const RunKey& k = runKey_[t];
        if (have[t] && k.prov.hasModel() && cur.prov.hasModel()) {
            if (!k.prov.sameModel(cur.prov))
                why = tr("Stale: computed on %1; the loaded model is %2.").arg(k.prov.describe(), cur.prov.modelName());
            else if (k.prov.ids != cur.prov.ids)
                why = tr("Stale: computed on %1; the probe text is now %2.").arg(k.prov.probeName(), cur.prov.probeName());
            else if ((t == Massive || t == Sinks || t == Lens) && (k.masked != cur.masked || k.ablation != cur.ablation)) {
                auto maskName = [this](const RunKey& r) {
                    return r.masked.empty() ? tr("no neurons masked")
                                            : tr("%n masked neuron(s), %1", nullptr, int(r.masked.size())).arg(r.ablation);
                };
                why = tr("Stale: the masked side was computed with %1; the mask is now %2.").arg(maskName(k), maskName(cur));
            }
            if (!why.isEmpty()) why += tr(" Press “%1” again.").arg(again[t]);
        }
        stale_[t]->setReason(why);
    }
}

void MechanismPanel::started(int tab, const QString& what) {
    ++running_;
    progress_->setValue(0);
    progress_->show();
    cancel_->setEnabled(true);
    status_->setText(what);
    tabs_->setCurrentIndex(tab);
}

void MechanismPanel::finished(int) {
    running_ = std::max(0, running_ - 1);
    if (running_ == 0) {
        progress_->hide();
        cancel_->setEnabled(false);
    }
}

bool MechanismPanel::running() const {
    return jobs_->massive.running() || jobs_->sinks.running() || jobs_->lens.running() || jobs_->trace.running();
}

void MechanismPanel::cancel() {
    jobs_->massive.cancel();
    jobs_->sinks.cancel();
    jobs_->lens.cancel();
    jobs_->trace.cancel();
}

void MechanismPanel::runMassive() {
    std::vector<int> ids;
    MaskSpec mask;
    if (!prepare(Massive, ids, mask)) return;
    MassiveOptions o;
    o.abs_threshold = absThr_->value();
    o.ratio = ratio_->value();
    std::vector<Neuron> critical;
    if (wb_->result() && wb_->resultMatchesModel()) critical = wb_->result()->faithful.neurons;
    if (!jobs_->massive.running()) started(Massive, tr("Recording activations…"));
    // The clean model always; with ticked neurons also the masked forward (the spike the critical
    // set produces should vanish downstream). The critical set marks which channels are massive.
    jobs_->massive.run([eng = wb_->engineShared(), ids, mask, o, critical](Progress& p) {
        return massive_activations(*eng, ids, mask, o, critical, p);
    });
}

void MechanismPanel::runSinks(std::optional<std::pair<int, int>> pattern) {
    std::vector<int> ids;
    MaskSpec mask;
    if (!prepare(Sinks, ids, mask)) return;
    if (!jobs_->sinks.running()) started(Sinks, tr("Computing attention probabilities…"));
    jobs_->sinks.run([eng = wb_->engineShared(), ids, mask, pattern](Progress& p) {
        return attention_sinks(*eng, ids, mask, pattern, p);
    });
}

void MechanismPanel::runLens() {
    std::vector<int> ids;
    MaskSpec mask;
    if (!prepare(Lens, ids, mask)) return;
    const int pos = lensPos_->value() >= int(ids.size()) - 1 ? -1 : lensPos_->value();
    if (!jobs_->lens.running()) started(Lens, tr("Running the logit lens…"));
    jobs_->lens.run([eng = wb_->engineShared(), ids, mask, pos, k = lensTopK_->value()](Progress& p) {
        return logit_lens(*eng, ids, mask, pos, k, p);
    });
}

void MechanismPanel::runTrace() {
    std::vector<int> ids;
    MaskSpec mask;
    if (!prepare(Trace, ids, mask)) return;
    QString text = traceNeuron_->text().trimmed();
    if (text.isEmpty() && massive_)  // the first massive down_proj channel
        for (const MassiveHit& h : massive_->hits)
            if (h.site == MassiveSite::down_proj) {
                text = qs(to_string(Neuron{h.layer, Module::down_proj, h.channel}));
                traceNeuron_->setText(text);
                break;
            }
    Neuron n;
    try {
        if (text.isEmpty()) throw Error("Type the neuron to trace, e.g. L1.down_proj:21 (a down_proj or act_fn channel).");
        const MaskSpec spec = parse_mask_spec(text.toStdString());
        if (spec.size() != 1) throw Error("Type one neuron, e.g. L1.down_proj:21.");
        n = spec.front().neuron;
        if (n.module != Module::down_proj && n.module != Module::act_fn)
            throw Error(to_string(n) + ": super weights are traced for down_proj or act_fn channels.");
        validate_mask(spec, wb_->info()->shape);
    } catch (const std::exception& e) {
        const QString m = QString::fromUtf8(e.what());
        status_->setText(m);
        emit failed(Trace, m);
        emit errorOccurred(tabs_->tabText(Trace), m);
        return;
    }
    const int token = traceToken_->value() >= int(ids.size()) ? -1 : traceToken_->value();
    if (!jobs_->trace.running()) started(Trace, tr("Tracing %1…").arg(text));
    jobs_->trace.run([eng = wb_->engineShared(), ids, n, token, k = traceTopK_->value(), s = traceScale_->value()](Progress& p) {
        return trace_super_weights(*eng, ids, n, token, k, s, p);
    });
}

// ---------------------------------------------------------------- views

void MechanismPanel::setMassiveMasked(bool on) { massiveRun_->setCurrentIndex(on ? 1 : 0); }
bool MechanismPanel::massiveMaskedShown() const { return massiveRun_->currentIndex() == 1 && massive_ && massive_->masked; }

void MechanismPanel::showMassive() {
    const MassiveSite site = MassiveSite(site_->currentData().toInt());
    const bool masked = massiveMaskedShown();
    const QString run = masked ? tr("masked (%1)").arg(qs(mask_spec_to_inline(massive_->mask))) : tr("clean");
    const QString sname = siteLabel(site);
    if (auto* t = qobject_cast<QCPTextElement*>(linesPlot_->plotLayout()->element(0, 0)))
        t->setText(tr("Top-3 |a| per layer: %1, %2").arg(sname, run));
    if (auto* t = qobject_cast<QCPTextElement*>(massivePlot_->plotLayout()->element(0, 0)))
        t->setText(tr("Max |a| per layer × token: %1, %2").arg(sname, run));
    linesPlot_->yAxis->setLabel(masked ? tr("|activation|, masked run (log scale)") : tr("|activation|, clean (log scale)"));
    massiveScale_->axis()->setLabel(masked ? tr("max |a| over channels, masked (log scale)")
                                           : tr("max |a| over channels, clean (log scale)"));
    hitsTable_->setRowCount(0);
    if (!massive_) {
        for (int i = 0; i < 3; ++i) {
            linesPlot_->graph(i)->data()->clear();
            linesPlot_->graph(i)->setName(tr("top-%1").arg(i + 1));
        }
        linesPlot_->legend->setVisible(false);
        linesPlot_->xAxis->setRange(-0.5, 4.5);
        linesPlot_->yAxis->setRange(1e-2, 1e3);
        setPlotHint(linesPlot_, wb_->hasModel() ? tr("Press “Find massive activations”.") : tr("Load a model first."));
        linesPlot_->replot();
        clearMap(massivePlot_, massiveMap_, massiveScale_, tr("max |a| per layer × token\nappears here."));
        massiveSummary_->setText(tr("Massive activations: entries with |a| above the threshold and far above their "
                                    "layer's median, recorded on the current probe (clean model)."));
        massiveSummary_->setStyleSheet(QString());
        massiveNotes_->clear();
        return;
    }
    const MassiveReport& r = *massive_;
    const auto& layers = masked ? r.masked->sites[size_t(site)] : r.sites[size_t(site)];
    const std::vector<MassiveHit>& hits = masked ? r.masked->hits : r.hits;
    const int L = int(layers.size());
    const int T = int(r.ids.size());
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    // With a masked run both views share the axis and colour ranges, so that the two compare.
    std::vector<const std::vector<MassiveLayer>*> both{&r.sites[size_t(site)]};
    if (r.masked) both.push_back(&r.masked->sites[size_t(site)]);
    for (const auto* run : both)
        for (const MassiveLayer& ml : *run)
            for (int i = 0; i < 3 && i < int(ml.top.size()); ++i)
                if (const double v = std::abs(ml.top[size_t(i)].value); v > 0) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
    for (int i = 0; i < 3; ++i) {
        QVector<double> x, y;
        for (const MassiveLayer& ml : layers)
            if (i < int(ml.top.size()) && std::abs(ml.top[size_t(i)].value) > 0) {
                x << ml.layer;
                y << std::abs(ml.top[size_t(i)].value);
            }
        linesPlot_->graph(i)->setData(x, y, true);
        linesPlot_->graph(i)->setName(tr("top-%1 |a|, %2, %3").arg(i + 1).arg(sname, masked ? tr("masked") : tr("clean")));
    }
    // the median, for scale: where "× median" is measured from
    {
        linesPlot_->legend->setVisible(true);
        linesPlot_->xAxis->setRange(-0.5, std::max(L, 1) - 0.5);
        intTicks(linesPlot_->xAxis, L);
        if (hi > 0) linesPlot_->yAxis->setRange(lo / 3, hi * 2000);  // headroom for the legend
        setPlotHint(linesPlot_, {});
    }
    linesPlot_->replot();
    double mlo = std::numeric_limits<double>::infinity(), mhi = 0;
    for (const auto* run : both)
        for (const MassiveLayer& ml : *run)
            for (double v : ml.token_max_abs)
                if (v > 0) {
                    mlo = std::min(mlo, v);
                    mhi = std::max(mhi, v);
                }
    fillMap(massivePlot_, massiveMap_, T, L, [&](int t, int l) {
        const auto& v = layers[size_t(l)].token_max_abs;
        return t < int(v.size()) && v[size_t(t)] > 0 ? v[size_t(t)] : kNaN;
    });
    setLogScale(massiveMap_, massiveScale_, true);
    if (mhi > 0) massiveMap_->setDataRange(QCPRange(mlo, mhi > mlo ? mhi : mlo * 10));
    massiveScale_->setVisible(mhi > 0);
    setPlotHint(massivePlot_, {});
    massivePlot_->replot();

    hitsTable_->setRowCount(int(hits.size()));
    for (int i = 0; i < int(hits.size()); ++i) {
        const MassiveHit& h = hits[size_t(i)];
        setCell(hitsTable_, i, 0, siteLabel(h.site));
        setCell(hitsTable_, i, 1, QStringLiteral("L%1").arg(h.layer));
        setCell(hitsTable_, i, 2, QString::number(h.token), true);
        setCell(hitsTable_, i, 3, QString::number(h.channel), true);
        setCell(hitsTable_, i, 4, num(h.value), true);
        setCell(hitsTable_, i, 5, grouped(h.ratio) + QStringLiteral("×"), true);
        setCell(hitsTable_, i, 6, h.persist_first == h.persist_last ? QStringLiteral("L%1").arg(h.persist_first)
                                                                    : QStringLiteral("L%1–L%2").arg(h.persist_first).arg(h.persist_last));
        setCell(hitsTable_, i, 7, h.critical ? tr("yes") : tr("no"));
        setCell(hitsTable_, i, 8, std::isfinite(h.masked_value) ? num(h.masked_value) : QStringLiteral("—"), true);
        if (h.critical)
            for (int c = 0; c < hitsTable_->columnCount(); ++c) hitsTable_->item(i, c)->setBackground(QColor(255, 228, 225));
    }
    hitsTable_->resizeColumnsToContents();
    massiveSummary_->setText(masked ? qs(r.masked->summary) : r.masked ? qs(r.summary) + QLatin1Char('\n') + qs(r.masked->summary) : qs(r.summary));
    if (hits.empty()) {
        massiveSummary_->setStyleSheet(QStringLiteral("QLabel{font-size:13pt;font-weight:bold;color:#333;background:#f3f3f3;"
                                                      "border:1px solid #ccc;padding:10px;}"));
        setPlotHint(massivePlot_, {});
    } else {
        massiveSummary_->setStyleSheet(QStringLiteral("QLabel{font-weight:bold;padding:2px;}"));
    }
    QStringList notes;
    for (const std::string& n : r.notes) notes << (masked ? tr("Clean model: ") : QString()) + qs(n);
    if (massiveRun_->currentIndex() == 1 && !r.masked)
        notes << tr("No masked run: tick neurons in the Neurons table and press “Find massive activations” again; "
                    "the clean model is shown.");
    if (notes.isEmpty() && !r.hits.empty())
        notes << (wb_->result() ? tr("None of the massive channels is in the critical set.")
                                : tr("Run a search to see which massive channels are in the critical set."));
    massiveNotes_->setText(notes.join(QLatin1Char('\n')));
}

void MechanismPanel::showPositions() {
    posPlot_->clearPlottables();
    const auto& r = wb_->result();
    int maxPos = -1;
    std::vector<double> counts;
    bool channelMode = false;
    if (r) {
        const int n = std::min<int>(r->faithful.n, int(r->ranking.size()));
        for (int i = 0; i < n; ++i) {
            const int p = r->ranking[size_t(i)].position;
            if (p < 0) {
                channelMode = true;
                continue;
            }
            if (p >= int(counts.size())) counts.resize(size_t(p) + 1, 0.0);
            counts[size_t(p)] += 1;
            maxPos = std::max(maxPos, p);
        }
    }
    if (maxPos < 0) {
        posPlot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        posPlot_->xAxis->setRange(-0.5, 9.5);
        posPlot_->yAxis->setRange(0, 1);
        setPlotHint(posPlot_, !r ? tr("Run a search: its critical\nentries by position appear here.")
                              : channelMode ? tr("Channel-mode ranking:\nthe entries have no position.")
                                            : tr("No critical entries."));
        posPlot_->replot();
        return;
    }
    auto* bars = new QCPBars(posPlot_->xAxis, posPlot_->yAxis);
    bars->setName(tr("critical entries"));
    bars->setPen(QPen(seriesColor(1).darker(130)));
    bars->setBrush(seriesColor(1));
    bars->setWidth(0.8);
    QVector<double> x, y;
    double top = 0;
    for (int p = 0; p <= maxPos; ++p) {
        x << p;
        y << counts[size_t(p)];
        top = std::max(top, counts[size_t(p)]);
    }
    bars->setData(x, y);
    posPlot_->xAxis->setRange(-0.6, maxPos + 0.6);
    intTicks(posPlot_->xAxis, maxPos + 1);
    posPlot_->yAxis->setRange(0, top * 1.15 + 0.5);
    intTicks(posPlot_->yAxis, int(top) + 1);  // counts: whole numbers
    if (auto* t = qobject_cast<QCPTextElement*>(posPlot_->plotLayout()->element(0, 0)))
        t->setText(tr("Critical ranking entries by position (top %1)").arg(r->faithful.n));
    setPlotHint(posPlot_, {});
    posPlot_->replot();
}

double MechanismPanel::sinkCell(int layer, int head) const {
    if (!sinks_ || layer < 0 || layer >= sinks_->layers || head < 0 || head >= sinks_->heads) return kNaN;
    const double c = sinks_->clean_mass[size_t(layer)][size_t(head)];
    const bool hasMasked = !sinks_->masked_mass.empty();
    switch (SinkView(sinkView_->currentIndex())) {
    case SinkClean: return c;
    case SinkMasked: return hasMasked ? sinks_->masked_mass[size_t(layer)][size_t(head)] : kNaN;
    case SinkDiff: return hasMasked ? sinks_->masked_mass[size_t(layer)][size_t(head)] - c : kNaN;
    }
    return kNaN;
}

void MechanismPanel::showSinks() {
    if (!sinks_) {
        clearMap(sinkPlot_, sinkMap_, sinkScale_,
                 wb_->hasModel() ? tr("Press “Compute attention sinks”.") : tr("Load a model first."));
        return;
    }
    const SinkView v = SinkView(sinkView_->currentIndex());
    const bool hasMasked = !sinks_->masked_mass.empty();
    fillMap(sinkPlot_, sinkMap_, sinks_->heads, sinks_->layers, [this](int h, int l) { return sinkCell(l, h); });
    setLogScale(sinkMap_, sinkScale_, false);
    if (v == SinkDiff) {
        sinkMap_->setGradient(diverging());
        sinkMap_->setDataRange(QCPRange(-1, 1));
        sinkScale_->axis()->setLabel(tr("masked − clean attention on token 0"));
    } else {
        sinkMap_->setGradient(sequential());
        sinkMap_->setDataRange(QCPRange(0, 1));
        sinkScale_->axis()->setLabel(tr("attention on token 0 (mean over queries t ≥ 1)"));
    }
    const bool empty = v != SinkClean && !hasMasked;
    sinkScale_->setVisible(!empty);
    if (auto* t = qobject_cast<QCPTextElement*>(sinkPlot_->plotLayout()->element(0, 0)))
        t->setText(v == SinkClean ? tr("Attention on token 0 (clean)")
                   : v == SinkMasked ? tr("Attention on token 0 (masked)")
                                     : tr("Attention on token 0: masked − clean"));
    for (int i = sinkPlot_->itemCount() - 1; i >= 0; --i)
        if (sinkPlot_->item(i)->objectName() == QLatin1String("headMark")) sinkPlot_->removeItem(i);
    if (sinks_->pattern_head) {  // the head whose pattern is shown
        auto* mark = new QCPItemRect(sinkPlot_);
        mark->setObjectName(QStringLiteral("headMark"));
        mark->setPen(QPen(QColor(0, 160, 60), 3.0));
        mark->setBrush(Qt::NoBrush);
        const auto [l, h] = *sinks_->pattern_head;
        mark->topLeft->setCoords(h - 0.5, l + 0.5);
        mark->bottomRight->setCoords(h + 0.5, l - 0.5);
    }
    setPlotHint(sinkPlot_, empty ? tr("No masked side: tick neurons\n(e.g. the critical set) and recompute.") : QString());
    sinkPlot_->replot();
}

void MechanismPanel::showPattern() {
    const bool have = sinks_ && sinks_->pattern_head && !sinks_->clean_pattern.empty();
    if (!have) {
        clearMap(patCleanPlot_, patCleanMap_, patCleanScale_, tr("Click a cell of the sink map\nto see its pattern."));
        clearMap(patMaskedPlot_, patMaskedMap_, patMaskedScale_, tr("The masked pattern\nappears here."));
        return;
    }
    const auto [l, h] = *sinks_->pattern_head;
    sinkInfo_->setText(tr("Pattern of L%1.h%2: rows are queries, columns the keys they attend to. Click another cell for another head.")
                           .arg(l)
                           .arg(h));
    auto draw = [&](QCustomPlot* p, QCPColorMap* m, QCPColorScale* s, const std::vector<std::vector<double>>& pat, const QString& side) {
        if (auto* t = qobject_cast<QCPTextElement*>(p->plotLayout()->element(0, 0)))
            t->setText(tr("L%1.h%2 attention pattern (%3)").arg(l).arg(h).arg(side));
        if (pat.empty()) {
            clearMap(p, m, s, tr("No masked side: tick neurons\nand recompute."));
            return;
        }
        const int T = int(pat.size());
        fillMap(p, m, T, T, [&](int k, int q) { return k <= q ? pat[size_t(q)][size_t(k)] : kNaN; });
        setLogScale(m, s, false);
        m->setDataRange(QCPRange(0, 1));
        s->setVisible(true);
        p->yAxis->setRangeReversed(true);
        setPlotHint(p, {});
        p->replot();
    };
    draw(patCleanPlot_, patCleanMap_, patCleanScale_, sinks_->clean_pattern, tr("clean"));
    draw(patMaskedPlot_, patMaskedMap_, patMaskedScale_, sinks_->masked_pattern, tr("masked"));
}

void MechanismPanel::showLens() {
    lensTable_->setRowCount(0);
    if (!lens_) {
        clearMap(lensPlot_, lensMap_, lensScale_, wb_->hasModel() ? tr("Press “Run the logit lens”.") : tr("Load a model first."));
        lensInfo_->clear();
        return;
    }
    const LensReport& r = *lens_;
    const bool masked = lensView_->currentIndex() == 1;
    const LensRun* run = masked ? (r.masked ? &*r.masked : nullptr) : &r.clean;
    const int L = int(r.clean.true_rank_all.size());
    const int P = L > 0 ? int(r.clean.true_rank_all[0].size()) : 0;
    if (!run) {
        clearMap(lensPlot_, lensMap_, lensScale_, tr("No masked side: tick neurons\nand run the lens again."));
    } else {
        double hi = 0;
        fillMap(lensPlot_, lensMap_, P, L, [&](int t, int l) {
            const int rank = run->true_rank_all[size_t(l)][size_t(t)];
            const double v = rank > 0 ? std::log10(double(rank)) : kNaN;
            if (std::isfinite(v)) hi = std::max(hi, v);
            return v;
        });
        setLogScale(lensMap_, lensScale_, false);
        double vmax = hi;
        if (const ModelInfo* info = wb_->info()) vmax = std::max(hi, std::log10(double(std::max(info->vocab, 2))));
        lensMap_->setDataRange(QCPRange(0, std::max(vmax, 1.0)));
        lensScale_->setVisible(true);
        if (auto* t = qobject_cast<QCPTextElement*>(lensPlot_->plotLayout()->element(0, 0)))
            t->setText(tr("Logit lens: rank of the true next token (%1; 0 = top-1)").arg(masked ? tr("masked") : tr("clean")));
        setPlotHint(lensPlot_, {});
        // the chosen position
        for (int i = lensPlot_->itemCount() - 1; i >= 0; --i)
            if (lensPlot_->item(i)->objectName() == QLatin1String("posMark")) lensPlot_->removeItem(i);
        auto* mark = new QCPItemRect(lensPlot_);
        mark->setObjectName(QStringLiteral("posMark"));
        mark->setPen(QPen(QColor(0, 120, 255), 2.0));
        mark->setBrush(Qt::NoBrush);
        mark->topLeft->setCoords(r.position - 0.5, L - 0.5);
        mark->bottomRight->setCoords(r.position + 0.5, -0.5);
        lensPlot_->replot();
    }
    auto topText = [](const LensLayer& ll) {
        QStringList s;
        for (const LensToken& t : ll.top) s << QStringLiteral("%1 %2").arg(tokenText(t), QString::number(t.prob, 'f', 3));
        return s.join(QStringLiteral(", "));
    };
    lensTable_->setRowCount(int(r.clean.layers.size()));
    for (int i = 0; i < int(r.clean.layers.size()); ++i) {
        const LensLayer& c = r.clean.layers[size_t(i)];
        setCell(lensTable_, i, 0, QStringLiteral("L%1").arg(c.layer));
        setCell(lensTable_, i, 1, topText(c));
        setCell(lensTable_, i, 2, QString::number(c.true_rank), true);
        setCell(lensTable_, i, 3, num(c.true_prob, 3), true);
        if (r.masked && i < int(r.masked->layers.size())) {
            const LensLayer& m = r.masked->layers[size_t(i)];
            setCell(lensTable_, i, 4, topText(m));
            setCell(lensTable_, i, 5, QString::number(m.true_rank), true);
            setCell(lensTable_, i, 6, num(m.true_prob, 3), true);
            if (m.true_rank > c.true_rank)
                for (int col : {5, 6}) lensTable_->item(i, col)->setForeground(QColor(190, 20, 20));
        } else {
            for (int col : {4, 5, 6}) setCell(lensTable_, i, col, QStringLiteral("—"));
        }
    }
    lensTable_->resizeColumnsToContents();
    QString trueTok = QStringLiteral("#%1").arg(r.true_next);
    if (const Engine* e = wb_->engine(); e && e->tokenizer()) trueTok = tokenText(LensToken{r.true_next, 0, e->tokenizer()->decode({r.true_next})});
    lensInfo_->setText(tr("Position %1 → true next token %2%3").arg(r.position).arg(trueTok, r.masked ? QString() : tr(" (no mask ticked)")));
}

void MechanismPanel::showTrace() {
    traceTable_->setRowCount(0);
    if (!trace_) {
        traceInfo_->setText(tr("Traces the single weights W[channel, j] that produce a down_proj (or act_fn) channel: "
                               "the largest |W·x| at the token where it spikes, with the perplexity when the top weight "
                               "alone is scaled against the whole channel zeroed."));
        return;
    }
    const TraceReport& r = *trace_;
    traceTable_->setRowCount(int(r.weights.size()));
    for (int i = 0; i < int(r.weights.size()); ++i) {
        const WeightContribution& w = r.weights[size_t(i)];
        setCell(traceTable_, i, 0, QStringLiteral("L%1.%2[%3,%4]").arg(r.neuron.layer).arg(qs(module_name(r.matrix))).arg(w.row).arg(w.col));
        setCell(traceTable_, i, 1, num(w.weight), true);
        setCell(traceTable_, i, 2, num(w.input), true);
        setCell(traceTable_, i, 3, num(w.contribution), true);
        setCell(traceTable_, i, 4, r.value != 0 ? QString::number(std::abs(100.0 * w.contribution / r.value) < 0.005 ? 0.0 : 100.0 * w.contribution / r.value, 'f', 2) + QStringLiteral(" %") : QStringLiteral("—"), true);
    }
    traceTable_->resizeColumnsToContents();
    QString top = r.weights.empty() ? tr("the top weight")
                                    : QStringLiteral("W[%1,%2]").arg(r.weights.front().row).arg(r.weights.front().col);
    auto d = [](double a, double b) {
        const double x = log10Delta(a, b);
        return std::isfinite(x) ? QStringLiteral("%1%2").arg(x >= 0 ? QStringLiteral("+") : QString()).arg(x, 0, 'f', 3) : QStringLiteral("—");
    };
    traceInfo_->setText(
        tr("<b>%1</b> at token %2: clean value <b>%3</b> (from %4).<br>"
           "PPL clean <b>%5</b> · %6 × %7 alone <b>%8</b> (Δlog10 %9) · channel zeroed <b>%10</b> (Δlog10 %11)<br>"
           "The channel with %6 × %7: %12 (clean %3) · max |residual| at token %2 after L%13: clean %14, weight edited %15, "
           "channel zeroed %16")
            .arg(qs(to_string(r.neuron)))
            .arg(r.token)
            .arg(num(r.value))
            .arg(qs(module_name(r.matrix)))
            .arg(num(r.ppl_clean))
            .arg(top)
            .arg(r.scale, 0, 'g', 4)
            .arg(num(r.ppl_weight))
            .arg(d(r.ppl_clean, r.ppl_weight))
            .arg(num(r.ppl_channel))
            .arg(d(r.ppl_clean, r.ppl_channel))
            .arg(num(r.value_weight))
            .arg(r.neuron.layer)
            .arg(num(r.residual_clean))
            .arg(num(r.residual_weight))
            .arg(num(r.residual_channel)));
}

// ---------------------------------------------------------------- setters, export, state

void MechanismPanel::setThresholds(double a, double r) {
    absThr_->setValue(a);
    ratio_->setValue(r);
}
void MechanismPanel::setMassiveSite(MassiveSite s) { site_->setCurrentIndex(int(s)); }
void MechanismPanel::setSinkView(SinkView v) { sinkView_->setCurrentIndex(int(v)); }
void MechanismPanel::setLensPosition(int p) { lensPos_->setValue(p); }
void MechanismPanel::setLensMasked(bool on) { lensView_->setCurrentIndex(on ? 1 : 0); }
void MechanismPanel::setTraceNeuron(const QString& t) { traceNeuron_->setText(t); }
void MechanismPanel::setTraceScale(double s) { traceScale_->setValue(s); }
void MechanismPanel::offerTraceNeuron(const Neuron& n) {
    if (n.module == Module::down_proj || n.module == Module::act_fn) traceNeuron_->setText(qs(to_string(n)));
}

QString MechanismPanel::massiveSummary() const {
    const QString n = massiveNotes_->text();
    return n.isEmpty() ? massiveSummary_->text() : massiveSummary_->text() + QLatin1Char('\n') + n;
}
QString MechanismPanel::traceSummary() const { return traceInfo_->text(); }
QString MechanismPanel::statusText() const { return status_->text(); }

void MechanismPanel::saveJson(Tab tab, const QString& path) const {
    std::string doc;
    switch (tab) {
    case Massive:
        if (!massive_) throw Error("Nothing to save yet: press “Find massive activations” first.");
        doc = massive_to_json(*massive_);
        break;
    case Sinks:
        if (!sinks_) throw Error("Nothing to save yet: press “Compute attention sinks” first.");
        doc = sinks_to_json(*sinks_);
        break;
    case Lens:
        if (!lens_) throw Error("Nothing to save yet: press “Run the logit lens” first.");
        doc = lens_to_json(*lens_);
        break;
    case Trace:
        if (!trace_) throw Error("Nothing to save yet: press “Trace super weights” first.");
        doc = trace_to_json(*trace_);
        break;
    }
    write_file_atomic(path.toStdString(), doc);
}

void MechanismPanel::saveJsonInteractive(Tab tab) {
    static const char* names[] = {"massive", "sinks", "lens", "trace"};
    const QString f = saveFileDialog(this, DialogKind::exports, tr("Save JSON"), QStringLiteral("%1.json").arg(QLatin1String(names[tab])),
                                                   tr("JSON (*.json)"));
    if (f.isEmpty()) return;
    try {
        saveJson(tab, f);
        status_->setText(tr("Saved %1").arg(f));
    } catch (const std::exception& e) {
        emit errorOccurred(tr("Cannot save the JSON"), QString::fromUtf8(e.what()));
    }
}

QJsonObject MechanismPanel::viewState() const {
    return QJsonObject{{"tab", tabs_->currentIndex()},        {"abs_threshold", absThr_->value()},
                       {"ratio", ratio_->value()},            {"site", site_->currentIndex()},
                       {"sink_view", sinkView_->currentIndex()}, {"lens_position", lensPos_->value()},
                       {"lens_top_k", lensTopK_->value()},    {"trace_neuron", traceNeuron_->text()},
                       {"trace_scale", traceScale_->value()}, {"massive_run", massiveRun_->currentIndex()}};
}

void MechanismPanel::restoreViewState(const QJsonObject& o) {
    if (o.isEmpty()) return;
    tabs_->setCurrentIndex(std::clamp(o.value("tab").toInt(0), 0, 3));
    absThr_->setValue(o.value("abs_threshold").toDouble(100));
    ratio_->setValue(o.value("ratio").toDouble(1000));
    site_->setCurrentIndex(std::clamp(o.value("site").toInt(0), 0, 2));
    sinkView_->setCurrentIndex(std::clamp(o.value("sink_view").toInt(0), 0, 2));
    lensPos_->setValue(o.value("lens_position").toInt(-1));
    lensTopK_->setValue(o.value("lens_top_k").toInt(5));
    traceNeuron_->setText(o.value("trace_neuron").toString());
    traceScale_->setValue(o.value("trace_scale").toDouble(0));
    massiveRun_->setCurrentIndex(std::clamp(o.value("massive_run").toInt(0), 0, 1));
}

}  // namespace achilles::ui
