// SPDX-License-Identifier: GPL-3.0-or-later
#include "jobs/job_controller.h"
#include "achilles/error.h"
#include <QElapsedTimer>
#include <QMetaObject>
#include <QPointer>
#include <exception>
#include <new>

namespace achilles::ui {

namespace {
class JobProgress : public Progress {
public:
    JobProgress(Callback cb, JobController* ctl, std::function<bool()> alive)
        : Progress(std::move(cb)), controller(ctl), alive_(std::move(alive)) {}
    JobController* controller;
    std::function<bool()> alive_;
};
}  // namespace

struct JobController::Job {
    int id = 0;
    QString kind;
    Fn fn;
    std::unique_ptr<JobProgress> progress;
    QElapsedTimer sinceEmit;
    bool emitted = false;
};

JobController::JobController(QObject* parent) : QObject(parent) {
    qRegisterMetaType<std::any>("std::any");
    thread_ = QThread::create([this] { workerLoop(); });
    thread_->setObjectName(QStringLiteral("achilles-worker"));
    thread_->start();
}

JobController::~JobController() {
    {
        QMutexLocker lock(&mutex_);
        stopping_ = true;
        for (auto& j : queue_) j->progress->cancel();
        queue_.clear();
        if (running_) running_->progress->cancel();
        wake_.wakeAll();
    }
    thread_->wait();
    delete thread_;
}

void JobController::deliver(std::shared_ptr<Job> job, std::function<void()> fn) {
    QPointer<JobController> self(this);
    QMetaObject::invokeMethod(
        this, [self, fn = std::move(fn)] {
            if (self) fn();
        },
        Qt::QueuedConnection);
}

int JobController::submit(const QString& kind, Fn fn) {
    auto job = std::make_shared<Job>();
    std::weak_ptr<Job> weak = job;
    job->kind = kind;
    job->fn = std::move(fn);
    job->progress = std::make_unique<JobProgress>(
        [this, weak](std::string_view stage, double fraction, std::string_view message) {
            auto j = weak.lock();
            if (!j || j->progress->cancelled()) return;
            const bool always = fraction < 0 || fraction <= 0.0 || fraction >= 1.0 || !j->emitted;
            if (!always && j->sinceEmit.isValid() && j->sinceEmit.elapsed() < progressIntervalMs_) return;
            j->emitted = true;
            j->sinceEmit.restart();
            const QString st = QString::fromUtf8(stage.data(), qsizetype(stage.size()));
            const QString msg = QString::fromUtf8(message.data(), qsizetype(message.size()));
            const int id = j->id;
            const QString k = j->kind;
            deliver(j, [this, j, id, k, st, fraction, msg] {
                if (!j->progress->cancelled()) emit progress(id, k, st, fraction, msg);
            });
        },
        this, [] { return true; });

    std::vector<std::shared_ptr<Job>> dropped;
    {
        QMutexLocker lock(&mutex_);
        job->id = nextId_++;
        latest_[kind] = job->id;
        dropped = cancelKindLocked(kind);
        queue_.push_back(job);
        wake_.wakeAll();
    }
    announceCancelled(dropped, kind);
    return job->id;
}

std::vector<std::shared_ptr<JobController::Job>> JobController::cancelKindLocked(const QString& kind) {
    std::vector<std::shared_ptr<Job>> dropped;
    for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->kind == kind) {
            (*it)->progress->cancel();
            dropped.push_back(*it);
            it = queue_.erase(it);
        } else {
            ++it;
        }
    }
    if (running_ && running_->kind == kind) running_->progress->cancel();
    return dropped;
}

void JobController::announceCancelled(const std::vector<std::shared_ptr<Job>>& dropped, const QString& kind) {
    for (const auto& d : dropped) {
        const int id = d->id;
        deliver(d, [this, id, kind] { emit cancelled(id, kind); });
    }
}

void JobController::cancel(const QString& kind) {
    std::vector<std::shared_ptr<Job>> dropped;
    {
        QMutexLocker lock(&mutex_);
        dropped = cancelKindLocked(kind);
    }
    announceCancelled(dropped, kind);
}

void JobController::cancelAll() {
    std::vector<std::shared_ptr<Job>> dropped;
    {
        QMutexLocker lock(&mutex_);
        for (auto& j : queue_) {
            j->progress->cancel();
            dropped.push_back(j);
        }
        queue_.clear();
        if (running_) running_->progress->cancel();
    }
    for (auto& d : dropped) {
        const int id = d->id;
        const QString kind = d->kind;
        deliver(d, [this, id, kind] { emit cancelled(id, kind); });
    }
}

bool JobController::busy() const {
    QMutexLocker lock(&mutex_);
    return running_ || !queue_.empty();
}

bool JobController::busy(const QString& kind) const {
    QMutexLocker lock(&mutex_);
    if (running_ && running_->kind == kind) return true;
    for (auto& j : queue_)
        if (j->kind == kind) return true;
    return false;
}

int JobController::latest(const QString& kind) const {
    QMutexLocker lock(&mutex_);
    auto it = latest_.find(kind);
    return it == latest_.end() ? 0 : it->second;
}

void JobController::post(Progress& p, std::function<void()> uiFn) {
    auto* jp = dynamic_cast<JobProgress*>(&p);
    if (!jp) {  // not inside a job (e.g. a test calling the function directly): run inline
        uiFn();
        return;
    }
    if (jp->cancelled()) return;
    JobController* ctl = jp->controller;
    QPointer<JobController> self(ctl);
    QMetaObject::invokeMethod(
        ctl, [self, jp, uiFn = std::move(uiFn)] {
            // jp stays alive until the job's final delivery, which is queued after this call.
            if (self && !jp->cancelled()) uiFn();
        },
        Qt::QueuedConnection);
}

void JobController::workerLoop() {
    for (;;) {
        std::shared_ptr<Job> job;
        {
            QMutexLocker lock(&mutex_);
            while (!stopping_ && queue_.empty()) wake_.wait(&mutex_);
            if (stopping_) return;
            job = queue_.front();
            queue_.pop_front();
            running_ = job;
        }
        const int id = job->id;
        const QString kind = job->kind;
        deliver(job, [this, id, kind] { emit started(id, kind); });
        enum { ok, cancelledOutcome, failedOutcome } outcome = ok;
        std::any value;
        QString message;
        try {
            if (job->progress->cancelled()) throw Cancelled{};
            value = job->fn(*job->progress);
        } catch (const Cancelled&) {
            outcome = cancelledOutcome;
        } catch (const Error& e) {
            outcome = failedOutcome;
            message = QString::fromUtf8(e.what());
        } catch (const std::bad_alloc&) {
            outcome = failedOutcome;
            message = tr("Out of memory. Try a smaller model, fewer samples, a shorter text or another dtype.");
        } catch (const std::exception& e) {
            outcome = failedOutcome;
            message = QString::fromUtf8(e.what());
        } catch (...) {
            outcome = failedOutcome;
            message = tr("Unknown error in a background job.");
        }
        job->fn = nullptr;  // release captured inputs on the worker
        bool drained = false;
        {
            QMutexLocker lock(&mutex_);
            running_.reset();
            drained = queue_.empty();
        }
        auto shared = std::make_shared<std::any>(std::move(value));
        deliver(job, [this, job, id, kind, outcome, shared, message, drained] {
            // A job cancelled after it finished but before delivery is reported as cancelled:
            // a newer job of its kind superseded it.
            if (outcome == cancelledOutcome || job->progress->cancelled())
                emit cancelled(id, kind);
            else if (outcome == failedOutcome)
                emit failed(id, kind, message);
            else
                emit finished(id, kind, *shared);
            if (drained && !busy()) emit idle();
        });
    }
}

}  // namespace achilles::ui
