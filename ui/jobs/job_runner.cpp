// SPDX-License-Identifier: GPL-3.0-or-later
#include "jobs/job_runner.h"
#include <QElapsedTimer>
#include <QMetaObject>
#include <QMutex>
#include <QThread>
#include <QWaitCondition>
#include <algorithm>
#include <deque>
#include <exception>
#include <new>
#include <string>

namespace achilles::ui {

namespace {
// The Progress a job sees: reports are throttled and queued to the UI thread; post() finds its
// job and runner through it.
class JobProgress : public Progress {
public:
    JobProgress(JobRunner* runner, std::weak_ptr<JobState> job)
        : Progress([this](std::string_view stage, double f, std::string_view msg) { report(stage, f, msg); }),
          runner_(runner), job_(std::move(job)) {}
    QPointer<JobRunner> runner_;
    std::weak_ptr<JobState> job_;

private:
    void report(std::string_view stage, double fraction, std::string_view message) {
        if (cancelled()) return;
        // A new stage always reports (a stability study's "run 2/6" right after a search's "done").
        const bool always = fraction <= 0.0 || fraction >= 1.0 || !emitted_ || stage != lastStage_;  // log lines have fraction -1
        if (!always && sinceEmit_.isValid() && runner_ && sinceEmit_.elapsed() < runner_->progressInterval()) return;
        emitted_ = true;
        sinceEmit_.restart();
        lastStage_.assign(stage.data(), stage.size());
        auto job = job_.lock();
        if (!job || !runner_) return;
        const QString st = QString::fromUtf8(stage.data(), qsizetype(stage.size()));
        const QString msg = QString::fromUtf8(message.data(), qsizetype(message.size()));
        JobRunner::post(*this, [job, st, fraction, msg] { job->reported(st, fraction, msg); });
    }
    QElapsedTimer sinceEmit_;
    bool emitted_ = false;
    std::string lastStage_;
};
}  // namespace

// One worker thread and its queue.
class JobRunner::LaneWorker {
public:
    LaneWorker(JobRunner* runner, Lane lane) : runner_(runner) {
        thread_.reset(QThread::create([this] { loop(); }));
        thread_->setObjectName(QStringLiteral("achilles-lane-%1").arg(int(lane)));
        thread_->start();
    }
    ~LaneWorker() {
        {
            QMutexLocker lock(&mutex_);
            stopping_ = true;
            for (auto& j : queue_) j->progress->cancel();
            queue_.clear();
            if (running_) running_->progress->cancel();
            wake_.wakeAll();
        }
        thread_->wait();
    }
    void push(std::shared_ptr<JobState> job) {
        QMutexLocker lock(&mutex_);
        queue_.push_back(std::move(job));
        wake_.wakeAll();
    }
    // True when the job was still queued (and is now removed).
    bool drop(const std::shared_ptr<JobState>& job) {
        QMutexLocker lock(&mutex_);
        auto it = std::find(queue_.begin(), queue_.end(), job);
        if (it == queue_.end()) return false;
        queue_.erase(it);
        return true;
    }

    // Drops the queued jobs (each reported cancelled, in order) and cancels the running one.
    void cancelAllJobs(JobRunner& r) {
        std::deque<std::shared_ptr<JobState>> dropped;
        {
            QMutexLocker lock(&mutex_);
            dropped.swap(queue_);
            if (running_) running_->progress->cancel();
        }
        for (auto& j : dropped) {
            j->progress->cancel();
            r.deliver([runner = &r, j] {
                j->done(JobState::Outcome::cancelled, {});
                runner->settle();
            });
        }
    }

private:
    void loop() {
        for (;;) {
            std::shared_ptr<JobState> job;
            {
                QMutexLocker lock(&mutex_);
                while (!stopping_ && queue_.empty()) wake_.wait(&mutex_);
                if (stopping_) return;
                job = queue_.front();
                queue_.pop_front();
                running_ = job;
            }
            runner_->deliver([job] { job->started(); });
            auto outcome = JobState::Outcome::finished;
            QString message;
            try {
                job->progress->check();
                job->work(*job->progress);
            } catch (const Cancelled&) {
                outcome = JobState::Outcome::cancelled;
            } catch (const std::bad_alloc&) {
                outcome = JobState::Outcome::failed;
                message = QObject::tr("Out of memory. Try a smaller model, fewer samples, a shorter text or another dtype.");
            } catch (const std::exception& e) {  // achilles::Error included: its message names file and field
                outcome = JobState::Outcome::failed;
                message = QString::fromUtf8(e.what());
            } catch (...) {
                outcome = JobState::Outcome::failed;
                message = QObject::tr("Unknown error in a background job.");
            }
            job->work = nullptr;  // release the captured inputs on the lane
            {
                QMutexLocker lock(&mutex_);
                running_.reset();
            }
            runner_->deliver([runner = runner_, job, outcome, message] {
                // Cancelled after it finished but before this delivery: a cancel, as the user asked.
                job->done(job->progress->cancelled() ? JobState::Outcome::cancelled : outcome, message);
                runner->settle();
            });
        }
    }

    JobRunner* runner_;
    std::unique_ptr<QThread> thread_;
    QMutex mutex_;
    QWaitCondition wake_;
    std::deque<std::shared_ptr<JobState>> queue_;
    std::shared_ptr<JobState> running_;
    bool stopping_ = false;
};

JobRunner::JobRunner(QObject* parent) : QObject(parent) {}

JobRunner::~JobRunner() {
    for (auto& l : lanes_) l.reset();  // cancels and joins; undelivered outcomes are dropped
}

std::unique_ptr<Progress> JobRunner::makeProgress(const std::weak_ptr<JobState>& job) {
    return std::make_unique<JobProgress>(this, job);
}

void JobRunner::deliver(std::function<void()> fn) {
    QPointer<JobRunner> self(this);
    QMetaObject::invokeMethod(
        this, [self, fn = std::move(fn)] {
            if (self) fn();
        },
        Qt::QueuedConnection);
}

void JobRunner::start(const std::shared_ptr<JobState>& job) {
    job->id = nextId_++;
    if (live_++ == 0) emit busyChanged(true);
    auto& lane = lanes_[int(job->lane)];
    if (!lane) lane = std::make_unique<LaneWorker>(this, job->lane);
    lane->push(job);
}

void JobRunner::cancel(const std::shared_ptr<JobState>& job) {
    if (job->progress->cancelled()) return;
    job->progress->cancel();
    auto& lane = lanes_[int(job->lane)];
    if (lane && lane->drop(job))  // never started: its outcome is a cancel, delivered in order
        deliver([this, job] {
            job->done(JobState::Outcome::cancelled, {});
            settle();
        });
}

void JobRunner::cancelAll() {
    // Every job that is not settled yet holds a reference in a queue or in a pending delivery;
    // cancelling goes through the lanes, which know them.
    for (auto& l : lanes_)
        if (l) l->cancelAllJobs(*this);
}

void JobRunner::settle() {
    if (--live_ == 0) emit busyChanged(false);
}

void JobRunner::post(Progress& p, std::function<void()> uiFn) {
    auto* jp = dynamic_cast<JobProgress*>(&p);
    if (!jp) {
        uiFn();
        return;
    }
    if (jp->cancelled() || !jp->runner_) return;
    auto job = jp->job_.lock();
    if (!job) return;
    jp->runner_->deliver([job, uiFn = std::move(uiFn)] {
        if (!job->progress->cancelled()) uiFn();
    });
}

}  // namespace achilles::ui
