// SPDX-License-Identifier: GPL-3.0-or-later
// End to end through the main window on the planted search fixture (tests/fixtures/search/planted):
// load, search, heatmap and curve populated, toggle a neuron -> PPL changes (golden values from the
// independent Python implementation in tests/fixtures/search/golden.json), generate both sides,
// export PNG/SVG/PDF/CSV/JSON/HTML, save a session and reopen it with equal state.
#include "achilles/error.h"
#include "workbench/workbench.h"
#include "export/export.h"
#include "main_window.h"
#include "models/neuron_model.h"
#include "panels/generations_panel.h"
#include "panels/heatmap_panel.h"
#include "panels/model_panel.h"
#include "panels/neurons_panel.h"
#include "panels/phase_panel.h"
#include "panels/probe_panel.h"
#include "test_paths.h"
#include "ui_test_util.h"
#include "widgets/token_flow.h"
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QMimeData>
#include <QProcess>
#include <QUrl>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QSvgRenderer>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QUndoStack>
#include <cmath>
#include <qcustomplot.h>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::Shown;
using achilles::ui::uitest::waitIdle;

namespace {
QString fixture() { return uitest::planted_fixture(); }
QJsonObject golden() { return uitest::search_golden(); }
QString idsText(const QJsonObject& g) { return uitest::ids_text(g); }
bool near(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }
}  // namespace

class TestE2E : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<MainWindow> w_;
    std::unique_ptr<Shown> shown_;
    QJsonObject golden_;
    Neuron planted_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        golden_ = golden();
        if (golden_.isEmpty() || !QFile::exists(fixture() + QStringLiteral("/model.safetensors")))
            QSKIP("tests/fixtures/search is missing");
        const QJsonObject pc = golden_.value("planted_channel").toObject();
        planted_ = Neuron{pc.value("layer").toInt(), *module_from_name(pc.value("module").toString().toStdString()),
                          pc.value("channel").toInt()};
        w_ = std::make_unique<MainWindow>();
        shown_ = std::make_unique<Shown>(w_.get());
        w_->resize(1400, 900);
        w_->show();
    }

    void loadModel() {
        Workbench* wb = w_->workbench();
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        w_->modelPanel()->loadPath(fixture());
        QVERIFY(loaded.wait(30000));
        QVERIFY(wb->hasModel());
        QCOMPARE(wb->info()->layers, 2);
        QVERIFY(w_->modelPanel()->cardText().contains(QStringLiteral("LlamaForCausalLM")));
    }

    void badFolderIsAnErrorAndKeepsModel() {
        Workbench* wb = w_->workbench();
        QSignalSpy failed(wb, &Workbench::modelFailed);
        w_->modelPanel()->loadPath(dir_.filePath(QStringLiteral("no-such-model")));
        QVERIFY(failed.wait(30000));
        QVERIFY(!shown_->error.isEmpty());
        QVERIFY(wb->hasModel());  // the previous model stays usable
        QCOMPARE(wb->info()->layers, 2);
    }

    void probeTokens() {
        Workbench* wb = w_->workbench();
        QSignalSpy tok(w_->probePanel(), &ProbePanel::tokenized);
        wb->setText(idsText(golden_));
        QVERIFY(tok.wait(10000));
        QCOMPARE(w_->probePanel()->tokenCount(), golden_.value("ids").toArray().size());
        const auto& chips = w_->probePanel()->tokenView()->chips();
        QCOMPARE(int(chips.size()), golden_.value("ids").toArray().size());
        QVERIFY(chips[1].tooltip.contains(QStringLiteral("id %1").arg(golden_.value("ids").toArray()[1].toInt())));
    }

    void search() {
        Workbench* wb = w_->workbench();
        SearchOptions o = wb->options();
        o.samples = 4;
        o.seed = 42;
        o.epsilon = 3.0;
        o.max_steps = 30;
        wb->setOptions(o);
        QSignalSpy points(wb, &Workbench::curvePoint);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        QSignalSpy failed(wb, &Workbench::searchFailed);
        // measure how long the UI thread is ever blocked while the search runs
        qint64 maxGap = 0;
        QElapsedTimer tick;
        QTimer timer;
        timer.setInterval(5);
        connect(&timer, &QTimer::timeout, this, [&] { maxGap = std::max(maxGap, tick.restart()); });
        tick.start();
        timer.start();
        wb->runSearch();
        QVERIFY2(finished.wait(60000) || !failed.isEmpty(), "search did not finish");
        timer.stop();
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(0).toString()));
        qInfo("max UI event-loop gap during the search: %lld ms", maxGap);
        QVERIFY2(maxGap < 100, qPrintable(QString::number(maxGap)));
        const auto& r = wb->result();
        QVERIFY(r.has_value());
        QVERIFY(near(r->ppl_orig, golden_.value("planted_eps100").toObject().value("ppl_orig").toDouble(), 1e-4));
        QVERIFY(!r->ranking.empty());
        QCOMPARE(r->ranking.front().neuron, planted_);
        QVERIFY(r->faithful.reached);
        QVERIFY(std::count(r->faithful.neurons.begin(), r->faithful.neurons.end(), planted_) == 1);
        // live curve: points arrived while running, and the finished plot shows the curve
        QVERIFY(points.count() >= 1);
        QCOMPARE(w_->phasePanel()->curvePoints(), int(r->curve.size()));
        QVERIFY(std::isfinite(w_->phasePanel()->threshold()));
        QVERIFY(near(w_->phasePanel()->threshold(), std::log10(r->ppl_orig) + 3.0, 1e-9));
        // the threshold and original labels sit on their lines, inside the plot, and off the n* line
        {
            PhasePanel* ph = w_->phasePanel();
            QVERIFY(!w_->grabView(QStringLiteral("phase")).isNull());  // lays the plot out at a real size
            const QRect ar = ph->plot()->axisRect()->rect();
            const double nx = ph->nstarPixelX();
            QVERIFY(std::isfinite(nx));
            QCOMPARE(std::lround(nx), std::lround(ph->plot()->xAxis->coordToPixel(r->faithful.n)));
            const double yEps = ph->plot()->yAxis->coordToPixel(ph->threshold());
            const double yOrig = ph->plot()->yAxis->coordToPixel(std::log10(r->ppl_orig));
            for (const auto& [rect, y] : {std::pair{ph->thresholdLabelRect(), yEps}, std::pair{ph->originalLabelRect(), yOrig}}) {
                QVERIFY(rect.isValid());
                QVERIFY2(!(rect.left() <= nx && nx <= rect.right()),
                         qPrintable(QStringLiteral("label %1..%2 crosses n* at %3").arg(rect.left()).arg(rect.right()).arg(nx)));
                QVERIFY(rect.left() >= ar.left() && rect.right() <= ar.right());
                QVERIFY(std::abs(rect.bottom() - y) < 2 || std::abs(rect.top() - y) < 2);  // just above / below its line
            }
        }
        // heatmap: critical count in the planted cell
        HeatmapPanel* hm = w_->heatmapPanel();
        hm->setMetric(HeatmapPanel::CriticalCount);
        const int inCell = int(std::count_if(r->faithful.neurons.begin(), r->faithful.neurons.end(), [&](const Neuron& n) {
            return n.layer == planted_.layer && n.module == planted_.module;
        }));
        QCOMPARE(hm->cellValue(planted_.layer, int(planted_.module)), double(inCell));
        QCOMPARE(hm->populatedCells() > 0, true);
        hm->setMetric(HeatmapPanel::MaxImportance);
        QCOMPARE(hm->cellValue(planted_.layer, int(planted_.module)), r->ranking.front().importance);
        // drill-down
        hm->selectCell(planted_.layer, int(planted_.module));
        const int entries = int(std::count_if(r->ranking.begin(), r->ranking.end(), [&](const RankedEntry& e) {
            return e.neuron.layer == planted_.layer && e.neuron.module == planted_.module;
        }));
        QCOMPARE(hm->drillRows(), entries);
        QCOMPARE(hm->drillValue(planted_.layer, planted_.channel), r->ranking.front().importance);
        // item models of the panels stay consistent
        QAbstractItemModelTester t1(w_->neuronModel(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(w_->neuronsPanel()->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(w_->neuronsPanel()->proxy()->rowCount(), int(r->ranking.size()));
    }

    void sweepBaselinesOverlaid() {
        // A separate window: sweep with a baseline, and the phase plot overlays every series.
        MainWindow w;
        Workbench* wb = w.workbench();
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        w.modelPanel()->loadPath(fixture());
        QVERIFY(loaded.wait(30000));
        wb->setText(idsText(golden_));
        SearchOptions o;
        o.samples = 2;
        o.max_steps = 5;
        o.sweep = 4;
        o.baselines = {"random", "activation"};
        o.random_runs = 2;
        wb->setOptions(o);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        QSignalSpy failed(wb, &Workbench::searchFailed);
        wb->runSearch();
        QVERIFY2(finished.wait(60000), failed.isEmpty() ? "timeout" : qPrintable(failed.at(0).at(0).toString()));
        const auto& r = wb->result();
        QVERIFY(r->sweep.size() >= 3);  // ours + 2 baselines
        QCOMPARE(w.phasePanel()->baselineGraphs(), int(r->sweep.size()));
        // hovering a plotted baseline point reports its values
        w.resize(1200, 800);
        w.show();
        w.showView(QStringLiteral("phase"));
        QCustomPlot* plot = w.phasePanel()->plot();
        plot->replot();
        const Series& s = r->sweep.back();
        const SeriesPoint& pt = s.points.back();
        const QString tip = w.phasePanel()->hoverText(plot->xAxis->coordToPixel(pt.channels),
                                                      plot->yAxis->coordToPixel(pt.log10_ppl));
        QVERIFY2(tip.contains(QStringLiteral("unique channels = %1").arg(pt.channels)), qPrintable(tip));
        QCOMPARE(plot->xAxis->label(), QStringLiteral("unique channels masked (at every position)"));
        // The main curve shares the unit: each stage-2 point sits at its unique-channel count.
        for (const CurvePoint& p : r->curve)
            if (p.ppl > 0) {
                bool found = false;
                for (auto it = plot->graph(0)->data()->constBegin(); it != plot->graph(0)->data()->constEnd(); ++it)
                    found = found || (it->key == p.unique_channels && std::abs(it->value - std::log10(p.ppl)) < 1e-9);
                QVERIFY2(found, qPrintable(QString("curve point n=%1 (u=%2)").arg(p.n).arg(p.unique_channels)));
            }
    }

    void toggleChangesPerplexity() {
        Workbench* wb = w_->workbench();
        NeuronsPanel* np = w_->neuronsPanel();
        QAbstractItemModelTester t(np->proxy(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        const double orig = wb->result()->ppl_orig;
        // find the planted neuron's row through the view's proxy and tick it
        int row = -1;
        for (int i = 0; i < np->proxy()->rowCount() && row < 0; ++i) {
            const QModelIndex src = np->proxy()->mapToSource(np->proxy()->index(i, 0));
            if (w_->neuronModel()->entry(src.row()).neuron == planted_) row = i;
        }
        QVERIFY(row >= 0);
        QSignalSpy ppl(wb, &Workbench::pplChanged);
        QVERIFY(np->proxy()->setData(np->proxy()->index(row, 0), Qt::Checked, Qt::CheckStateRole));
        QVERIFY(ppl.wait(20000));
        const double masked = ppl.last().at(1).toDouble();
        // golden: the Python reference's PPL with the planted channel masked (curve point n=1)
        const double goldenMasked = golden_.value("planted_eps100").toObject().value("curve").toArray()[0].toObject().value("ppl").toDouble();
        QVERIFY2(near(masked, goldenMasked, 1e-3), qPrintable(QStringLiteral("%1 vs %2").arg(masked).arg(goldenMasked)));
        QVERIFY(near(ppl.last().at(0).toDouble(), orig, 1e-9));
        QVERIFY(np->pplText().contains(QStringLiteral("1 masked")));
        // newest wins: several quick toggles, only the final mask's value is shown
        ppl.clear();
        wb->requestMask({}, QStringLiteral("clear"));
        wb->requestMask({planted_}, QStringLiteral("again"));
        wb->requestMask({}, QStringLiteral("clear again"));
        QVERIFY(waitIdle(wb));
        QVERIFY(!ppl.isEmpty());
        QVERIFY(near(wb->pplMasked(), orig, 1e-6));
        // undo restores the planted mask and its perplexity
        ppl.clear();
        wb->undoStack()->undo();
        QVERIFY(waitIdle(wb));
        QCOMPARE(wb->masked(), std::set<Neuron>{planted_});
        QVERIFY(near(wb->pplMasked(), goldenMasked, 1e-3));
    }

    void generateBothSides() {
        Workbench* wb = w_->workbench();
        GenerationsPanel* gp = w_->generationsPanel();
        gp->setPrompt(QStringLiteral("ids: 1 17 42 9"));
        wb->generation().options.max_new = 8;
        wb->generation().options.stop_at_eos = false;
        wb->generation().options.greedy = true;
        QSignalSpy tokens(wb, &Workbench::generationToken);
        QSignalSpy done(wb, &Workbench::generationFinished);
        QSignalSpy failed(wb, &Workbench::generationFailed);
        wb->generate();
        QVERIFY2(done.wait(30000), failed.isEmpty() ? "timeout" : qPrintable(failed.at(0).at(0).toString()));
        const GenerationState& g = wb->generation();
        QVERIFY(g.valid);
        QCOMPARE(int(g.original.steps.size()), 8);
        QCOMPARE(int(g.masked.steps.size()), 8);
        QCOMPARE(tokens.count(), 16);  // streamed token by token
        QCOMPARE(int(gp->originalView()->chips().size()), 8);
        QCOMPARE(int(gp->maskedView()->chips().size()), 8);
        int diverge = -1;
        for (int i = 0; i < 8 && diverge < 0; ++i)
            if (g.original.steps[size_t(i)].id != g.masked.steps[size_t(i)].id) diverge = i;
        QCOMPARE(gp->firstDivergence(), diverge);
        if (diverge >= 0) QVERIFY(gp->maskedView()->chips()[size_t(diverge)].outlined);
        for (const auto& s : g.original.steps) QVERIFY(s.logprob <= 0 && std::isfinite(s.logprob));
        QVERIFY(gp->originalView()->chips()[0].tooltip.contains(QStringLiteral("id %1").arg(g.original.steps[0].id)));
    }

    void exports() {
        const QString base = dir_.path() + QStringLiteral("/");
        PlotExportOptions o;
        o.width = 640;
        o.height = 400;
        o.dpi = 192;
        for (QCustomPlot* p : {w_->heatmapPanel()->plot(), w_->phasePanel()->plot(), w_->heatmapPanel()->drillPlot()}) {
            const QString n = base + p->objectName();
            exportPlot(p, n + QStringLiteral(".png"), o);
            exportPlot(p, n + QStringLiteral(".svg"), o);
            exportPlot(p, n + QStringLiteral(".pdf"), o);
            QImage img(n + QStringLiteral(".png"));
            QVERIFY(!img.isNull());
            QCOMPARE(img.size(), QSize(1280, 800));  // size × dpi/96
            QSvgRenderer svg(n + QStringLiteral(".svg"));
            QVERIFY(svg.isValid());
            QCOMPARE(svg.viewBox(), QRect(0, 0, 640, 400));
            QFile pdf(n + QStringLiteral(".pdf"));
            QVERIFY(pdf.open(QIODevice::ReadOnly));
            const QByteArray bytes = pdf.readAll();
            QVERIFY(bytes.startsWith("%PDF-"));
            QVERIFY(bytes.contains("/Type /Page") || bytes.contains("/Type/Page"));
            QVERIFY(bytes.trimmed().endsWith("%%EOF"));
        }
        QVERIFY_THROWS_EXCEPTION(Error, exportPlot(w_->phasePanel()->plot(), base + QStringLiteral("x.bmpx"), o));
        exportCsv(w_->neuronsPanel()->proxy(), base + QStringLiteral("neurons.csv"));
        QFile csv(base + QStringLiteral("neurons.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(csv.readAll()).count(QLatin1Char('\n')), int(w_->workbench()->result()->ranking.size()) + 1);
        w_->writeResultJson(base + QStringLiteral("result.json"));
        const SearchResult back = result_from_json(read_file((base + QStringLiteral("result.json")).toStdString()), "result.json");
        QCOMPARE(result_to_json(back, false), result_to_json(*w_->workbench()->result(), false));
        w_->writeHtmlReport(base + QStringLiteral("report.html"));
        QFile html(base + QStringLiteral("report.html"));
        QVERIFY(html.open(QIODevice::ReadOnly));
        const QString h = QString::fromUtf8(html.readAll());
        QCOMPARE(h.count(QStringLiteral("<svg")), 2);
        QVERIFY(h.contains(qs(to_string(planted_))));
    }

    void sessionRoundTrip() {
        Workbench* wb = w_->workbench();
        w_->heatmapPanel()->setMetric(HeatmapPanel::TopRankedCount);
        w_->heatmapPanel()->selectCell(planted_.layer, int(planted_.module));
        const QString path = dir_.filePath(QStringLiteral("s.achilles"));
        QVERIFY(w_->saveSessionFile(path));
        // the worker path writes the same document
        const QString asyncPath = dir_.filePath(QStringLiteral("s-async.achilles"));
        QSignalSpy saved(wb, &Workbench::sessionSaved);
        w_->saveSessionFileAsync(asyncPath);
        QVERIFY(saved.wait(20000));
        QCOMPARE(w_->sessionPath(), asyncPath);
        QCOMPARE(readJsonFile(asyncPath), readJsonFile(path));
        MainWindow w2;
        Shown shown2(&w2);
        w2.show();
        QSignalSpy loaded(w2.workbench(), &Workbench::modelLoaded);
        QVERIFY(w2.openSessionFile(path));
        QVERIFY(loaded.wait(30000));  // the session's model is loaded in background
        QVERIFY(waitIdle(w2.workbench()));
        Workbench* wb2 = w2.workbench();
        QVERIFY(shown2.warning.isEmpty());  // same fingerprint: no mismatch warning
        QCOMPARE(wb2->text(), wb->text());
        QCOMPARE(wb2->options(), wb->options());
        QCOMPARE(result_to_json(*wb2->result(), true), result_to_json(*wb->result(), true));
        QCOMPARE(wb2->masked(), wb->masked());
        QVERIFY(near(wb2->pplMasked(), wb->pplMasked(), 1e-6));
        QCOMPARE(wb2->generation().original.steps.size(), wb->generation().original.steps.size());
        for (size_t i = 0; i < wb->generation().masked.steps.size(); ++i)
            QCOMPARE(wb2->generation().masked.steps[i].id, wb->generation().masked.steps[i].id);
        QCOMPARE(w2.heatmapPanel()->metric(), HeatmapPanel::TopRankedCount);
        QCOMPARE(w2.heatmapPanel()->selectedCell(), w_->heatmapPanel()->selectedCell());
        QCOMPARE(w2.heatmapPanel()->cellValue(planted_.layer, int(planted_.module)),
                 w_->heatmapPanel()->cellValue(planted_.layer, int(planted_.module)));
        QCOMPARE(w2.phasePanel()->curvePoints(), w_->phasePanel()->curvePoints());
        QCOMPARE(w2.generationsPanel()->maskedView()->chips().size(), w_->generationsPanel()->maskedView()->chips().size());
        QCOMPARE(w2.viewState().value("heatmap"), w_->viewState().value("heatmap"));

        // a different fingerprint warns
        QJsonObject s = readJsonFile(path);
        QJsonObject m = s.value("model").toObject();
        QJsonObject fp = m.value("fingerprint").toObject();
        fp["header_hash"] = QStringLiteral("0000");
        m["fingerprint"] = fp;
        m["path"] = fixture();
        s["model"] = m;
        const QString other = dir_.filePath(QStringLiteral("other.achilles"));
        QFile f(other);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QJsonDocument(s).toJson());
        f.close();
        MainWindow w3;
        Shown shown3(&w3);
        QSignalSpy mismatch(w3.workbench(), &Workbench::modelMismatch);
        QVERIFY(w3.openSessionFile(other));
        QVERIFY(mismatch.wait(30000));
        QVERIFY(!shown3.warning.isEmpty());
    }

    void badSessionKeepsAppUsable() {
        const QString path = dir_.filePath(QStringLiteral("broken.achilles"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"schema\": \"achilles.session/1\", \"model\": {}, \"options\": {\"samples\": \"many\"}}");
        f.close();
        const std::string before = result_to_json(*w_->workbench()->result(), false);
        QVERIFY(!w_->openSessionFile(path));
        QVERIFY(shown_->error.contains(QStringLiteral("broken.achilles")));
        QVERIFY(shown_->error.contains(QStringLiteral("samples")));
        QCOMPARE(result_to_json(*w_->workbench()->result(), false), before);
        // still usable: a perplexity evaluation runs
        QSignalSpy ppl(w_->workbench(), &Workbench::pplChanged);
        w_->workbench()->requestMask({}, QStringLiteral("clear"));
        QVERIFY(ppl.wait(20000));
    }

    void cancelSearchKeepsResult() {
        Workbench* wb = w_->workbench();
        const std::string before = result_to_json(*wb->result(), false);
        SearchOptions o = wb->options();
        o.samples = 100000;  // long enough to be cancelled mid-way
        wb->setOptions(o);
        QSignalSpy stage(wb, &Workbench::searchStageProgress);
        QSignalSpy cancelled(wb, &Workbench::searchCancelled);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(wb->searching());
        QVERIFY(stage.wait(10000));  // the search job reports from its lane: it is running
        QTest::qWait(100);  // running, stage 1
        QElapsedTimer t;
        t.start();
        wb->cancelSearch();
        QVERIFY(cancelled.wait(10000));
        qInfo("search cancelled after %lld ms", t.elapsed());
        QVERIFY(t.elapsed() < 5000);
        QCOMPARE(finished.count(), 0);
        QVERIFY(!wb->searching());
        QCOMPARE(result_to_json(*wb->result(), false), before);  // the previous result stays
        o.samples = 4;
        wb->setOptions(o);
    }

    void dropSessionFile() {
        const QString path = dir_.filePath(QStringLiteral("s.achilles"));
        QVERIFY(QFile::exists(path));
        MainWindow w;
        w.show();
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(path)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QSignalSpy opened(w.workbench(), &Workbench::sessionOpened);
        QApplication::sendEvent(&w, &drop);
        QVERIFY(opened.wait(20000));  // parsed in the worker, applied on the UI thread
        QCOMPARE(w.sessionPath(), path);
        QVERIFY(w.workbench()->result().has_value());
        QVERIFY(waitIdle(w.workbench()));
    }

    void appScreenshotFromSession() {
#ifndef ACHILLES_GUI
        QSKIP("the achilles executable is not built");
#else
        const QString session = dir_.filePath(QStringLiteral("s.achilles"));
        QVERIFY(QFile::exists(session));
        const QString out = dir_.filePath(QStringLiteral("shot.png"));
        QProcess p;
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--session"), session, QStringLiteral("--screenshot"), out,
                                               QStringLiteral("--view"), QStringLiteral("heatmap")});
        QVERIFY(p.waitForFinished(60000));
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitCode() == 0, qPrintable(err));
        QVERIFY(err.contains(QStringLiteral("session opened")));
        QImage img(out);
        QVERIFY(!img.isNull());
        QVERIFY(img.width() >= 800 && img.height() >= 400);
        // a bad view name and a missing session are errors, not crashes
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--session"), session, QStringLiteral("--screenshot"), out,
                                               QStringLiteral("--view"), QStringLiteral("bogus")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QVERIFY(p.exitCode() != 0);
        QVERIFY(QString::fromUtf8(p.readAllStandardError()).contains(QStringLiteral("bogus")));
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--session"), dir_.filePath(QStringLiteral("missing.achilles")),
                                               QStringLiteral("--screenshot"), out});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QVERIFY(p.exitCode() != 0);
        QVERIFY(QString::fromUtf8(p.readAllStandardError()).contains(QStringLiteral("missing.achilles")));
#endif
    }

    void appExportFigures() {
#ifndef ACHILLES_GUI
        QSKIP("the achilles executable is not built");
#else
        // What ./run.sh --headless does after the CLI search: figures from a saved session.
        const QString session = dir_.filePath(QStringLiteral("s.achilles"));
        QVERIFY(QFile::exists(session));
        const QString out = dir_.filePath(QStringLiteral("figures"));
        QProcess p;
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--session"), session, QStringLiteral("--export-figures"), out});
        QVERIFY(p.waitForFinished(60000));
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, p.readAllStandardError().constData());
        for (const QString name : {QStringLiteral("heatmap"), QStringLiteral("phase-transition")}) {
            const QImage png(out + QLatin1Char('/') + name + QStringLiteral(".png"));
            QVERIFY2(!png.isNull() && png.width() >= 1200, qPrintable(name));
            QSvgRenderer svg(out + QLatin1Char('/') + name + QStringLiteral(".svg"));
            QVERIFY2(svg.isValid(), qPrintable(name));
            QFile pdf(out + QLatin1Char('/') + name + QStringLiteral(".pdf"));
            QVERIFY(pdf.open(QIODevice::ReadOnly));
            QVERIFY(pdf.read(5) == "%PDF-");
        }
        // --mechanism computes the Mechanism views first, and their figures are written too.
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--session"), session, QStringLiteral("--mechanism"), QStringLiteral("--export-figures"),
                                               out + QStringLiteral("-mech")});
        QVERIFY(p.waitForFinished(60000));
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, p.readAllStandardError().constData());
        for (const char* name : {"mechanism-lines", "mechanism-heatmap", "mechanism-sinks", "mechanism-lens"}) {
            QVERIFY2(!QImage(out + QStringLiteral("-mech/") + QLatin1String(name) + QStringLiteral(".png")).isNull(), name);
            QVERIFY2(QSvgRenderer(out + QStringLiteral("-mech/") + QLatin1String(name) + QStringLiteral(".svg")).isValid(), name);
        }
        // Without a result there is nothing to draw: an error, not empty figures.
        p.start(QStringLiteral(ACHILLES_GUI), {QStringLiteral("--export-figures"), out + QStringLiteral("-none")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QVERIFY(p.exitCode() != 0);
#endif
    }

    void phaseLabelsAvoidNstar() {
        // Synthetic results put n* at the right edge (stage 2 stopped at its cap) and, with a long
        // sweep, in the left part of the plot: in both the threshold and original labels must stay
        // off the n* line and inside the plot.
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        for (const int sweepTo : {0, 1000}) {
            SearchResult r;
            r.layers = 2;
            r.ppl_orig = 1.67;
            r.options.epsilon = 3.0;
            for (int n = 1; n <= 100; ++n) r.curve.push_back(CurvePoint{n, n, 1.67 * std::pow(10.0, 0.004 * n), 0.004 * n});
            r.faithful.name = "faithful";
            r.faithful.n = 100;
            for (int i = 0; i < 100; ++i) r.faithful.neurons.push_back(Neuron{i % 2, Module::down_proj, i});
            r.faithful.reached = false;
            r.faithful.delta = 0.4;
            if (sweepTo > 0) {
                Series s;
                s.name = "random";
                for (int n = 0; n <= sweepTo; n += 50) s.points.push_back(SeriesPoint{n, std::log10(1.67) + 0.001 * n, 0});
                r.sweep.push_back(s);
            }
            w.workbench()->setResult(r);
            PhasePanel* ph = w.phasePanel();
            QVERIFY(!w.grabView(QStringLiteral("phase")).isNull());
            const QRect ar = ph->plot()->axisRect()->rect();
            const double nx = ph->nstarPixelX();
            QVERIFY(std::isfinite(nx) && nx > ar.left() && nx <= ar.right() + 1);
            if (sweepTo == 0) QVERIFY(nx > ar.center().x());  // the capped case: n* at the right
            else QVERIFY(nx < ar.center().x());
            for (const QRectF& rect : {ph->thresholdLabelRect(), ph->originalLabelRect()}) {
                QVERIFY(rect.isValid());
                QVERIFY2(!(rect.left() - 2 <= nx && nx <= rect.right() + 2),
                         qPrintable(QStringLiteral("sweep %1: label %2..%3 crosses n* at %4").arg(sweepTo).arg(rect.left()).arg(rect.right()).arg(nx)));
                QVERIFY(rect.left() >= ar.left() && rect.right() <= ar.right());
            }
        }
    }

    void screenshotViews() {
        for (const QString& v : MainWindow::viewNames()) {
            const QImage img = w_->grabView(v);
            QVERIFY2(!img.isNull() && img.width() > 100 && img.height() > 100, qPrintable(v));
        }
        QVERIFY_THROWS_EXCEPTION(Error, w_->grabView(QStringLiteral("nope")));
    }

    void cleanupTestCase() {
        shown_.reset();
        w_.reset();
    }
};

QTEST_MAIN(TestE2E)
#include "test_ui_e2e.moc"
