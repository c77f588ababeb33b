// SPDX-License-Identifier: GPL-3.0-or-later
// State consistency (issue 11): every result, mask set, generation and perplexity carries the
// model and probe it was computed on; views show only what matches the loaded model and probe, or
// mark it stale and say what it belongs to; masks are never applied across a model mismatch; each
// search starts with an empty phase plot; sessions restore the model path field and "Log x axis".
// Two real models: the planted search fixture (2 layers, ids texts) and the embedded default model.
#include "main_window.h"
#include "models/neuron_model.h"
#include "panels/generations_panel.h"
#include "panels/heatmap_panel.h"
#include "panels/model_panel.h"
#include "panels/neurons_panel.h"
#include "panels/phase_panel.h"
#include "ui_test_util.h"
#include "workbench/workbench.h"
#include <QFile>
#include <QJsonArray>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <qcustomplot.h>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::Shown;
using achilles::ui::uitest::waitIdle;
using achilles::ui::uitest::loadModel;

namespace {
bool near(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }


bool runSearch(MainWindow& w, int maxSteps = 8) {
    Workbench* wb = w.workbench();
    SearchOptions o = wb->options();
    o.samples = 2;
    o.max_steps = maxSteps;
    wb->setOptions(o);
    QSignalSpy finished(wb, &Workbench::searchFinished);
    wb->runSearch();
    return finished.wait(60000) && waitIdle(wb);
}

// Ticks the neuron's row in the Neurons panel's table; false when it is not there or not tickable.
bool tick(MainWindow& w, const Neuron& n) {
    auto* proxy = w.neuronsPanel()->proxy();
    for (int i = 0; i < proxy->rowCount(); ++i) {
        const QModelIndex src = proxy->mapToSource(proxy->index(i, 0));
        if (w.neuronModel()->entry(src.row()).neuron == n) return proxy->setData(proxy->index(i, 0), Qt::Checked, Qt::CheckStateRole);
    }
    return false;
}
}  // namespace

class TestState : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QJsonObject golden_;
    Neuron planted_;
    QString fixture_;

    // A window with the planted model, its probe, a search and the planted neuron ticked.
    std::unique_ptr<MainWindow> searchedWindow() {
        auto w = std::make_unique<MainWindow>();
        w->resize(1400, 900);
        w->show();
        if (!loadModel(*w, fixture_)) return nullptr;
        w->workbench()->setText(uitest::ids_text(golden_));
        if (!runSearch(*w)) return nullptr;
        if (!tick(*w, planted_) || !waitIdle(w->workbench())) return nullptr;
        return w;
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        golden_ = uitest::search_golden();
        fixture_ = uitest::planted_fixture();
        if (golden_.isEmpty() || !QFile::exists(fixture_ + QStringLiteral("/model.safetensors")))
            QSKIP("tests/fixtures/search is missing");
        const QJsonObject pc = golden_.value("planted_channel").toObject();
        planted_ = Neuron{pc.value("layer").toInt(), *module_from_name(pc.value("module").toString().toStdString()),
                          pc.value("channel").toInt()};
    }

    // Issue: after --demo, loading another model kept the old table, curve and generations, and
    // applied the old masks to the new model (a "channel out of range" error in the status bar).
    void modelChangeMarksEverythingStaleAndNeverAppliesMasks() {
        auto w = searchedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        QCOMPARE(wb->masked(), std::set<Neuron>{planted_});
        const double maskedPpl = wb->pplMasked();
        QVERIFY(wb->pplMaskCount() == 1 && wb->pplStaleReason().isEmpty());
        QVERIFY(w->neuronsPanel()->pplText().contains(QStringLiteral("planted")));  // names its model
        wb->generation().prompt = QStringLiteral("ids: 1 17 42 9");
        wb->generation().options.max_new = 4;
        wb->generation().options.greedy = true;
        QSignalSpy gen(wb, &Workbench::generationFinished);
        wb->generate();
        QVERIFY(gen.wait(30000));
        QVERIFY(waitIdle(wb));
        QVERIFY(w->neuronsPanel()->staleText().isEmpty());
        QVERIFY(w->phasePanel()->staleText().isEmpty());
        QVERIFY(w->generationsPanel()->staleText().isEmpty());

        Shown shown(w.get());
        QSignalSpy evaluating(wb, &Workbench::pplEvaluating);
        QSignalSpy pplFailed(wb, &Workbench::pplFailed);
        QVERIFY(loadModel(*w, QStringLiteral("default")));
        QVERIFY(QTest::qWaitFor([&] { return !w->neuronsPanel()->staleText().isEmpty(); }, 5000));
        // the planted model's masks were not applied to the default model
        QCOMPARE(evaluating.count(), 0);
        QCOMPARE(pplFailed.count(), 0);
        QVERIFY(!wb->masksApplicable());
        QCOMPARE(wb->pplMasked(), maskedPpl);
        // every view says what its content belongs to
        const QString table = w->neuronsPanel()->staleText();
        QVERIFY2(table.contains(QStringLiteral("planted")) && table.contains(QStringLiteral("embedded default model")), qPrintable(table));
        QVERIFY2(table.contains(QStringLiteral("not applied")), qPrintable(table));
        QVERIFY(w->phasePanel()->staleText().contains(QStringLiteral("planted")));
        QVERIFY(w->heatmapPanel()->staleText().contains(QStringLiteral("planted")));
        QVERIFY2(w->generationsPanel()->staleText().contains(QStringLiteral("planted")), qPrintable(w->generationsPanel()->staleText()));
        const QString header = w->neuronsPanel()->pplText();
        QVERIFY2(header.contains(QStringLiteral("Stale")) && header.contains(QStringLiteral("planted")), qPrintable(header));
        if (!qEnvironmentVariableIsEmpty("ACHILLES_TEST_SHOTS"))  // for looking at it: the window as the user sees it
            w->grab().save(qEnvironmentVariable("ACHILLES_TEST_SHOTS") + QStringLiteral("/stale-after-model-change.png"));
        // another model's neurons cannot be ticked, and generation refuses the foreign masks
        auto* proxy = w->neuronsPanel()->proxy();
        QVERIFY(!(proxy->flags(proxy->index(0, NeuronTableModel::ColMask)) & Qt::ItemIsUserCheckable));
        QVERIFY(!proxy->setData(proxy->index(1, 0), Qt::Checked, Qt::CheckStateRole));
        QCOMPARE(wb->masked(), std::set<Neuron>{planted_});
        QSignalSpy genFailed(wb, &Workbench::generationFailed);
        wb->generate();
        QCOMPARE(genFailed.count(), 1);
        QVERIFY(genFailed.at(0).at(0).toString().contains(QStringLiteral("not applied")));
        QCOMPARE(evaluating.count(), 0);

        // a search on the loaded model replaces everything and the banners go away
        wb->setText(QStringLiteral("ids: 1 17 42 9 33 5 60 21"));
        QVERIFY(runSearch(*w, 3));
        QVERIFY(wb->masksApplicable());
        QVERIFY(wb->masked().empty());
        QVERIFY(w->neuronsPanel()->staleText().isEmpty());
        QVERIFY(w->phasePanel()->staleText().isEmpty());
        QVERIFY(w->neuronsPanel()->pplText().contains(QStringLiteral("embedded default model")));
        QVERIFY(!w->neuronsPanel()->pplText().contains(QStringLiteral("Stale")));
    }

    // Issue: with a session open, loading the embedded model showed "Model mismatch" and then
    // applied the session's masks anyway: the header read a PPL that belonged to nothing.
    void sessionThenOtherModelKeepsMasksOff() {
        QString path;
        {
            auto w = searchedWindow();
            QVERIFY(w);
            path = dir_.filePath(QStringLiteral("planted.achilles"));
            QVERIFY(w->saveSessionFile(path));
        }
        MainWindow w;
        w.show();
        Workbench* wb = w.workbench();
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        QVERIFY(w.openSessionFile(path));  // starts loading the planted model
        QVERIFY(loaded.wait(60000));
        QVERIFY(waitIdle(wb));
        QCOMPARE(wb->masked(), std::set<Neuron>{planted_});
        QVERIFY(wb->masksApplicable());
        QVERIFY(wb->pplStaleReason().isEmpty());
        const double maskedPpl = wb->pplMasked();
        Shown shown(&w);
        QSignalSpy evaluating(wb, &Workbench::pplEvaluating);
        QVERIFY(loadModel(w, QStringLiteral("default")));
        QCOMPARE(evaluating.count(), 0);  // the planted masks are not evaluated on the default model
        QCOMPARE(wb->pplMasked(), maskedPpl);
        QVERIFY(!wb->masksApplicable());
        QVERIFY(QTest::qWaitFor([&] { return !w.neuronsPanel()->staleText().isEmpty(); }, 5000));
        QVERIFY(w.neuronsPanel()->pplText().contains(QStringLiteral("Stale")));
        // the user chose another model: no "session mismatch" warning for that
        QVERIFY2(shown.warning.isEmpty(), qPrintable(shown.warning));
        // saving and reopening keeps what the masks and the PPL belong to
        const QString again = dir_.filePath(QStringLiteral("again.achilles"));
        QVERIFY(w.saveSessionFile(again));
        QVERIFY(w.openSessionFile(again));  // the default model stays loaded (it is the session's model)
        QVERIFY(waitIdle(wb));
        QVERIFY(!wb->masksApplicable());
        QCOMPARE(evaluating.count(), 0);
        QVERIFY(w.neuronsPanel()->pplText().contains(QStringLiteral("planted")));
    }

    // Issue: after the probe text was edited, ticking a neuron reported the PPL of the result's text.
    void probeChangeIsShownAndPplFollowsTheText() {
        auto w = searchedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        const double resultPpl0 = wb->result()->ppl_orig;
        QVERIFY(near(wb->pplOriginal(), resultPpl0, 1e-12));
        // drop the last id: a different probe of 11 tokens
        QJsonArray ids = golden_.value("ids").toArray();
        ids.removeLast();
        QJsonObject shorter = golden_;
        shorter["ids"] = ids;
        QSignalSpy prov(wb, &Workbench::provenanceChanged);
        wb->setText(uitest::ids_text(shorter));
        QVERIFY(prov.wait(5000));
        QVERIFY2(w->neuronsPanel()->staleText().contains(QStringLiteral("probe text")), qPrintable(w->neuronsPanel()->staleText()));
        QVERIFY(w->neuronsPanel()->pplText().contains(QStringLiteral("Stale")));  // the PPL shown is the old text's
        // ticking evaluates on the current text and the header says so
        wb->requestMask({}, QStringLiteral("clear"));
        QVERIFY(waitIdle(wb));
        QSignalSpy ppl(wb, &Workbench::pplChanged);
        QVERIFY(tick(*w, planted_));
        QVERIFY(ppl.wait(20000));
        QVERIFY(waitIdle(wb));
        QCOMPARE(int(wb->pplProvenance().ids.size()), int(ids.size()));
        QVERIFY2(!near(wb->pplOriginal(), resultPpl0, 1e-6),
                 qPrintable(QStringLiteral("%1 vs %2").arg(wb->pplOriginal()).arg(resultPpl0)));
        const QString header = w->neuronsPanel()->pplText();
        QVERIFY2(header.contains(QStringLiteral("11 tokens")) && !header.contains(QStringLiteral("Stale")), qPrintable(header));
        // the table itself still belongs to the 12-token text, and says so
        QVERIFY(w->neuronsPanel()->staleText().contains(QStringLiteral("12 tokens")));
    }

    // Issue: a new search's live points were joined to the previous curve, the old "stopped at n"
    // note stayed, and the axes did not follow the live curve.
    void eachSearchStartsWithAnEmptyPlot() {
        auto w = searchedWindow();
        QVERIFY(w);
        Workbench* wb = w->workbench();
        PhasePanel* ph = w->phasePanel();
        QVERIFY(ph->curvePoints() > 0);
        QVERIFY(ph->nstarVisible());
        int atStart = -1, atFirstPoint = -1;
        bool starAtStart = true, inRange = false;
        QMetaObject::Connection c1 = connect(wb, &Workbench::searchStarted, this, [&] {
            atStart = ph->curvePoints();
            starAtStart = ph->nstarVisible();
        });
        QMetaObject::Connection c2 = connect(wb, &Workbench::curvePoint, this, [&](const CurvePoint& p) {
            if (atFirstPoint >= 0) return;
            atFirstPoint = ph->curvePoints();
            inRange = ph->plot()->xAxis->range().contains(p.n) && ph->plot()->yAxis->range().contains(std::log10(p.ppl));
        });
        SearchOptions o = wb->options();
        o.epsilon = 50;  // never reached: stage 2 runs to max_steps
        wb->setOptions(o);
        QVERIFY(runSearch(*w, 6));
        disconnect(c1);
        disconnect(c2);
        QCOMPARE(atStart, 0);
        QVERIFY(!starAtStart);
        QCOMPARE(atFirstPoint, 1);
        QVERIFY(inRange);
        QCOMPARE(ph->curvePoints(), int(wb->result()->curve.size()));
    }

    // Issue: after opening a session the model path field showed another model (or nothing).
    void modelPathFieldShowsTheLoadedModel() {
        QString path;
        {
            auto w = searchedWindow();
            QVERIFY(w);
            path = dir_.filePath(QStringLiteral("path.achilles"));
            QVERIFY(w->saveSessionFile(path));
        }
        MainWindow w;
        w.show();
        QVERIFY(loadModel(w, QStringLiteral("default")));
        QCOMPARE(w.modelPanel()->pathText(), ModelPanel::describe(QStringLiteral("default")));
        QSignalSpy loaded(w.workbench(), &Workbench::modelLoaded);
        QVERIFY(w.openSessionFile(path));
        QVERIFY(loaded.wait(60000));
        QCOMPARE(w.workbench()->modelPath(), fixture_);
        QCOMPARE(w.modelPanel()->pathText(), fixture_);
    }

    // Issue: the session lost "Log x axis".
    void sessionKeepsLogX() {
        auto w = searchedWindow();
        QVERIFY(w);
        w->phasePanel()->setLogX(true);
        const QString path = dir_.filePath(QStringLiteral("logx.achilles"));
        QVERIFY(w->saveSessionFile(path));
        w->phasePanel()->setLogX(false);
        QVERIFY(w->openSessionFile(path));
        QVERIFY(w->phasePanel()->logX());
        QCOMPARE(w->phasePanel()->plot()->xAxis->scaleType(), QCPAxis::stLogarithmic);
        w->phasePanel()->setLogX(false);
        QVERIFY(w->saveSessionFile(path));
        w->phasePanel()->setLogX(true);
        QVERIFY(w->openSessionFile(path));
        QVERIFY(!w->phasePanel()->logX());
    }
};

QTEST_MAIN(TestState)
#include "test_ui_state.moc"
