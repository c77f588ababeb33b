// SPDX-License-Identifier: GPL-3.0-or-later
// Read-only work beside a running search (jobs/job_runner.h, the concurrency rule): on the planted
// fixture, while a long search runs on the model lane, typing in the probe updates the token count
// at once, a mask toggle's perplexity arrives with the reference value, and a generation completes;
// the search then still finishes with the same ranking as a search that ran alone.
#include "achilles/error.h"
#include "main_window.h"
#include "panels/model_panel.h"
#include "panels/probe_panel.h"
#include "test_paths.h"
#include "ui_test_util.h"
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <cmath>

using namespace achilles;
using namespace achilles::ui;

namespace {
QString fixture() { return uitest::planted_fixture(); }
QJsonObject golden() { return uitest::search_golden(); }
bool near(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }
}  // namespace

class TestConcurrency : public QObject {
    Q_OBJECT
    std::unique_ptr<MainWindow> w_;
    QJsonObject golden_;
    QString ids_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        golden_ = golden();
        if (golden_.isEmpty() || !QFile::exists(fixture() + QStringLiteral("/model.safetensors")))
            QSKIP("tests/fixtures/search is missing");
        ids_ = uitest::ids_text(golden_);
        w_ = std::make_unique<MainWindow>();
        w_->resize(1200, 800);
        w_->show();
        QSignalSpy loaded(w_->workbench(), &Workbench::modelLoaded);
        w_->modelPanel()->loadPath(fixture());
        QVERIFY(loaded.wait(30000));
        QVERIFY(uitest::waitIdle(w_->workbench()));
    }

    void readOnlyWorkFinishesBesideASearch() {
        Workbench* wb = w_->workbench();
        ProbePanel* probe = w_->probePanel();
        wb->setText(ids_);
        const int idsCount = golden_.value("ids").toArray().size();
        QVERIFY(QTest::qWaitFor([&] { return probe->tokenCount() == idsCount; }, 10000));
        QVERIFY(uitest::waitIdle(wb));

        // A search far longer than anything below (stage 1 alone: K = 1e6 noisy passes).
        SearchOptions o = wb->options();
        o.samples = 1000000;
        wb->setOptions(o);
        QSignalSpy stage(wb, &Workbench::searchStageProgress);
        QSignalSpy cancelled(wb, &Workbench::searchCancelled);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(stage.wait(20000));  // running
        QVERIFY(wb->searching());

        // 1. Typing in the probe: the token count follows at once (debounce + the text lane).
        QSignalSpy tokenized(probe, &ProbePanel::tokenized);
        QPlainTextEdit* edit = probe->editor();
        edit->moveCursor(QTextCursor::End);
        QElapsedTimer clock;
        clock.start();
        QTest::keyClicks(edit, QStringLiteral(" 7 8"));
        QCOMPARE(wb->text(), ids_ + QStringLiteral(" 7 8"));
        QVERIFY(QTest::qWaitFor([&] { return probe->tokenCount() == idsCount + 2; }, 10000));
        qInfo("token count updated %lld ms after typing, while the search ran", clock.elapsed());
        QVERIFY(wb->searching());  // the search was not waited for
        QVERIFY(!tokenized.isEmpty());
        QCOMPARE(tokenized.last().at(0).toInt(), idsCount + 2);
        wb->setText(ids_);
        QVERIFY(QTest::qWaitFor([&] { return probe->tokenCount() == idsCount; }, 10000));

        // 2. A mask toggle: its perplexity arrives while the search runs, with the reference value.
        const QJsonObject pc = golden_.value("planted_channel").toObject();
        const Neuron planted{pc.value("layer").toInt(), *module_from_name(pc.value("module").toString().toStdString()),
                             pc.value("channel").toInt()};
        const QJsonObject ref = golden_.value("planted_eps100").toObject();
        QSignalSpy ppl(wb, &Workbench::pplChanged);
        wb->requestMask({planted}, QStringLiteral("toggle"));
        QVERIFY(ppl.wait(20000));
        QVERIFY(wb->searching());
        QVERIFY2(near(ppl.last().at(0).toDouble(), ref.value("ppl_orig").toDouble(), 1e-4),
                 qPrintable(QString::number(ppl.last().at(0).toDouble())));
        const double goldenMasked = ref.value("curve").toArray()[0].toObject().value("ppl").toDouble();
        QVERIFY2(near(ppl.last().at(1).toDouble(), goldenMasked, 1e-3), qPrintable(QString::number(ppl.last().at(1).toDouble())));

        // 3. A generation of both sides completes beside it too.
        wb->generation().prompt = QStringLiteral("ids: 1 17 42 9");
        wb->generation().options.max_new = 4;
        wb->generation().options.stop_at_eos = false;
        QSignalSpy generated(wb, &Workbench::generationFinished);
        wb->generate();
        QVERIFY(generated.wait(20000));
        QVERIFY(wb->searching());
        QCOMPARE(int(wb->generation().masked.steps.size()), 4);

        // The search itself was never disturbed: cancel it, it reports cancelled, nothing else.
        wb->cancelSearch();
        QVERIFY(cancelled.wait(20000));
        QCOMPARE(finished.count(), 0);
        QVERIFY(uitest::waitIdle(wb));
    }

    void searchBesidePerplexityGivesTheSameResult() {
        // Same seed and inputs give the same result, whatever ran beside the search.
        Workbench* wb = w_->workbench();
        wb->requestMask({}, QStringLiteral("clear"));
        QVERIFY(uitest::waitIdle(wb));
        SearchOptions o = wb->options();
        o.samples = 200;
        o.max_steps = 20;
        wb->setOptions(o);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(finished.wait(60000));
        const std::string alone = result_to_json(*wb->result(), false);
        const Neuron first = wb->result()->ranking.front().neuron;
        wb->runSearch();
        // Keep the eval lane busy with perplexities for as long as the search runs.
        int toggles = 0, besideSearch = 0;
        while (finished.count() < 2 && toggles < 500) {
            QSignalSpy ppl(wb, &Workbench::pplChanged);
            wb->requestMask(toggles % 2 ? std::set<Neuron>{} : std::set<Neuron>{first}, QStringLiteral("t"));
            ++toggles;
            if (!ppl.wait(20000)) break;
            if (wb->searching()) ++besideSearch;  // delivered while the search was still running
        }
        QVERIFY(finished.count() == 2 || finished.wait(60000));
        qInfo("%d of %d perplexity evaluations finished while the second search ran", besideSearch, toggles);
        QVERIFY(besideSearch >= 1);
        QCOMPARE(result_to_json(*wb->result(), false), alone);
        QVERIFY(uitest::waitIdle(wb));
    }

    void cleanupTestCase() { w_.reset(); }
};

QTEST_MAIN(TestConcurrency)
#include "test_ui_concurrency.moc"
