// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/phase_panel.h"
#include "workbench/workbench.h"
#include "plots/plot_style.h"
#include "widgets/stale_banner.h"
#include "jobs/job_runner.h"
#include "achilles/mechanism.h"
#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

struct PhasePanel::Rerun {
    explicit Rerun(JobRunner* r) : job(r, Lane::eval) {}
    JobTracker<CurveRerun> job;
    std::vector<std::pair<QString, CurveRerun>> done;  // (mode label, curve), in the order run
};

PhasePanel::~PhasePanel() = default;

PhasePanel::PhasePanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb), rerun_(std::make_unique<Rerun>(wb->jobs())) {
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("phase"));
    stylePlot(plot_, tr("Phase transition: perplexity vs. neurons masked"));
    plot_->xAxis->setLabel(tr("unique channels masked (at every position)"));
    plot_->yAxis->setLabel(tr("log10 perplexity"));
    plot_->legend->setVisible(true);
    plot_->legend->setBrush(QColor(255, 255, 255, 220));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    curve_ = plot_->addGraph();
    curve_->setName(tr("ours (stage 2)"));
    curve_->setPen(QPen(seriesColor(0), 2.2));
    curve_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(0), Qt::white, 5));
    eps_ = new QCPItemStraightLine(plot_);
    eps_->setPen(QPen(QColor(90, 90, 90), 1.2, Qt::DashLine));
    orig_ = new QCPItemStraightLine(plot_);
    orig_->setPen(QPen(QColor(150, 150, 150), 1.0, Qt::DotLine));
    nstar_ = new QCPItemStraightLine(plot_);
    nstar_->setPen(QPen(QColor(0, 140, 220), 1.6, Qt::DashDotLine));
    nstarLabel_ = new QCPItemText(plot_);
    nstarLabel_->setColor(QColor(0, 110, 190));
    nstarLabel_->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    epsLabel_ = new QCPItemText(plot_);
    epsLabel_->setColor(QColor(70, 70, 70));
    epsLabel_->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    origLabel_ = new QCPItemText(plot_);
    origLabel_->setColor(QColor(110, 110, 110));
    origLabel_->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    for (QCPItemText* t : {nstarLabel_, epsLabel_, origLabel_}) {
        t->setPadding(QMargins(3, 1, 3, 1));
        t->setBrush(QColor(255, 255, 255, 200));  // readable over grid lines and curves
    }
    plot_->setMinimumSize(360, 260);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setMouseTracking(true);

    logX_ = new QCheckBox(tr("Log x axis"), this);
    logX_->setToolTip(tr("Logarithmic channel axis"));
    auto* fit = new QPushButton(tr("Fit"), this);
    fit->setToolTip(tr("Rescale the axes to the data"));
    auto* exportBtn = new QPushButton(tr("Export…"), this);
    rerunBtn_ = new QPushButton(tr("Re-run under mode"), this);
    rerunBtn_->setObjectName(QStringLiteral("rerunCurve"));
    rerunBtn_->setToolTip(tr("Evaluate this result's stage-2 curve again with the current ablation mode (zero, mean, scale, "
                             "clamp; at every position or the first token), drawn as one more series on this axis"));
    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Dashed: threshold log10 PPL₀ + ε · dotted: original · blue: the critical set"), this));
    top->addStretch();
    top->addWidget(logX_);
    top->addWidget(rerunBtn_);
    top->addWidget(fit);
    top->addWidget(exportBtn);
    stale_ = new StaleBanner(this);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(top);
    lay->addWidget(stale_);
    lay->addWidget(plot_, 1);
    connect(wb_, &Workbench::provenanceChanged, this, [this] { stale_->setReason(wb_->searching() ? QString() : wb_->resultStaleReason()); });

    connect(exportBtn, &QPushButton::clicked, this, [this] { emit exportRequested(plot_, QStringLiteral("phase")); });
    connect(fit, &QPushButton::clicked, this, [this] { rescale(); placeLabels(); plot_->replot(); });
    connect(logX_, &QCheckBox::toggled, this, [this](bool on) {
        plot_->xAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
        if (on) plot_->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        else plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        rescale();
        placeLabels();
        plot_->replot();
    });
    connect(rerunBtn_, &QPushButton::clicked, this, &PhasePanel::rerunCurve);
    rerun_->job.onFinished([this](CurveRerun c) {
        const QString label = Workbench::ablationText(c.how);
        auto& done = rerun_->done;
        done.erase(std::remove_if(done.begin(), done.end(), [&](const auto& d) { return d.first == label; }), done.end());
        done.emplace_back(label, std::move(c));
        updateRerunButton();
        rebuild();
        emit rerunFinished();
    });
    rerun_->job.onFailed([this](const QString& m) {
        updateRerunButton();
        emit rerunFailed(m);
    });
    rerun_->job.onCancelled([this] { updateRerunButton(); });
    // The re-runs belong to the result they re-ran.
    connect(wb_, &Workbench::resultChanged, this, [this] {
        rerun_->job.cancel();
        rerun_->done.clear();
        rebuild();
    });
    for (auto sig : {&Workbench::resultChanged, &Workbench::modelLoaded, &Workbench::searchStarted, &Workbench::searchFinished,
                     &Workbench::searchCancelled, &Workbench::provenanceChanged, &Workbench::ablationChanged})
        connect(wb_, sig, this, &PhasePanel::updateRerunButton);
    connect(wb_, &Workbench::searchFailed, this, &PhasePanel::updateRerunButton);
    updateRerunButton();
    connect(wb_, &Workbench::searchStarted, this, [this] {
        rebuild();
        setPlotHint(plot_, tr("Stage 1 is ranking the neurons…\nthe curve grows here during stage 2."));
        plot_->replot();
    });
    // A failed or cancelled search leaves the previous result: show its curve again.
    for (auto sig : {&Workbench::searchFailed}) connect(wb_, sig, this, [this] { QTimer::singleShot(0, this, &PhasePanel::rebuild); });
    connect(wb_, &Workbench::searchCancelled, this, [this] { QTimer::singleShot(0, this, &PhasePanel::rebuild); });
    connect(wb_, &Workbench::curvePoint, this, [this](const CurvePoint& p) {
        if (p.ppl > 0) addPoint(p.unique_channels, std::log10(p.ppl));
        setPlotHint(plot_, {});
        updateScatter();
        rescale();
        plot_->replot(QCustomPlot::rpQueuedReplot);
    });
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        const QString t = hoverText(e->position().x(), e->position().y());
        if (t.isEmpty()) QToolTip::hideText();
        else QToolTip::showText(e->globalPosition().toPoint(), t, plot_);
    });
    rebuild();
}

void PhasePanel::updateRerunButton() {
    const bool can = wb_->result() && wb_->hasModel() && wb_->resultMatchesModel() && !wb_->searching() && !wb_->result()->curve.empty();
    rerunBtn_->setEnabled(can && !rerun_->job.running());
    rerunBtn_->setText(rerun_->job.running() ? tr("Re-running…") : tr("Re-run under %1").arg(Workbench::ablationText(wb_->ablation())));
}

void PhasePanel::rerunCurve() {
    const auto& r = wb_->result();
    if (!r || !wb_->hasModel()) return emit rerunFailed(tr("Run a search first: the re-run needs its stage-2 curve."));
    if (!wb_->resultMatchesModel())
        return emit rerunFailed(tr("This result belongs to %1, not to the loaded %2.").arg(wb_->resultProvenance().modelName(),
                                                                                          wb_->current().modelName()));
    rerun_->job.run([eng = wb_->engineShared(), res = *r, how = wb_->ablation()](Progress& p) { return rerun_curve(*eng, res, how, p); });
    updateRerunButton();
}

QStringList PhasePanel::rerunNames() const {
    QStringList l;
    for (QCPGraph* g : rerunGraphs_) l << g->name();
    return l;
}

bool PhasePanel::nstarVisible() const { return nstar_->visible() || nstarLabel_->visible(); }
QString PhasePanel::staleText() const { return stale_->isVisibleTo(const_cast<PhasePanel*>(this)) ? stale_->text() : QString(); }
bool PhasePanel::logX() const { return logX_->isChecked(); }
void PhasePanel::setLogX(bool on) { logX_->setChecked(on); }
QJsonObject PhasePanel::viewState() const { return QJsonObject{{"log_x", logX_->isChecked()}}; }
void PhasePanel::restoreViewState(const QJsonObject& o) { logX_->setChecked(o.value("log_x").toBool(false)); }

int PhasePanel::curvePoints() const { return curve_->data()->size(); }
int PhasePanel::baselineGraphs() const { return int(baselines_.size()); }

double PhasePanel::threshold() const {
    const auto& r = wb_->result();
    if (!r || r->ppl_orig <= 0) return std::numeric_limits<double>::quiet_NaN();
    return std::log10(r->ppl_orig) + r->options.epsilon;
}

void PhasePanel::addPoint(double n, double y) {
    curve_->addData(logX_->isChecked() ? std::max(n, 0.5) : n, y);
}

QString PhasePanel::hoverText(double px, double py) const {
    double best = 12.0;  // pixels
    QString text;
    for (int g = 0; g < plot_->graphCount(); ++g) {
        QCPGraph* graph = plot_->graph(g);
        for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it) {
            const double dx = plot_->xAxis->coordToPixel(it->key) - px;
            const double dy = plot_->yAxis->coordToPixel(it->value) - py;
            const double d = std::hypot(dx, dy);
            if (d < best) {
                best = d;
                text = tr("%1\nunique channels = %2\nlog10 PPL = %3\nPPL = %4")
                           .arg(graph->name())
                           .arg(it->key, 0, 'g', 6)
                           .arg(it->value, 0, 'f', 3)
                           .arg(std::pow(10.0, it->value), 0, 'g', 5);
                if (const auto& r = wb_->result(); r && r->ppl_orig > 0)
                    text += tr("\nΔ = %1").arg(it->value - std::log10(r->ppl_orig), 0, 'f', 3);
            }
        }
    }
    return text;
}

void PhasePanel::rebuild() {
    for (QCPErrorBars* b : errorBars_) plot_->removePlottable(b);
    errorBars_.clear();
    for (QCPGraph* g : baselines_) plot_->removeGraph(g);
    baselines_.clear();
    for (QCPGraph* g : rerunGraphs_) plot_->removeGraph(g);
    rerunGraphs_.clear();
    curve_->data()->clear();
    const auto& r = wb_->result();
    const bool live = wb_->searching();
    const auto& pts = (r && !live) ? r->curve : wb_->liveCurve();
    for (const CurvePoint& p : pts)
        if (p.ppl > 0) addPoint(p.unique_channels, std::log10(p.ppl));
    const bool have = r && !live && r->ppl_orig > 0;
    eps_->setVisible(have);
    orig_->setVisible(have);
    epsLabel_->setVisible(have);
    origLabel_->setVisible(have);
    if (have) {
        const double y0 = std::log10(r->ppl_orig), y1 = y0 + r->options.epsilon;
        eps_->point1->setCoords(0, y1);
        eps_->point2->setCoords(1, y1);
        orig_->point1->setCoords(0, y0);
        orig_->point2->setCoords(1, y0);
        epsLabel_->setText(tr("threshold log10 PPL₀ + ε = %1 (ε = %2)").arg(y1, 0, 'f', 2).arg(r->options.epsilon));
        origLabel_->setText(tr("original: log10 PPL₀ = %1 (PPL %2)").arg(y0, 0, 'f', 2).arg(r->ppl_orig, 0, 'g', 4));
        int color = 1;
        for (const Series& s : r->sweep) {
            QCPGraph* g = plot_->addGraph();
            const bool ours = s.name == "ours";
            g->setName(ours ? tr("ours (sweep)") : qs(s.name));
            const QColor c = ours ? seriesColor(0).lighter(130) : seriesColor(color++);
            g->setPen(QPen(c, 1.6, ours ? Qt::DashLine : Qt::SolidLine));
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, c, 3.5));
            bool spread = false;
            for (const SeriesPoint& p : s.points) {
                g->addData(logX_->isChecked() ? std::max(p.channels, 1) : p.channels, p.log10_ppl);
                spread = spread || p.log10_ppl_std > 0;
            }
            if (spread) {  // mean ± std over runs (random baseline)
                auto* bars = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
                bars->removeFromLegend();
                bars->setDataPlottable(g);
                bars->setPen(QPen(c, 1.0));
                QVector<double> err;
                for (const SeriesPoint& p : s.points) err.push_back(p.log10_ppl_std);
                bars->setData(err);
                errorBars_.push_back(bars);
            }
            baselines_.push_back(g);
        }
    }
    if (have) {
        const Qt::PenStyle styles[] = {Qt::DashDotLine, Qt::DotLine, Qt::DashDotDotLine, Qt::DashLine};
        int i = 0;
        for (const auto& [label, c] : rerun_->done) {
            QCPGraph* g = plot_->addGraph();
            g->setName(tr("stage 2, %1").arg(label));
            static const QColor rerunColors[] = {QColor(0, 150, 160), QColor(214, 70, 170), QColor(160, 160, 20), QColor(90, 90, 90)};
            const QColor col = rerunColors[i % 4];
            g->setPen(QPen(col, 2.0, styles[i % 4]));
            g->setScatterStyle(c.points.size() > 80 ? QCPScatterStyle(QCPScatterStyle::ssNone)
                                                    : QCPScatterStyle(QCPScatterStyle::ssTriangle, col, Qt::white, 5));
            for (const CurvePoint& p : c.points)
                if (p.ppl > 0) g->addData(logX_->isChecked() ? std::max(p.unique_channels, 1) : p.unique_channels, std::log10(p.ppl));
            rerunGraphs_.push_back(g);
            ++i;
        }
    }
    const bool star = have && r->faithful.n > 0;
    nstar_->setVisible(star);
    nstarLabel_->setVisible(star);
    if (star) {
        const double u = double(r->faithful.neurons.size());
        nstar_->point1->setCoords(u, 0);
        nstar_->point2->setCoords(u, 1);
    }
    if (!r && pts.empty() && !live) setPlotHint(plot_, tr("Run a search: the curve grows here while stage 2 runs."));
    else if (have && pts.empty() && r->sweep.empty()) setPlotHint(plot_, tr("This result has no stage-2 curve."));
    else setPlotHint(plot_, {});
    rescale();
    placeLabels();
    updateScatter();
    plot_->replot();
}

void PhasePanel::placeLabels() {
    const auto& r = wb_->result();
    if (!r || wb_->searching() || r->ppl_orig <= 0) return;
    const double y0 = std::log10(r->ppl_orig), y1 = y0 + r->options.epsilon;
    const bool star = nstar_->visible();
    // n* sits in the right half (the usual case: stage 2 stops at its cap or late in the scan):
    // its label goes left of the line, the threshold and original labels to the middle of the
    // plot; otherwise everything that is not the n* label goes to the right edge.
    const bool rightHalf = star && double(r->faithful.neurons.size()) > plot_->xAxis->range().center();
    const double lx = rightHalf ? 0.55 : 0.985;
    const Qt::Alignment h = rightHalf ? Qt::AlignHCenter : Qt::AlignRight;
    for (QCPItemText* t : {epsLabel_, origLabel_}) {
        t->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        t->position->setTypeY(QCPItemPosition::ptPlotCoords);
    }
    epsLabel_->position->setCoords(lx, y1);
    epsLabel_->setPositionAlignment(h | Qt::AlignBottom);
    origLabel_->position->setCoords(lx, y0);
    origLabel_->setPositionAlignment(h | Qt::AlignTop);
    if (star) {
        const QString base = r->faithful.reached
                                 ? tr("%2 channels (n* = %1 entries)").arg(r->faithful.n).arg(r->faithful.neurons.size())
                                 : tr("stopped at %2 channels (n = %1 entries): ε not reached").arg(r->faithful.n).arg(r->faithful.neurons.size());
        // Halfway between the original and the threshold lines: clear of both labels.
        nstarLabel_->position->setType(QCPItemPosition::ptPlotCoords);
        nstarLabel_->position->setCoords(double(r->faithful.neurons.size()), (y0 + y1) / 2.0);
        nstarLabel_->setPositionAlignment((rightHalf ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
        nstarLabel_->setText(rightHalf ? base + QStringLiteral(" ◂") : QStringLiteral("▸ ") + base);
    }
}

QRectF PhasePanel::thresholdLabelRect() const {
    if (!epsLabel_->visible()) return {};
    return QRectF(epsLabel_->topLeft->pixelPosition(), epsLabel_->bottomRight->pixelPosition());
}

QRectF PhasePanel::originalLabelRect() const {
    if (!origLabel_->visible()) return {};
    return QRectF(origLabel_->topLeft->pixelPosition(), origLabel_->bottomRight->pixelPosition());
}

double PhasePanel::nstarPixelX() const {
    if (!nstar_->visible()) return std::numeric_limits<double>::quiet_NaN();
    return plot_->xAxis->coordToPixel(nstar_->point1->coords().x());
}

void PhasePanel::updateScatter() {
    const bool dense = curve_->data()->size() > 80;
    curve_->setScatterStyle(dense ? QCPScatterStyle(QCPScatterStyle::ssNone)
                                  : QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(0), Qt::white, 5));
}

void PhasePanel::rescale() {
    bool found = false;
    QCPRange x, y;
    for (int g = 0; g < plot_->graphCount(); ++g) {
        bool fx = false, fy = false;
        const QCPRange gx = plot_->graph(g)->getKeyRange(fx);
        const QCPRange gy = plot_->graph(g)->getValueRange(fy);
        if (!fx || !fy) continue;
        if (!found) { x = gx; y = gy; found = true; }
        else { x.expand(gx); y.expand(gy); }
    }
    const double t = threshold();
    if (found && wb_->searching() && !curve_->data()->isEmpty()) {
        // Live: keep the final plot's scale (first point .. first point + ε) so that small
        // wiggles at the start do not look like a phase transition.
        const double first = curve_->data()->constBegin()->value;
        y.expand(first + wb_->options().epsilon);
    }
    if (!std::isnan(t) && !wb_->searching()) {
        if (!found) { x = QCPRange(0, 1); y = QCPRange(t - 1, t); found = true; }
        y.expand(t);
        y.expand(t - wb_->result()->options.epsilon);
    }
    if (!found) {
        plot_->xAxis->setRange(0, 10);
        plot_->yAxis->setRange(0, 4);
        return;
    }
    if (x.size() <= 0) x = QCPRange(x.lower - 1, x.upper + 1);
    if (y.size() <= 0) y = QCPRange(y.lower - 0.5, y.upper + 0.5);
    if (logX_->isChecked()) {
        plot_->xAxis->setRange(std::max(0.5, x.lower * 0.8), x.upper * 1.25);
    } else {
        const double pad = x.size() * 0.04;
        plot_->xAxis->setRange(std::max(-pad, x.lower - pad), x.upper + pad);
    }
    const double py = y.size() * 0.08;
    plot_->yAxis->setRange(y.lower - py, y.upper + py);
}

}  // namespace achilles::ui
