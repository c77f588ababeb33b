// SPDX-License-Identifier: GPL-3.0-or-later
// Typed jobs (JobRunner, JobTracker): typed results on the UI thread, progress, cancel, newest
// wins per tracker, errors, streaming, lanes side by side, busy accounting, responsiveness.
#include "achilles/error.h"
#include "jobs/job_runner.h"
#include <QElapsedTimer>
#include <QSet>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <atomic>
#include <mutex>
#include <new>

using namespace achilles;
using namespace achilles::ui;

namespace {
// Spins until release is set, checking for cancellation; records how it ended.
struct Blocker {
    std::atomic<bool> release{false}, started{false}, sawCancel{false};
    auto job(int value) {
        return [this, value](Progress& p) {
            started = true;
            try {
                while (!release.load()) {
                    p.check();
                    QThread::msleep(1);
                }
            } catch (const Cancelled&) {
                sawCancel = true;
                throw;
            }
            return value;
        };
    }
};
}  // namespace

class TestJobs : public QObject {
    Q_OBJECT
private slots:
    void finishedDeliversTypedValueOnUiThread() {
        JobRunner runner;
        JobTracker<std::vector<int>> t(&runner, Lane::eval);
        QThread* ui = QThread::currentThread();
        std::atomic<QThread*> worker{nullptr};
        QThread* deliveredOn = nullptr;
        int started = 0;
        std::optional<std::vector<int>> got;
        t.onStarted([&] { ++started; });
        t.onFinished([&](std::vector<int> v) {
            deliveredOn = QThread::currentThread();
            got = std::move(v);
        });
        const int id = t.run([&](Progress&) {
            worker = QThread::currentThread();
            std::vector<int> v;
            for (int i = 1; i <= 100; ++i) v.push_back(i);
            return v;
        });
        QVERIFY(id > 0);
        QVERIFY(t.running());
        QVERIFY(QTest::qWaitFor([&] { return got.has_value(); }, 5000));
        QCOMPARE(started, 1);
        QCOMPARE(int(got->size()), 100);
        QCOMPARE(got->back(), 100);
        QVERIFY(worker.load() != nullptr);
        QVERIFY(worker.load() != ui);  // ran on a lane
        QCOMPARE(deliveredOn, ui);     // delivered on the UI thread
        QVERIFY(!t.running());
        QVERIFY(!runner.busy());
    }

    void progressArrivesInOrder() {
        JobRunner runner;
        runner.setProgressInterval(0);
        JobTracker<int> t(&runner, Lane::model);
        QList<std::tuple<QString, double, QString>> progress;
        bool done = false;
        t.onProgress([&](const QString& s, double f, const QString& m) { progress.append({s, f, m}); });
        t.onFinished([&](int) { done = true; });
        t.run([](Progress& p) {
            for (int i = 0; i <= 4; ++i) p.report("stage1", i / 4.0, "step " + std::to_string(i));
            p.log("hello");
            return 1;
        });
        QVERIFY(QTest::qWaitFor([&] { return done; }, 5000));
        QCOMPARE(progress.size(), 6);
        for (int i = 0; i <= 4; ++i) {
            QCOMPARE(std::get<0>(progress.at(i)), QStringLiteral("stage1"));
            QCOMPARE(std::get<1>(progress.at(i)), i / 4.0);
            QCOMPARE(std::get<2>(progress.at(i)), QStringLiteral("step %1").arg(i));
        }
        QCOMPARE(std::get<1>(progress.at(5)), -1.0);
        QCOMPARE(std::get<2>(progress.at(5)), QStringLiteral("hello"));
    }

    void progressIsThrottled() {
        JobRunner runner;
        runner.setProgressInterval(1000);
        JobTracker<int> t(&runner, Lane::model);
        QList<double> fractions;
        bool done = false;
        t.onProgress([&](const QString&, double f, const QString&) { fractions.append(f); });
        t.onFinished([&](int) { done = true; });
        t.run([](Progress& p) {
            for (int i = 1; i < 10000; ++i) p.report("s", i / 10000.0);
            p.report("s", 1.0);
            return 0;
        });
        QVERIFY(QTest::qWaitFor([&] { return done; }, 5000));
        // first report, then throttled (1 s), then the final 1.0
        QVERIFY2(fractions.size() >= 2 && fractions.size() <= 4, qPrintable(QString::number(fractions.size())));
        QCOMPARE(fractions.last(), 1.0);
    }

    void cancelIsItsOwnOutcome() {
        JobRunner runner;
        JobTracker<int> t(&runner, Lane::model);
        int cancelled = 0, failed = 0, finished = 0;
        t.onCancelled([&] { ++cancelled; });
        t.onFailed([&](const QString&) { ++failed; });
        t.onFinished([&](int) { ++finished; });
        std::atomic<int> loops{0};
        t.run([&](Progress& p) {
            for (;;) {
                p.check();
                ++loops;
                QThread::msleep(1);
            }
            return 0;
        });
        QVERIFY(QTest::qWaitFor([&] { return loops.load() > 3; }, 5000));
        QElapsedTimer clock;
        clock.start();
        t.cancel();
        QVERIFY(QTest::qWaitFor([&] { return cancelled > 0; }, 5000));
        QVERIFY(clock.elapsed() < 2000);
        QCOMPARE(cancelled, 1);
        QCOMPARE(failed, 0);
        QCOMPARE(finished, 0);
        QVERIFY(!runner.busy());
        QVERIFY(!t.running());
    }

    void newestWinsPerTracker() {
        JobRunner runner;
        JobTracker<int> ppl(&runner, Lane::eval), other(&runner, Lane::eval);
        QList<int> pplValues, otherValues;
        int pplCancelled = 0;
        ppl.onFinished([&](int v) { pplValues.append(v); });
        ppl.onCancelled([&] { ++pplCancelled; });
        other.onFinished([&](int v) { otherValues.append(v); });
        Blocker a, b, c;
        ppl.run(a.job(1));
        QVERIFY(QTest::qWaitFor([&] { return a.started.load(); }, 5000));  // a is running
        other.run([](Progress&) { return 99; });                           // queued behind a, same lane
        ppl.run(b.job(2));                                                 // cancels running a
        const int cId = ppl.run(c.job(3));                                 // drops queued b
        QCOMPARE(ppl.currentId(), cId);
        c.release = true;
        QVERIFY(QTest::qWaitFor([&] { return !runner.busy(); }, 5000));
        QVERIFY(a.sawCancel.load());      // a stopped at its next check()
        QVERIFY(!b.started.load());       // b never ran
        QCOMPARE(pplValues, QList<int>{3});  // only the newest job's outcome reaches the consumer
        QCOMPARE(pplCancelled, 0);           // superseded jobs are silent, not "cancelled"
        QCOMPARE(otherValues, QList<int>{99});  // another tracker is not affected
    }

    void errorsAreReported() {
        JobRunner runner;
        JobTracker<int> e1(&runner, Lane::model), e2(&runner, Lane::model), e3(&runner, Lane::model);
        QStringList failed;
        for (auto* t : {&e1, &e2, &e3}) t->onFailed([&](const QString& m) { failed.append(m); });
        e1.run([](Progress&) -> int { throw Error("model.safetensors", "header", "is truncated"); });
        e2.run([](Progress&) -> int { throw std::bad_alloc(); });
        e3.run([](Progress&) -> int { throw std::runtime_error("boom"); });
        QVERIFY(QTest::qWaitFor([&] { return failed.size() == 3; }, 5000));
        QVERIFY(failed.at(0).contains(QStringLiteral("model.safetensors")));
        QVERIFY(failed.at(0).contains(QStringLiteral("header")));
        QVERIFY(failed.at(1).contains(QStringLiteral("Out of memory")));
        QCOMPARE(failed.at(2), QStringLiteral("boom"));
        // still usable afterwards
        int value = 0;
        e1.onFinished([&](int v) { value = v; });
        e1.run([](Progress&) { return 7; });
        QVERIFY(QTest::qWaitFor([&] { return value == 7; }, 5000));
    }

    void postStreamsInOrderAndStopsAfterCancel() {
        JobRunner runner;
        JobTracker<int> t(&runner, Lane::eval);
        std::vector<int> got;
        bool done = false;
        t.onFinished([&](int) { done = true; });
        t.run([&got](Progress& p) {
            for (int i = 0; i < 50; ++i) JobRunner::post(p, [&got, i] { got.push_back(i); });
            return 0;
        });
        QVERIFY(QTest::qWaitFor([&] { return done; }, 5000));
        QCOMPARE(int(got.size()), 50);
        for (int i = 0; i < 50; ++i) QCOMPARE(got[size_t(i)], i);  // all delivered before the outcome

        std::atomic<int> posted{0};
        std::vector<int> late;
        bool cancelled = false;
        t.onCancelled([&] { cancelled = true; });
        t.run([&](Progress& p) {
            for (int i = 0;; ++i) {
                p.check();
                JobRunner::post(p, [&late, i] { late.push_back(i); });
                ++posted;
                QThread::msleep(2);
            }
            return 0;
        });
        QVERIFY(QTest::qWaitFor([&] { return posted.load() > 5; }, 5000));
        t.cancel();
        const size_t atCancel = late.size();
        QVERIFY(QTest::qWaitFor([&] { return cancelled; }, 5000));
        QTest::qWait(50);
        QCOMPARE(late.size(), atCancel);  // nothing delivered after the cancel
    }

    void lanesRunSideBySide() {
        // A long job on the model lane does not hold up the eval and text lanes.
        JobRunner runner;
        JobTracker<int> longJob(&runner, Lane::model), quick(&runner, Lane::eval), text(&runner, Lane::text);
        Blocker block;
        int quickValue = 0, textValue = 0, longValue = 0;
        quick.onFinished([&](int v) { quickValue = v; });
        text.onFinished([&](int v) { textValue = v; });
        longJob.onFinished([&](int v) { longValue = v; });
        longJob.run(block.job(1));
        QVERIFY(QTest::qWaitFor([&] { return block.started.load(); }, 5000));
        quick.run([](Progress&) { return 2; });
        text.run([](Progress&) { return 3; });
        QVERIFY(QTest::qWaitFor([&] { return quickValue == 2 && textValue == 3; }, 5000));
        QVERIFY(longJob.running());  // still running: the others finished beside it
        QCOMPARE(longValue, 0);
        QVERIFY(runner.busy());
        block.release = true;
        QVERIFY(QTest::qWaitFor([&] { return longValue == 1; }, 5000));
    }

    void busyCoversDelivery() {
        // busyChanged(false) comes after the last continuation ran: a seam for tests and headless runs.
        JobRunner runner;
        JobTracker<int> t(&runner, Lane::io);
        QSignalSpy busy(&runner, &JobRunner::busyChanged);
        int value = 0;
        bool valueSeenWhenIdle = false;
        t.onFinished([&](int v) { value = v; });
        connect(&runner, &JobRunner::busyChanged, this, [&](bool b) {
            if (!b) valueSeenWhenIdle = value == 5;
        });
        t.run([](Progress&) { return 5; });
        QVERIFY(runner.busy());
        QVERIFY(busy.wait(5000) || busy.count() > 0);
        QVERIFY(QTest::qWaitFor([&] { return busy.count() == 2; }, 5000));
        QCOMPARE(busy.at(0).at(0).toBool(), true);
        QCOMPARE(busy.at(1).at(0).toBool(), false);
        QVERIFY(valueSeenWhenIdle);
        QVERIFY(!runner.busy());
    }

    void uiThreadStaysResponsive() {
        JobRunner runner;
        JobTracker<double> t(&runner, Lane::model);
        bool done = false;
        t.onFinished([&](double) { done = true; });
        qint64 maxGap = 0;
        QElapsedTimer tick;
        tick.start();
        QTimer timer;
        timer.setInterval(5);
        connect(&timer, &QTimer::timeout, this, [&] { maxGap = std::max(maxGap, tick.restart()); });
        timer.start();
        t.run([](Progress& p) {
            QElapsedTimer clock;
            clock.start();
            volatile double x = 0;
            while (clock.elapsed() < 400) {
                for (int i = 0; i < 10000; ++i) x = x + i * 1e-9;
                p.report("spin", clock.elapsed() / 400.0);
            }
            return double(x);
        });
        QVERIFY(QTest::qWaitFor([&] { return done; }, 5000));
        timer.stop();
        // The 50 ms target is a measured number (printed here, and by `achilles --screenshot`), not a
        // timed assertion: on a loaded CI machine the scheduler alone can pause this thread. What
        // must hold everywhere is that the job did not run on (or block) the UI thread: the event
        // loop kept ticking through the whole 400 ms job, never stalling for most of it.
        qInfo("max UI event-loop gap during a 400 ms job: %lld ms (target < 50 ms)", maxGap);
        QVERIFY2(maxGap < 300, qPrintable(QString::number(maxGap)));
    }

    void destructorCancelsRunningJob() {
        QElapsedTimer clock;
        clock.start();
        Blocker block;
        {
            JobRunner runner;
            JobTracker<int> t(&runner, Lane::model), queued(&runner, Lane::model);
            t.run(block.job(0));
            queued.run([](Progress&) { return 1; });
            QVERIFY(QTest::qWaitFor([&] { return block.started.load(); }, 5000));
        }
        QVERIFY(block.sawCancel.load());
        QVERIFY(clock.elapsed() < 3000);
    }

    void trackerGoneDropsOutcome() {
        // A consumer destroyed mid-job never hears of it (no dangling continuation).
        JobRunner runner;
        Blocker block;
        bool called = false;
        {
            JobTracker<int> t(&runner, Lane::eval);
            t.onFinished([&](int) { called = true; });
            t.onCancelled([&] { called = true; });
            t.run(block.job(4));
            QVERIFY(QTest::qWaitFor([&] { return block.started.load(); }, 5000));
        }
        QVERIFY(QTest::qWaitFor([&] { return !runner.busy(); }, 5000));
        QVERIFY(block.sawCancel.load());
        QVERIFY(!called);
    }
};

QTEST_MAIN(TestJobs)
#include "test_ui_jobs.moc"
