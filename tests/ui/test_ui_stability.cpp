// SPDX-License-Identifier: GPL-3.0-or-later
// Issue 8: Run › Run stability study, the GUI's `achilles-cli search --probes P --vary ... [--consensus K]`.
// (a) a study on the planted fixture (3 probes × 2 seeds) saves, byte for byte, the document the
//     CLI writes for the same inputs and options, and the heatmap's cells are the document's Jaccard;
// (b) Ctrl+. (the app-wide cancel) and the panel's Cancel stop a running study within 1 s: the
//     outcome is "cancelled", no document is shown, no error dialog;
// (c) bad inputs (missing file, empty folder, bad JSONL line, bad --vary, missing held-out set)
//     show the core's message naming the file / field and leave the GUI usable.
#include "main_window.h"
#include "panels/model_panel.h"
#include "panels/stability_panel.h"
#include "panels/stability_run_dialog.h"
#include "ui_test_util.h"
#include "achilles/fileio.h"
#include "achilles/options.h"
#include "achilles/stability.h"
#include "workbench/workbench.h"
#include <QAction>
#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::waitIdle;
using achilles::ui::uitest::loadModel;

namespace {
// The achilles-cli search flags that give `o` (every field that differs from its default).
QStringList cliFlags(const SearchOptions& o) {
    QStringList out;
    for (const SearchOptionField& f : search_option_fields()) {
        const OptionValue v = f.get(o);
        if (v == f.default_value()) continue;
        const QString flag = QString::fromUtf8(f.flag.data(), qsizetype(f.flag.size()));
        if (f.type == OptionType::boolean) out << (std::get<bool>(v) ? flag : flag + QStringLiteral("=false"));
        else out << flag << QString::fromStdString(f.format(v));
    }
    return out;
}
const char* kProbes =
    "{\"name\": \"p1\", \"ids\": [1,17,42,9,33,5,60,21,8,50,12,3]}\n"
    "{\"name\": \"p2\", \"ids\": [1,5,60,21,8,50,12,3,17,42]}\n"
    "{\"ids\": [1,9,9,33,41,7,12,55,2,30,11]}\n";
}  // namespace

class TestStability : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString path(const char* name) const { return dir_.filePath(QLatin1String(name)); }

private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void guiStudyEqualsTheCli() {
        if (!QFileInfo::exists(QStringLiteral(ACHILLES_CLI))) QSKIP("achilles-cli is not built");
        write_file_atomic(path("probes.jsonl").toStdString(), kProbes);
        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        QVERIFY(loadModel(w, uitest::planted_fixture()));
        Workbench* wb = w.workbench();
        SearchOptions o = wb->options();  // the Search panel's options, as a normal search uses them
        o.samples = 4;
        o.max_steps = 40;
        o.epsilon = 0.5;
        wb->setOptions(o);
        QCOMPARE(w.searchPanel() != nullptr, true);
        StabilityPanel* p = w.stabilityPanel();
        StabilityRequest req;
        req.probes = path("probes.jsonl");
        req.vary = {QStringLiteral("seed=1,2")};
        req.consensus = 2;
        {  // the dialog shows the number of runs before starting
            StabilityRunDialog dlg(wb, req, &w);
            dlg.updatePlan();
            QCOMPARE(dlg.plannedRuns(), 6);
            QVERIFY2(dlg.planText().contains(QStringLiteral("6 runs")), qPrintable(dlg.planText()));
            QVERIFY(dlg.runEnabled());
        }
        QSignalSpy finished(p, &StabilityPanel::studyFinished);
        QStringList statuses;
        connect(p, &StabilityPanel::studyProgress, p, [&](const QString& t) { statuses << t; });
        QVERIFY(p->runStudy(req));
        QVERIFY(p->studyRunning());
        QVERIFY(finished.wait(120000));
        QVERIFY(waitIdle(wb));
        QVERIFY2(shown.error.isEmpty(), qPrintable(shown.error));
        QVERIFY(p->result().has_value());
        QCOMPARE(int(p->result()->runs.size()), 6);
        QCOMPARE(int(p->doc().runs.size()), 6);
        QVERIFY2(p->provenanceText().contains(QStringLiteral("probes.jsonl")), qPrintable(p->provenanceText()));
        QVERIFY(p->provenance().hasModel());
        QVERIFY(p->provenance().sameModel(wb->current()));
        QVERIFY(p->findChild<QPushButton*>(QStringLiteral("stabilitySave"))->isEnabled());
        p->saveJson(path("gui-stability.json"));

        // The CLI on the same inputs and options.
        QStringList args{"--quiet", "search", "--model", uitest::planted_fixture(), "--probes", path("probes.jsonl"), "--vary", "seed=1,2",
                         "--consensus", "2", "--out", path("cli-stability.json")};
        args << cliFlags(wb->options());
        QProcess cli;
        cli.start(QStringLiteral(ACHILLES_CLI), args);
        QVERIFY(cli.waitForFinished(120000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
        const std::string gui = read_file(path("gui-stability.json").toStdString());
        const std::string cliDoc = read_file(path("cli-stability.json").toStdString());
        QVERIFY2(gui == cliDoc, qPrintable(QStringLiteral("args %1\nGUI:\n%2\nCLI:\n%3").arg(args.join(' '), QString::fromStdString(gui).left(1500),
                                                                                           QString::fromStdString(cliDoc).left(1500))));
        // The heatmap's cells are the document's Jaccard values (and the core's).
        const QJsonObject doc = QJsonDocument::fromJson(QByteArray::fromStdString(gui)).object();
        const QJsonArray jac = doc.value("jaccard").toArray();
        QCOMPARE(jac.size(), 6);
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) {
                QVERIFY(p->cellValue(i, j) == jac[i].toArray()[j].toDouble());
                QVERIFY(p->cellValue(i, j) == p->result()->jaccard[size_t(i)][size_t(j)]);
            }
        QCOMPARE(p->runsTable()->rowCount(), 6);
        QCOMPARE(p->countsTable()->rowCount(), int(doc.value("counts").toArray().size()));
        QVERIFY(p->consensusText().contains(QStringLiteral("at least 2 of 6 runs")));
        // Progress named every run as it started, and the search stage within it.
        const QString all = statuses.join(QLatin1Char('|'));
        for (int i = 1; i <= 6; ++i) QVERIFY2(all.contains(QStringLiteral("run %1/6").arg(i)), qPrintable(all.left(3000)));
        QVERIFY2(all.contains(QStringLiteral("stage1")), qPrintable(all.left(3000)));
        // The saved document opens again through File › Open stability study with the same cells.
        StabilityPanel other(nullptr);
        QVERIFY(other.openFile(path("gui-stability.json")));
        for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) QVERIFY(other.cellValue(i, j) == p->cellValue(i, j));
        // A model of another checkpoint marks the study stale.
        QVERIFY(loadModel(w, QStringLiteral("default")));
        QVERIFY(!wb->staleReasonOf(p->provenance(), false).isEmpty());
        w.markClean();
    }

    // A folder of .txt probes on the embedded model (encoded with its tokenizer), the majority
    // consensus and a held-out set: again the CLI's document, byte for byte.
    void textProbesAndHeldoutEqualTheCli() {
        if (!QFileInfo::exists(QStringLiteral(ACHILLES_CLI))) QSKIP("achilles-cli is not built");
        QDir().mkpath(path("texts"));
        write_file_atomic(path("texts/b.txt").toStdString(), "Once upon a time, there was a little girl named Lily. She loved to play outside.\n");
        write_file_atomic(path("texts/a.txt").toStdString(), "Tom had a red ball. He threw it to his dog, and the dog ran after it.\n");
        write_file_atomic(path("texts/notes.md").toStdString(), "not a probe\n");
        write_file_atomic(path("heldout.txt").toStdString(), "The sun was warm and the birds sang.\n\nA cat sat on the mat and looked at the fish.\n\nThird sample, not read.\n");
        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        QVERIFY(loadModel(w, QStringLiteral("default")));
        Workbench* wb = w.workbench();
        SearchOptions o = wb->options();
        o.samples = 2;
        o.max_steps = 8;
        o.max_tokens = 24;
        wb->setOptions(o);
        StabilityPanel* p = w.stabilityPanel();
        StabilityRequest req;
        req.probes = path("texts");
        req.heldout = path("heldout.txt");
        req.heldoutMaxSamples = 2;
        {
            StabilityRunDialog dlg(wb, req, &w);
            dlg.updatePlan();
            QCOMPARE(dlg.plannedRuns(), 2);
        }
        QSignalSpy finished(p, &StabilityPanel::studyFinished);
        QVERIFY(p->runStudy(req));
        QVERIFY(finished.wait(120000));
        QVERIFY(waitIdle(wb));
        QVERIFY2(shown.error.isEmpty(), qPrintable(shown.error));
        QCOMPARE(p->doc().runs.front().label, QStringLiteral("a.txt"));  // sorted by name
        QVERIFY(!p->doc().heldout.isEmpty());
        QVERIFY(p->consensusText().contains(QStringLiteral("held-out")));
        p->saveJson(path("gui-texts.json"));
        QStringList args{"--quiet", "search", "--model", "default", "--probes", path("texts"), "--heldout", path("heldout.txt"),
                         "--heldout-max-samples", "2", "--out", path("cli-texts.json")};
        args << cliFlags(wb->options());
        QProcess cli;
        cli.start(QStringLiteral(ACHILLES_CLI), args);
        QVERIFY(cli.waitForFinished(120000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
        const std::string gui = read_file(path("gui-texts.json").toStdString());
        const std::string cliDoc = read_file(path("cli-texts.json").toStdString());
        QVERIFY2(gui == cliDoc, qPrintable(QStringLiteral("args %1\nGUI:\n%2\nCLI:\n%3").arg(args.join(' '), QString::fromStdString(gui).left(1500),
                                                                                           QString::fromStdString(cliDoc).left(1500))));
        const QJsonObject doc = QJsonDocument::fromJson(QByteArray::fromStdString(gui)).object();
        QCOMPARE(doc.value("heldout").toObject().value("samples").toInt(), 2);
        QCOMPARE(doc.value("runs").toArray()[0].toObject().value("tokens").toInt(), p->doc().runs.front().tokens);
        w.markClean();
    }

    void cancelIsQuickAndNotAnError() {
        write_file_atomic(path("long.jsonl").toStdString(), kProbes);
        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QVERIFY(loadModel(w, uitest::planted_fixture()));
        Workbench* wb = w.workbench();
        SearchOptions o = wb->options();
        o.samples = 4;
        o.epsilon = 9;  // never reached: each run's stage 2 goes on to max_steps
        o.max_steps = 100000;
        wb->setOptions(o);
        StabilityPanel* p = w.stabilityPanel();
        StabilityRequest req;
        req.probes = path("long.jsonl");
        req.vary = {QStringLiteral("seed=1,2,3")};
        for (const int how : {0, 1}) {  // Ctrl+. through the window system, then the panel's Cancel button
            QSignalSpy cancelled(p, &StabilityPanel::studyCancelled);
            QSignalSpy failed(p, &StabilityPanel::studyFailed);
            QSignalSpy finished(p, &StabilityPanel::studyFinished);
            QVERIFY(p->runStudy(req));
            QVERIFY(QTest::qWaitFor([&] { return p->statusText().contains(QStringLiteral("stage2")); }, 60000));
            QTest::qWait(200);
            QVERIFY(p->studyRunning());
            QElapsedTimer t;
            t.start();
            if (how == 0) QTest::keyClick(w.windowHandle(), Qt::Key_Period, Qt::ControlModifier);
            else QTest::mouseClick(p->findChild<QPushButton*>(QStringLiteral("stabilityCancel")), Qt::LeftButton);
            QVERIFY(QTest::qWaitFor([&] { return !p->studyRunning(); }, 5000));
            qInfo("%s: idle %lld ms after the cancel", how == 0 ? "Ctrl+." : "Cancel button", t.elapsed());
            QVERIFY(t.elapsed() < 1000);
            QCOMPARE(cancelled.count(), 1);
            QCOMPARE(failed.count(), 0);
            QCOMPARE(finished.count(), 0);
            QVERIFY(waitIdle(wb));
            QTest::qWait(100);  // nothing late
            QVERIFY2(shown.error.isEmpty(), qPrintable(shown.error));
            QVERIFY(p->doc().runs.empty());
            QVERIFY(!p->result().has_value());
            QVERIFY(!p->findChild<QPushButton*>(QStringLiteral("stabilitySave"))->isEnabled());
            QVERIFY2(p->statusText().contains(QStringLiteral("Cancelled")), qPrintable(p->statusText()));
            QVERIFY(p->findChild<QPushButton*>(QStringLiteral("stabilityRun"))->isEnabled());
        }
        w.markClean();
    }

    void badInputsNameTheFile() {
        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        Workbench* wb = w.workbench();
        StabilityPanel* p = w.stabilityPanel();
        StabilityRequest req;
        req.probes = path("probes.jsonl");
        QVERIFY(!p->runStudy(req));  // no model yet
        QVERIFY2(shown.error.contains(QStringLiteral("model")), qPrintable(shown.error));
        QVERIFY(loadModel(w, uitest::planted_fixture()));
        SearchOptions o = wb->options();
        o.samples = 2;
        o.max_steps = 4;
        wb->setOptions(o);
        write_file_atomic(path("ok.jsonl").toStdString(), kProbes);
        write_file_atomic(path("bad.jsonl").toStdString(), "{\"ids\": [1,2,3]}\n{\"ids\": [1, \"x\"]}\n");
        QDir().mkpath(path("empty"));
        struct Case {
            QString probes;
            QStringList vary;
            QString heldout;
            QStringList mustContain;
        };
        const std::vector<Case> cases = {
            {path("missing.jsonl"), {}, {}, {path("missing.jsonl")}},
            {path("empty"), {}, {}, {path("empty"), QStringLiteral("no .txt files")}},
            {path("bad.jsonl"), {}, {}, {path("bad.jsonl") + QStringLiteral(":2"), QStringLiteral("ids[1]")}},
            {path("ok.jsonl"), {QStringLiteral("seed")}, {}, {QStringLiteral("--vary"), QStringLiteral("KEY=V1,V2")}},
            {path("ok.jsonl"), {QStringLiteral("nosuch=1,2")}, {}, {QStringLiteral("--vary"), QStringLiteral("nosuch")}},
            {path("ok.jsonl"), {QStringLiteral("samples=0")}, {}, {QStringLiteral("--vary"), QStringLiteral("samples")}},
            {path("ok.jsonl"), {}, path("no-heldout.txt"), {path("no-heldout.txt")}},
            {QString(), {}, {}, {QStringLiteral("--probes")}},
        };
        for (const Case& c : cases) {
            shown.error.clear();
            req = {};
            req.probes = c.probes;
            req.vary = c.vary;
            req.heldout = c.heldout;
            QSignalSpy failed(p, &StabilityPanel::studyFailed);
            QVERIFY(!p->runStudy(req));
            QCOMPARE(failed.count(), 1);
            QVERIFY(!p->studyRunning());
            for (const QString& s : c.mustContain) QVERIFY2(shown.error.contains(s), qPrintable(shown.error + QStringLiteral(" lacks ") + s));
            // The dialog shows the same message before anything runs, and will not start.
            StabilityRunDialog dlg(wb, req, &w);
            dlg.updatePlan();
            if (!c.probes.isEmpty()) {
                QCOMPARE(dlg.plannedRuns(), -1);
                for (const QString& s : c.mustContain) QVERIFY2(dlg.planText().contains(s), qPrintable(dlg.planText()));
            }
            QVERIFY(!dlg.runEnabled());
        }
        // A probe the model cannot encode (text on a model without a tokenizer) fails in the
        // worker: an error dialog, and the GUI still runs the next study.
        write_file_atomic(path("text.jsonl").toStdString(), "{\"text\": \"Once upon a time\"}\n");
        shown.error.clear();
        req = {};
        req.probes = path("text.jsonl");
        QSignalSpy failed(p, &StabilityPanel::studyFailed);
        QVERIFY(p->runStudy(req));
        QVERIFY(failed.wait(60000));
        QVERIFY(!shown.error.isEmpty());
        QVERIFY(p->doc().runs.empty());
        QSignalSpy finished(p, &StabilityPanel::studyFinished);
        req.probes = path("ok.jsonl");
        QVERIFY(p->runStudy(req));
        QVERIFY(finished.wait(60000));
        QCOMPARE(int(p->doc().runs.size()), 3);
        QVERIFY(waitIdle(wb));
        w.markClean();
    }

    void runActionIsInTheRunMenu() {
        MainWindow w;
        auto* a = w.findChild<QAction*>(QStringLiteral("runStabilityAction"));
        QVERIFY(a);
        QVERIFY(a->text().contains(QStringLiteral("stability study")));
    }
};

QTEST_MAIN(TestStability)
#include "test_ui_stability.moc"
