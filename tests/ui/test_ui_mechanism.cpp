// SPDX-License-Identifier: GPL-3.0-or-later
// The Mechanism panel (issue 9, GUI half): massive activations, attention sinks, the logit lens
// and super-weight tracing on the planted mechanism fixture (tests/fixtures/mechanism: a tiny
// llama whose L1 down_proj channel 21 is massive at token 0 and feeds sinks in L2.h0 and L3.h2),
// the plain "no massive activations" sentence on tests/fixtures/search/plain, and the ablation
// mode of the toggled masks (zero / mean / scale / clamp, optionally at the first token only).
// With ACHILLES_SCREENSHOT_DIR set, screenshots of each tab are written there.
#include "main_window.h"
#include "export/export.h"
#include "panels/mechanism_panel.h"
#include "panels/heatmap_panel.h"
#include "panels/neurons_panel.h"
#include "panels/model_panel.h"
#include "panels/phase_panel.h"
#include "achilles/mechanism.h"
#include "achilles/progress.h"
#include <QPushButton>
#include "ui_test_util.h"
#include "achilles/search.h"
#include "widgets/ablation_control.h"
#include "workbench/workbench.h"
#include <QComboBox>
#include <QCheckBox>
#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QJsonArray>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <set>
#include <tuple>
#include <qcustomplot.h>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::waitIdle;
using achilles::ui::uitest::loadModel;

namespace {
QString fixtureDir(const char* rel) { return QString::fromStdString(test::tests_dir()) + QLatin1Char('/') + QLatin1String(rel); }

QJsonObject readJson(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}


// Runs one tab's analysis and waits for its outcome; false on failure or timeout.
template <class F>
bool compute(MechanismPanel* p, F&& start) {
    QSignalSpy done(p, &MechanismPanel::computed);
    QSignalSpy failed(p, &MechanismPanel::failed);
    start();
    const bool ok = QTest::qWaitFor([&] { return done.count() > 0 || failed.count() > 0; }, 60000);
    if (failed.count() > 0) qWarning() << "failed:" << failed.first().at(1).toString();
    return ok && done.count() > 0;
}

bool setMask(Workbench* wb, const std::set<Neuron>& s) {
    wb->requestMask(s, QStringLiteral("test"));
    return waitIdle(wb);
}

bool near(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }
}  // namespace

class TestMechanism : public QObject {
    Q_OBJECT
    QJsonObject golden_;
    QTemporaryDir dir_;

    std::unique_ptr<MainWindow> plantedWindow() {
        auto w = std::make_unique<MainWindow>();
        w->resize(1500, 950);
        w->show();
        if (!loadModel(*w, fixtureDir("fixtures/mechanism"))) return nullptr;
        w->workbench()->setText(uitest::ids_text(golden_));
        w->showView(QStringLiteral("mechanism"));
        return w;
    }

private slots:
    void initTestCase() {
        golden_ = readJson(fixtureDir("fixtures/mechanism/golden_inputs.json"));
        QVERIFY2(!golden_.isEmpty(), "tests/fixtures/mechanism/golden_inputs.json");
        QVERIFY(dir_.isValid());
    }

    void massiveListsThePlantedHits() {
        auto w = plantedWindow();
        QVERIFY(w);
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(p->massive());
        std::set<std::tuple<QString, int, int, int>> want, got;
        for (auto v : golden_["planted"].toObject()["massive"].toArray()) {
            const QJsonObject o = v.toObject();
            want.emplace(o["site"].toString(), o["layer"].toInt(), o["token"].toInt(), o["channel"].toInt());
        }
        for (const MassiveHit& h : p->massive()->hits) got.emplace(qs(massive_site_name(h.site)), h.layer, h.token, h.channel);
        QCOMPARE(got, want);
        // the table lists exactly these, one row each
        QTableWidget* t = p->massiveTable();
        QCOMPARE(t->rowCount(), int(want.size()));
        std::set<std::tuple<int, int, int>> rows;
        for (int r = 0; r < t->rowCount(); ++r)
            rows.emplace(t->item(r, 1)->text().mid(1).toInt(), t->item(r, 2)->text().toInt(), t->item(r, 3)->text().toInt());
        QVERIFY(rows.count({1, 0, 21}) && rows.count({2, 0, 21}) && rows.count({3, 0, 21}) && rows.count({1, 0, 37}));
        QVERIFY(!p->massiveSummary().contains(QLatin1String("No massive activations")));
        // the thresholds are the rule: an impossible ratio finds nothing, and says so
        p->setThresholds(100, 1e8);
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QCOMPARE(p->massiveTable()->rowCount(), 0);
        QVERIFY2(p->massiveSummary().startsWith(QLatin1String("No massive activations")), qPrintable(p->massiveSummary()));
        p->setThresholds(100, 1000);
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        // Save JSON: the core's document
        const QString f = dir_.filePath(QStringLiteral("massive.json"));
        p->saveJson(MechanismPanel::Massive, f);
        QCOMPARE(readJson(f).value("schema").toString(), QStringLiteral("achilles.massive/1"));
        // the plots export as PNG, SVG and PDF through the export code
        for (QCustomPlot* plot : {p->massiveLinesPlot(), p->massiveMapPlot(), p->positionPlot()})
            for (const char* ext : {"png", "svg", "pdf"}) {
                const QString out = dir_.filePath(plot->objectName() + QLatin1Char('.') + QLatin1String(ext));
                exportPlot(plot, out);
                QVERIFY2(QFileInfo(out).size() > 500, qPrintable(out));
            }
        // the heatmap's SVG draws one rectangle per cell (vector cells)
        QFile svg(dir_.filePath(QStringLiteral("massiveMap.svg")));
        QVERIFY(svg.open(QIODevice::ReadOnly));
        const QByteArray doc = svg.readAll();
        QVERIFY2(doc.count("<image") <= 1, qPrintable(QString::number(doc.count("<image"))));  // the colour bar only
        QVERIFY(doc.count("<path") + doc.count("<rect") >= 4 * int(golden_["ids"].toArray().size()));
    }

    void sinksFallWhenThePlantedChannelIsMasked() {
        auto w = plantedWindow();
        QVERIFY(w);
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(setMask(w->workbench(), {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(compute(p, [p] { p->runSinks(); }));
        QVERIFY(p->sinks());
        QVERIFY(!p->sinks()->masked_mass.empty());
        p->setSinkView(MechanismPanel::SinkDiff);
        for (auto v : golden_["planted"].toObject()["sink_heads"].toArray()) {
            const int l = v.toObject()["layer"].toInt(), h = v.toObject()["head"].toInt();
            const double clean = p->sinks()->clean_mass[size_t(l)][size_t(h)];
            const double masked = p->sinks()->masked_mass[size_t(l)][size_t(h)];
            QVERIFY2(clean - masked > 0.3, qPrintable(QStringLiteral("L%1.h%2: %3 -> %4").arg(l).arg(h).arg(clean).arg(masked)));
            QVERIFY(p->sinkCell(l, h) < -0.3);  // what the masked - clean map shows
        }
        // clicking a head: its full pattern, clean and masked
        QVERIFY(compute(p, [p] { p->runSinks(std::make_pair(2, 0)); }));
        const int T = int(golden_["ids"].toArray().size());
        QCOMPARE(int(p->sinks()->clean_pattern.size()), T);
        QCOMPARE(int(p->sinks()->masked_pattern.size()), T);
        const QString f = dir_.filePath(QStringLiteral("sinks.json"));
        p->saveJson(MechanismPanel::Sinks, f);
        QCOMPARE(readJson(f).value("schema").toString(), QStringLiteral("achilles.sinks/1"));
    }

    // Each tab's report carries what it was computed on: a mask or ablation-mode change marks the
    // masked tabs (sinks, lens) stale and not the clean ones, a probe edit marks every tab, going
    // back clears it, and a model load drops the reports (no banner over nothing).
    void staleBannersFollowProbeModelAndMask() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(compute(p, [p] { p->runSinks(); }));
        QVERIFY(compute(p, [p] { p->runLens(); }));
        p->setTraceNeuron(QStringLiteral("L1.down_proj:21"));
        QVERIFY(compute(p, [p] { p->runTrace(); }));
        for (auto t : {MechanismPanel::Massive, MechanismPanel::Sinks, MechanismPanel::Lens, MechanismPanel::Trace})
            QVERIFY2(p->staleText(t).isEmpty(), qPrintable(p->staleText(t)));
        // the mask: sinks and lens compare clean with masked, the others do not mask
        QVERIFY(setMask(wb, {}));
        QVERIFY(p->staleText(MechanismPanel::Sinks).contains(QLatin1String("mask")));
        QVERIFY(p->staleText(MechanismPanel::Lens).contains(QLatin1String("no neurons masked")));
        // the massive view has a masked run beside the clean one too
        QVERIFY2(p->staleText(MechanismPanel::Massive).contains(QLatin1String("no neurons masked")),
                 qPrintable(p->staleText(MechanismPanel::Massive)));
        QVERIFY(p->staleText(MechanismPanel::Trace).isEmpty());
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(p->staleText(MechanismPanel::Sinks).isEmpty());
        QVERIFY(p->staleText(MechanismPanel::Massive).isEmpty());
        // the ablation mode of the same mask
        MaskEntry mean;
        mean.mode = Ablation::mean;
        wb->setAblation(mean);
        QVERIFY(waitIdle(wb));
        QVERIFY2(p->staleText(MechanismPanel::Lens).contains(QLatin1String("mean")), qPrintable(p->staleText(MechanismPanel::Lens)));
        wb->setAblation(MaskEntry());
        QVERIFY(waitIdle(wb));
        QVERIFY(p->staleText(MechanismPanel::Lens).isEmpty());
        // the probe
        const QString text = wb->text();
        QJsonArray ids = golden_["ids"].toArray();
        ids.removeLast();
        QStringList sl;
        for (auto v : ids) sl << QString::number(v.toInt());
        wb->setText(QStringLiteral("ids: ") + sl.join(QLatin1Char(' ')));
        QVERIFY(waitIdle(wb));
        for (auto t : {MechanismPanel::Massive, MechanismPanel::Sinks, MechanismPanel::Lens, MechanismPanel::Trace})
            QVERIFY2(p->staleText(t).contains(QLatin1String("probe text")), qPrintable(p->staleText(t)));
        QVERIFY(p->staleText(MechanismPanel::Massive).contains(QLatin1String("Find massive activations")));
        wb->setText(text);
        QVERIFY(waitIdle(wb));
        QVERIFY(p->staleText(MechanismPanel::Massive).isEmpty());
        // rerunning clears a tab's banner
        wb->setText(QStringLiteral("ids: ") + sl.join(QLatin1Char(' ')));
        QVERIFY(waitIdle(wb));
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(p->staleText(MechanismPanel::Massive).isEmpty());
        QVERIFY(!p->staleText(MechanismPanel::Sinks).isEmpty());
        // the model: the reports belong to the old one and are dropped
        QVERIFY(loadModel(*w, QStringLiteral("default")));
        QVERIFY(!p->massive() && !p->sinks());
        for (auto t : {MechanismPanel::Massive, MechanismPanel::Sinks, MechanismPanel::Lens, MechanismPanel::Trace})
            QVERIFY2(p->staleText(t).isEmpty(), qPrintable(p->staleText(t)));
        w->markClean();
    }

    // With L1.down_proj:21 toggled the Massive tab has the masked forward beside the clean one:
    // the clean view lists the five planted entries with their masked values, the masked view
    // only down_proj's input (upstream of the mask), and the plots say which run they show.
    void massiveMaskedRunShowsTheSpikeGone() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(!p->massive()->masked);  // nothing toggled: clean only
        p->setMassiveMasked(true);
        QVERIFY(!p->massiveMaskedShown());
        QCOMPARE(p->massiveTable()->rowCount(), 5);
        QVERIFY(p->massiveSummary().contains(QLatin1String("No masked run")));
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(p->massive()->masked);
        QVERIFY(p->massiveMaskedShown());
        QTableWidget* t = p->massiveTable();
        QCOMPARE(t->rowCount(), 1);
        QCOMPARE(t->item(0, 1)->text(), QStringLiteral("L1"));
        QCOMPARE(t->item(0, 3)->text(), QStringLiteral("37"));
        auto title = [](QCustomPlot* plot) { return qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0))->text(); };
        QVERIFY2(title(p->massiveMapPlot()).contains(QLatin1String("masked (L1.down_proj:21")), qPrintable(title(p->massiveMapPlot())));
        QVERIFY(p->massiveLinesPlot()->yAxis->label().contains(QLatin1String("masked")));
        // the residual top-1 of layers >= 1 under the mask is far below the clean spike
        const auto& r = *p->massive();
        for (int l = 1; l < 4; ++l) {
            const double c = std::abs(r.sites[0][size_t(l)].top[0].value), m = std::abs(r.masked->sites[0][size_t(l)].top[0].value);
            QVERIFY2(c > 1000 && m < 100, qPrintable(QStringLiteral("L%1 clean %2 masked %3").arg(l).arg(c).arg(m)));
            QCOMPARE(p->massiveLinesPlot()->graph(0)->data()->at(l)->value, m);
        }
        p->setMassiveMasked(false);
        QCOMPARE(t->rowCount(), 5);
        QVERIFY(title(p->massiveMapPlot()).endsWith(QLatin1String("clean")));
        QVERIFY(p->massiveLinesPlot()->yAxis->label().contains(QLatin1String("clean")));
        int zeroed = 0;
        for (int row = 0; row < t->rowCount(); ++row)
            if (t->item(row, 0)->text() == QLatin1String("down_proj output")) {
                QCOMPARE(t->item(row, 8)->text().toDouble(), 0.0);  // masked value: zeroed
                ++zeroed;
            }
        QCOMPARE(zeroed, 1);
        QVERIFY(p->massiveSummary().contains(QLatin1String("Under the mask that entry is 0; 1 entry meets")));
        w->markClean();
    }

    // The heatmap marks the cells holding critical-set neurons, the drill-down marks the critical
    // (square) and minimal-set (cross) channels with legend entries, and its tooltip says whether
    // a channel is in either set.
    void heatmapMarksTheCriticalSet() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        SearchResult res;
        res.layers = 4;
        res.ids = {1, 17, 42, 9};
        auto ranked = [](int l, Module m, int c, double imp) {
            RankedEntry e;
            e.neuron = {l, m, c};
            e.importance = imp;
            return e;
        };
        res.ranking = {ranked(1, Module::down_proj, 21, 5), ranked(1, Module::down_proj, 3, 2), ranked(2, Module::o_proj, 7, 1),
                       ranked(0, Module::up_proj, 5, 0.5)};
        res.faithful.name = "faithful";
        res.faithful.n = 3;
        res.faithful.reached = true;
        res.faithful.neurons = {{1, Module::down_proj, 21}, {2, Module::o_proj, 7}};
        CriticalSet minimal;
        minimal.name = "minimal";
        minimal.reached = true;
        minimal.neurons = {{1, Module::down_proj, 21}};
        res.minimal = minimal;
        wb->setResult(res);
        QVERIFY(waitIdle(wb));
        HeatmapPanel* h = w->heatmapPanel();
        using Cells = std::vector<std::pair<int, int>>;
        QCOMPARE(h->criticalCells(), (Cells{{1, int(Module::down_proj)}, {2, int(Module::o_proj)}}));
        QCOMPARE(h->plot()->graph(0)->dataCount(), 2);
        QVERIFY(h->plot()->legend->visible());
        // the marks do not depend on the colouring
        h->setMetric(HeatmapPanel::MaxImportance);
        QCOMPARE(h->populatedCells(), 3);
        QCOMPARE(h->criticalCells().size(), size_t(2));
        h->selectCell(1, int(Module::down_proj));
        QCOMPARE(h->drillCriticalMarks(), (Cells{{1, 21}}));
        QCOMPARE(h->drillMinimalMarks(), (Cells{{1, 21}}));
        QCOMPARE(h->drillPlot()->legend->itemCount(), 2);
        QCustomPlot* d = h->drillPlot();
        d->replot();
        auto hover = [&](int layer, int ch) { return h->drillHoverText(d->xAxis->coordToPixel(ch), d->yAxis->coordToPixel(layer)); };
        QVERIFY2(hover(1, 21).contains(QLatin1String("\nin the critical set, in the minimal set")), qPrintable(hover(1, 21)));
        QVERIFY2(hover(1, 3).contains(QLatin1String("not in the critical set, not in the minimal set")), qPrintable(hover(1, 3)));
        h->selectCell(2, int(Module::o_proj));
        QCOMPARE(h->drillCriticalMarks(), (Cells{{2, 7}}));
        QVERIFY(h->drillMinimalMarks().empty());
        QCOMPARE(d->legend->itemCount(), 1);
        h->selectCell(0, int(Module::up_proj));
        QVERIFY(h->drillCriticalMarks().empty() && h->drillMinimalMarks().empty());
        QVERIFY(!d->legend->visible());
        wb->setResult(std::nullopt);
        QVERIFY(h->criticalCells().empty());
        QCOMPARE(h->plot()->graph(0)->dataCount(), 0);
        QVERIFY(!h->plot()->legend->visible());
        w->markClean();
    }

    // "Export all figures" (and headless --export-figures) includes the mechanism plots that are
    // computed, and only those.
    void exportAllFiguresIncludesTheMechanismPlots() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        SearchOptions o = wb->options();
        o.samples = 4;
        wb->setOptions(o);
        QSignalSpy done(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(done.wait(60000) && waitIdle(wb));
        auto names = [](const QStringList& files) {
            QStringList n;
            for (const QString& f : files) n << QFileInfo(f).fileName();
            return n;
        };
        QStringList files = names(w->exportAllFigures(dir_.filePath(QStringLiteral("all-1"))));
        QVERIFY(files.contains(QStringLiteral("phase-transition.pdf")));
        QVERIFY(files.contains(QStringLiteral("mechanism-positions.svg")));  // from the result
        QVERIFY(!files.contains(QStringLiteral("mechanism-lines.png")));     // not computed yet
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(compute(p, [p] { p->runSinks(std::make_pair(2, 0)); }));
        QVERIFY(compute(p, [p] { p->runLens(); }));
        files = names(w->exportAllFigures(dir_.filePath(QStringLiteral("all-2"))));
        for (const char* n : {"mechanism-lines", "mechanism-heatmap", "mechanism-positions", "mechanism-sinks", "mechanism-pattern-clean",
                              "mechanism-pattern-masked", "mechanism-lens"})
            for (const char* ext : {".png", ".svg", ".pdf"}) {
                const QString f = QLatin1String(n) + QLatin1String(ext);
                QVERIFY2(files.contains(f), qPrintable(f));
                QVERIFY(QFileInfo(dir_.filePath(QStringLiteral("all-2/") + f)).size() > 1000);
            }
        const QImage png(dir_.filePath(QStringLiteral("all-2/mechanism-lines.png")));
        QVERIFY(!png.isNull() && png.width() >= 1200);
        w->markClean();
    }

    // The phase panel's "Re-run under <mode>": the result's stage-2 curve under the current
    // ablation mode, as one more series on the same axis (unique channels masked), named by the
    // mode, equal to core rerun_curve; a second run of the same mode replaces it; dropped with the result.
    void rerunCurveUnderTheAblationMode() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        PhasePanel* ph = w->phasePanel();
        QVERIFY(!ph->rerunButton()->isEnabled());  // no result yet
        SearchOptions o = wb->options();
        o.samples = 4;
        wb->setOptions(o);
        QSignalSpy done(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(done.wait(60000) && waitIdle(wb));
        QVERIFY(ph->rerunButton()->isEnabled());
        MaskEntry mean;
        mean.mode = Ablation::mean;
        wb->setAblation(mean);
        QVERIFY(waitIdle(wb));
        QVERIFY(ph->rerunButton()->text().contains(QLatin1String("mean")));
        QSignalSpy rerun(ph, &PhasePanel::rerunFinished);
        QTest::mouseClick(ph->rerunButton(), Qt::LeftButton);
        QVERIFY(rerun.wait(60000));
        QCOMPARE(ph->rerunNames().size(), 1);
        QVERIFY2(ph->rerunNames().front().contains(QLatin1String("mean")), qPrintable(ph->rerunNames().front()));
        const CurveRerun ref = rerun_curve(*wb->engineShared(), *wb->result(), mean, null_progress());
        QCPGraph* g = ph->rerunGraph(0);
        QCOMPARE(g->valueAxis(), ph->plot()->yAxis);
        QCOMPARE(g->keyAxis(), ph->plot()->xAxis);
        QCOMPARE(g->data()->size(), int(ref.points.size()));
        QCOMPARE(int(ref.points.size()), int(wb->result()->curve.size()));
        int i = 0;
        bool differs = false;
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it, ++i) {
            QCOMPARE(it->key, double(ref.points[size_t(i)].unique_channels));
            QVERIFY(std::abs(it->value - std::log10(ref.points[size_t(i)].ppl)) < 1e-12);
            differs = differs || std::abs(ref.points[size_t(i)].ppl - wb->result()->curve[size_t(i)].ppl) > 1e-9;
        }
        QVERIFY(differs);  // mean is not zero on the planted channel
        // scale ×3: a second series; mean again: replaced, not added
        MaskEntry sc;
        sc.mode = Ablation::scale;
        sc.factor = 3;
        wb->setAblation(sc);
        QVERIFY(waitIdle(wb));
        ph->rerunCurve();
        QVERIFY(rerun.wait(60000));
        wb->setAblation(mean);
        QVERIFY(waitIdle(wb));
        ph->rerunCurve();
        QVERIFY(rerun.wait(60000));
        QCOMPARE(ph->rerunNames().size(), 2);
        QVERIFY(ph->plot()->legend->hasItemWithPlottable(ph->rerunGraph(0)));
        if (!qEnvironmentVariableIsEmpty("ACHILLES_SCREENSHOT_DIR"))
            w->grabView(QStringLiteral("phase")).save(qEnvironmentVariable("ACHILLES_SCREENSHOT_DIR") + QStringLiteral("/phase-rerun.png"));
        wb->setResult(std::nullopt);
        QCOMPARE(ph->rerunNames().size(), 0);
        w->markClean();
    }

    void traceNamesThePlantedWeight() {
        auto w = plantedWindow();
        QVERIFY(w);
        MechanismPanel* p = w->mechanismPanel();
        p->setTraceNeuron(QStringLiteral("L1.down_proj:21"));
        QVERIFY(compute(p, [p] { p->runTrace(); }));
        QVERIFY(p->trace() && !p->trace()->weights.empty());
        QCOMPARE(p->trace()->weights.front().row, 21);
        QCOMPARE(p->trace()->weights.front().col, 37);
        QCOMPARE(p->trace()->token, 0);
        QVERIFY(p->traceTable()->item(0, 0)->text().contains(QLatin1String("[21,37]")));
        QVERIFY(p->traceSummary().contains(QLatin1String("PPL clean")));
        QVERIFY(p->trace()->ppl_channel > p->trace()->ppl_clean);
        // a typo is an error dialog, not a crash
        QSignalSpy failed(p, &MechanismPanel::failed);
        p->setTraceNeuron(QStringLiteral("L1.q_proj:3"));
        p->runTrace();
        QCOMPARE(failed.count(), 1);
        QVERIFY(!p->running());
    }

    void lensShowsEveryLayer() {
        auto w = plantedWindow();
        QVERIFY(w);
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(setMask(w->workbench(), {Neuron{1, Module::down_proj, 21}}));
        p->setLensPosition(3);
        QVERIFY(compute(p, [p] { p->runLens(); }));
        const int L = w->workbench()->info()->layers;
        QVERIFY(p->lens());
        QCOMPARE(p->lens()->position, 3);
        QCOMPARE(int(p->lens()->clean.layers.size()), L);
        QCOMPARE(int(p->lens()->clean.true_rank_all.size()), L);
        QVERIFY(p->lens()->masked);
        QCOMPARE(p->lensTable()->rowCount(), L);
        QVERIFY(p->lensTable()->item(0, 4)->text() != QLatin1String("—"));
    }

    void plainModelSaysNoMassiveActivations() {
        auto w = std::make_unique<MainWindow>();
        w->show();
        QVERIFY(loadModel(*w, fixtureDir("fixtures/search/plain")));
        w->workbench()->setText(uitest::ids_text(uitest::search_golden()));
        MechanismPanel* p = w->mechanismPanel();
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QCOMPARE(p->massiveTable()->rowCount(), 0);
        QVERIFY2(p->massiveSummary().startsWith(QLatin1String("No massive activations")), qPrintable(p->massiveSummary()));
        QVERIFY(p->findChild<QLabel*>(QStringLiteral("massiveSummary"))->isVisibleTo(p));
    }

    void ablationModeChangesThePerplexity() {
        auto w = plantedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        const QJsonObject ref = golden_["reference"].toObject()["ablation_ppl"].toObject();
        const double zero = wb->pplMasked();
        QVERIFY2(near(zero, ref["zero"].toDouble(), 1e-3), qPrintable(QString::number(zero)));
        // the control in the Neurons panel
        auto* ctl = w->neuronsPanel()->findChild<AblationControl*>();
        QVERIFY(ctl);
        QSignalSpy ppl(wb, &Workbench::pplChanged);
        ctl->modeBox()->setCurrentIndex(ctl->modeBox()->findData(int(Ablation::mean)));
        QVERIFY(ppl.wait(30000) && waitIdle(wb));
        const double mean = wb->pplMasked();
        QVERIFY(std::abs(mean - zero) > 1.0);
        QVERIFY2(near(mean, ref["mean"].toDouble(), 1e-3), qPrintable(QString::number(mean)));
        QVERIFY(w->neuronsPanel()->pplText().contains(QLatin1String("mean")));
        // the mechanism panel's copy of the control follows
        auto* other = w->mechanismPanel()->findChild<AblationControl*>();
        QVERIFY(other && other->modeBox()->currentData().toInt() == int(Ablation::mean));
        // only at the first token
        ctl->firstTokenBox()->setChecked(true);
        QVERIFY(QTest::qWaitFor([&] { return !wb->busy() && near(wb->pplMasked(), ref["mean@0"].toDouble(), 1e-3); }, 30000));
        QCOMPARE(wb->maskSpec().front().positions, std::vector<int>{0});
        // the session's view state carries the mode; a session without it is the paper's zero
        const QJsonObject v = w->viewState();
        QCOMPARE(v["ablation"].toObject()["mode"].toString(), QStringLiteral("mean"));
        QVERIFY(v["ablation"].toObject()["first_token"].toBool());
        w->restoreViewState(QJsonObject{});
        QCOMPARE(wb->ablation(), MaskEntry());
        w->restoreViewState(v);
        QCOMPARE(wb->ablation().mode, Ablation::mean);
        // scale ×3 and clamp p90 against the float64 reference
        MaskEntry s;
        s.mode = Ablation::scale;
        s.factor = 3;
        wb->setAblation(s);
        QVERIFY(QTest::qWaitFor([&] { return !wb->busy() && near(wb->pplMasked(), ref["scale:3"].toDouble(), 1e-3); }, 30000));
        MaskEntry c;
        c.mode = Ablation::clamp;
        c.percentile = 90;
        wb->setAblation(c);
        QVERIFY(QTest::qWaitFor([&] { return !wb->busy() && near(wb->pplMasked(), ref["clamp:90"].toDouble(), 1e-3); }, 30000));
        w->markClean();
    }

    // Screenshots of each tab on the planted fixture (only with ACHILLES_SCREENSHOT_DIR).
    void screenshots() {
        const QString out = qEnvironmentVariable("ACHILLES_SCREENSHOT_DIR");
        if (out.isEmpty()) QSKIP("ACHILLES_SCREENSHOT_DIR is not set");
        QDir().mkpath(out);
        auto w = plantedWindow();
        QVERIFY(w);
        MechanismPanel* p = w->mechanismPanel();
        Workbench* wb = w->workbench();
        {  // a search first: the critical set and its entries by position
            SearchOptions o = wb->options();
            o.samples = 2;
            o.max_steps = 8;
            wb->setOptions(o);
            QSignalSpy finished(wb, &Workbench::searchFinished);
            wb->runSearch();
            QVERIFY(finished.wait(60000) && waitIdle(wb));
        }
        QVERIFY(setMask(wb, {Neuron{1, Module::down_proj, 21}}));
        QVERIFY(compute(p, [p] { p->runMassive(); }));
        QVERIFY(compute(p, [p] { p->runSinks(std::make_pair(2, 0)); }));
        p->setSinkView(MechanismPanel::SinkDiff);
        p->setLensPosition(1);
        p->setLensMasked(true);
        QVERIFY(compute(p, [p] { p->runLens(); }));
        p->setTraceNeuron(QStringLiteral("L1.down_proj:21"));
        QVERIFY(compute(p, [p] { p->runTrace(); }));
        const char* names[] = {"massive", "sinks", "lens", "trace"};
        for (int i = 0; i < 4; ++i) {
            p->tabs()->setCurrentIndex(i);
            p->setMassiveMasked(false);
            const QImage img = w->grabView(QStringLiteral("mechanism"));
            QVERIFY(img.save(out + QStringLiteral("/mechanism-%1.png").arg(QLatin1String(names[i]))));
        }
        p->tabs()->setCurrentIndex(0);
        p->setMassiveMasked(true);
        QVERIFY(w->grabView(QStringLiteral("mechanism")).save(out + QStringLiteral("/mechanism-massive-masked.png")));
        QVERIFY(w->grabView(QStringLiteral("heatmap")).save(out + QStringLiteral("/heatmap-critical.png")));
        w->markClean();
    }
};

QTEST_MAIN(TestMechanism)
#include "test_ui_mechanism.moc"
