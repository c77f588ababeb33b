// SPDX-License-Identifier: GPL-3.0-or-later
// JobController: progress, cancel, newest-wins, errors, streaming, UI thread responsiveness.
#include "achilles/error.h"
#include "jobs/job_controller.h"
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <atomic>
#include <new>

using namespace achilles;
using namespace achilles::ui;

class TestJobs : public QObject {
    Q_OBJECT
private slots:
    void init() { qRegisterMetaType<std::any>("std::any"); }

    void finishedDeliversValueOnUiThread() {
        JobController jc;
        QSignalSpy started(&jc, &JobController::started);
        QSignalSpy finished(&jc, &JobController::finished);
        QThread* ui = QThread::currentThread();
        QThread* worker = nullptr;
        QThread* deliveredOn = nullptr;
        connect(&jc, &JobController::finished, this, [&] { deliveredOn = QThread::currentThread(); });
        const int id = jc.run(QStringLiteral("sum"), [&](Progress&) {
            worker = QThread::currentThread();
            int s = 0;
            for (int i = 1; i <= 100; ++i) s += i;
            return s;
        });
        QVERIFY(id > 0);
        QVERIFY(finished.wait(5000));
        QCOMPARE(started.count(), 1);
        QCOMPARE(finished.count(), 1);
        QCOMPARE(finished.at(0).at(0).toInt(), id);
        QCOMPARE(finished.at(0).at(1).toString(), QStringLiteral("sum"));
        QCOMPARE(std::any_cast<int>(finished.at(0).at(2).value<std::any>()), 5050);
        QVERIFY(worker != nullptr);
        QVERIFY(worker != ui);          // ran on the worker
        QCOMPARE(deliveredOn, ui);      // delivered on the UI thread
    }

    void progressArrivesInOrder() {
        JobController jc;
        jc.setProgressInterval(0);
        QSignalSpy progress(&jc, &JobController::progress);
        QSignalSpy finished(&jc, &JobController::finished);
        jc.run(QStringLiteral("p"), [](Progress& p) {
            for (int i = 0; i <= 4; ++i) p.report("stage1", i / 4.0, "step " + std::to_string(i));
            p.log("hello");
            return 1;
        });
        QVERIFY(finished.wait(5000));
        QCOMPARE(progress.count(), 6);
        for (int i = 0; i <= 4; ++i) {
            QCOMPARE(progress.at(i).at(2).toString(), QStringLiteral("stage1"));
            QCOMPARE(progress.at(i).at(3).toDouble(), i / 4.0);
            QCOMPARE(progress.at(i).at(4).toString(), QStringLiteral("step %1").arg(i));
        }
        QCOMPARE(progress.at(5).at(3).toDouble(), -1.0);
        QCOMPARE(progress.at(5).at(4).toString(), QStringLiteral("hello"));
    }

    void progressIsThrottled() {
        JobController jc;
        jc.setProgressInterval(1000);
        QSignalSpy progress(&jc, &JobController::progress);
        QSignalSpy finished(&jc, &JobController::finished);
        jc.run(QStringLiteral("p"), [](Progress& p) {
            for (int i = 1; i < 10000; ++i) p.report("s", i / 10000.0);
            p.report("s", 1.0);
            return 0;
        });
        QVERIFY(finished.wait(5000));
        // first report, then throttled (1 s), then the final 1.0
        QVERIFY2(progress.count() >= 2 && progress.count() <= 4, qPrintable(QString::number(progress.count())));
        QCOMPARE(progress.last().at(3).toDouble(), 1.0);
    }

    void cancelIsItsOwnOutcome() {
        JobController jc;
        QSignalSpy cancelled(&jc, &JobController::cancelled);
        QSignalSpy failed(&jc, &JobController::failed);
        QSignalSpy finished(&jc, &JobController::finished);
        QSignalSpy started(&jc, &JobController::started);
        std::atomic<int> loops{0};
        jc.run(QStringLiteral("long"), [&](Progress& p) {
            for (;;) {
                p.check();
                ++loops;
                QThread::msleep(1);
            }
            return 0;
        });
        QVERIFY(started.wait(5000));
        QTRY_VERIFY(loops.load() > 3);
        QElapsedTimer t;
        t.start();
        jc.cancel(QStringLiteral("long"));
        QVERIFY(cancelled.wait(5000));
        QVERIFY(t.elapsed() < 2000);
        QCOMPARE(cancelled.count(), 1);
        QCOMPARE(failed.count(), 0);
        QCOMPARE(finished.count(), 0);
        QVERIFY(!jc.busy());
    }

    void newestWinsPerKind() {
        JobController jc;
        QSignalSpy cancelled(&jc, &JobController::cancelled);
        QSignalSpy finished(&jc, &JobController::finished);
        QSignalSpy started(&jc, &JobController::started);
        std::atomic<bool> release{false};
        auto blocker = [&](int value) {
            return [&release, value](Progress& p) {
                while (!release.load()) {
                    p.check();
                    QThread::msleep(1);
                }
                return value;
            };
        };
        const int a = jc.run(QStringLiteral("ppl"), blocker(1));
        QVERIFY(started.wait(5000));  // a is running
        const int other = jc.run(QStringLiteral("other"), [](Progress&) { return 99; });
        const int b = jc.run(QStringLiteral("ppl"), blocker(2));  // cancels running a
        const int c = jc.run(QStringLiteral("ppl"), blocker(3));  // cancels pending b
        QCOMPARE(jc.latest(QStringLiteral("ppl")), c);
        release = true;
        QTRY_VERIFY_WITH_TIMEOUT(!jc.busy() && finished.count() == 2 && cancelled.count() == 2, 5000);
        QSet<int> cancelledIds{cancelled.at(0).at(0).toInt(), cancelled.at(1).at(0).toInt()};
        QCOMPARE(cancelledIds, (QSet<int>{a, b}));
        QMap<int, int> values;
        for (const auto& f : finished) values[f.at(0).toInt()] = std::any_cast<int>(f.at(2).value<std::any>());
        QCOMPARE(values.value(other), 99);
        QCOMPARE(values.value(c), 3);
        // b never started: only a, other and c did
        QSet<int> startedIds;
        for (const auto& s : started) startedIds.insert(s.at(0).toInt());
        QVERIFY(!startedIds.contains(b));
        QVERIFY(startedIds.contains(c));
    }

    void errorsAreReported() {
        JobController jc;
        QSignalSpy failed(&jc, &JobController::failed);
        QSignalSpy cancelled(&jc, &JobController::cancelled);
        jc.run(QStringLiteral("e1"), [](Progress&) -> int { throw Error("model.safetensors", "header", "is truncated"); });
        jc.run(QStringLiteral("e2"), [](Progress&) -> int { throw std::bad_alloc(); });
        jc.run(QStringLiteral("e3"), [](Progress&) -> int { throw std::runtime_error("boom"); });
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 3, 5000);
        QVERIFY(failed.at(0).at(2).toString().contains(QStringLiteral("model.safetensors")));
        QVERIFY(failed.at(0).at(2).toString().contains(QStringLiteral("header")));
        QVERIFY(failed.at(1).at(2).toString().contains(QStringLiteral("Out of memory")));
        QCOMPARE(failed.at(2).at(2).toString(), QStringLiteral("boom"));
        QCOMPARE(cancelled.count(), 0);
        // still usable afterwards
        QSignalSpy finished(&jc, &JobController::finished);
        jc.run(QStringLiteral("ok"), [](Progress&) { return 7; });
        QVERIFY(finished.wait(5000));
    }

    void postStreamsInOrderAndStopsAfterCancel() {
        JobController jc;
        std::vector<int> got;
        QSignalSpy finished(&jc, &JobController::finished);
        jc.run(QStringLiteral("stream"), [&got](Progress& p) {
            for (int i = 0; i < 50; ++i) JobController::post(p, [&got, i] { got.push_back(i); });
            return 0;
        });
        QVERIFY(finished.wait(5000));
        QCOMPARE(int(got.size()), 50);
        for (int i = 0; i < 50; ++i) QCOMPARE(got[size_t(i)], i);

        std::atomic<int> posted{0};
        std::vector<int> late;
        QSignalSpy cancelled(&jc, &JobController::cancelled);
        jc.run(QStringLiteral("stream2"), [&](Progress& p) {
            for (int i = 0;; ++i) {
                p.check();
                JobController::post(p, [&late, i] { late.push_back(i); });
                ++posted;
                QThread::msleep(2);
            }
            return 0;
        });
        QTRY_VERIFY(posted.load() > 5);
        jc.cancel(QStringLiteral("stream2"));
        const size_t atCancel = late.size();
        QVERIFY(cancelled.wait(5000));
        QTest::qWait(50);
        QCOMPARE(late.size(), atCancel);  // nothing delivered after the cancel
    }

    void uiThreadStaysResponsive() {
        JobController jc;
        QSignalSpy finished(&jc, &JobController::finished);
        qint64 maxGap = 0;
        QElapsedTimer tick;
        tick.start();
        QTimer timer;
        timer.setInterval(5);
        connect(&timer, &QTimer::timeout, this, [&] {
            maxGap = std::max(maxGap, tick.restart());
        });
        timer.start();
        jc.run(QStringLiteral("busy"), [](Progress& p) {
            QElapsedTimer t;
            t.start();
            volatile double x = 0;
            while (t.elapsed() < 400) {
                for (int i = 0; i < 10000; ++i) x = x + i * 1e-9;
                p.report("spin", t.elapsed() / 400.0);
            }
            return double(x);
        });
        QVERIFY(finished.wait(5000));
        timer.stop();
        // The 50 ms target is a measured number (printed here, and by `achilles --screenshot`), not a
        // timed assertion: on a loaded CI machine the scheduler alone can pause this thread. What
        // must hold everywhere is that the job did not run on (or block) the UI thread: the event
        // loop kept ticking through the whole 400 ms job, never stalling for most of it.
        qInfo("max UI event-loop gap during a 400 ms job: %lld ms (target < 50 ms)", maxGap);
        QVERIFY2(maxGap < 300, qPrintable(QString::number(maxGap)));
    }

    void destructorCancelsRunningJob() {
        QElapsedTimer t;
        t.start();
        {
            JobController jc;
            QSignalSpy started(&jc, &JobController::started);
            jc.run(QStringLiteral("forever"), [](Progress& p) {
                for (;;) {
                    p.check();
                    QThread::msleep(1);
                }
                return 0;
            });
            jc.run(QStringLiteral("queued"), [](Progress&) { return 1; });
            QVERIFY(started.wait(5000));
        }
        QVERIFY(t.elapsed() < 3000);
    }
};

QTEST_MAIN(TestJobs)
#include "test_ui_jobs.moc"
