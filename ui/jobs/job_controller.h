// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The only place in ui/ that knows about threads. Jobs are plain functions
// (inputs captured, Progress&) -> value, run one at a time on a single worker QThread.
// Per kind, the newest job wins: submitting a job of kind K cancels the pending and the
// running job of kind K. Every outcome reaches the UI thread through queued signals.
#include "achilles/progress.h"
#include <QMutex>
#include <QObject>
#include <QString>
#include <QThread>
#include <QWaitCondition>
#include <any>
#include <deque>
#include <functional>
#include <map>
#include <memory>

Q_DECLARE_METATYPE(std::any)

namespace achilles::ui {

class JobController : public QObject {
    Q_OBJECT
public:
    using Fn = std::function<std::any(Progress&)>;

    explicit JobController(QObject* parent = nullptr);
    ~JobController() override;  // cancels everything and joins the worker

    // Queues fn under kind; returns the job id (> 0). Cancels older jobs of the same kind.
    int submit(const QString& kind, Fn fn);
    template <class F>
    int run(const QString& kind, F&& f) {
        return submit(kind, [f = std::forward<F>(f)](Progress& p) mutable -> std::any { return std::any(f(p)); });
    }

    void cancel(const QString& kind);  // pending and running jobs of that kind
    void cancelAll();
    bool busy() const;                 // something pending or running
    bool busy(const QString& kind) const;
    int latest(const QString& kind) const;  // id of the newest job submitted for kind (0: none)

    // From inside a running job: run uiFn on the UI thread unless the job was cancelled by then.
    // Used to stream partial results (tokens, curve points). p must be the job's Progress.
    static void post(Progress& p, std::function<void()> uiFn);

    // Minimum interval between two progress signals of one job (fraction 0 and 1 and log
    // messages are always delivered).
    void setProgressInterval(int ms) { progressIntervalMs_ = ms; }

signals:
    void started(int id, const QString& kind);
    void progress(int id, const QString& kind, const QString& stage, double fraction, const QString& message);
    void finished(int id, const QString& kind, const std::any& result);
    void cancelled(int id, const QString& kind);
    void failed(int id, const QString& kind, const QString& message);
    void idle();  // queue drained and nothing running

private:
    struct Job;
    class Worker;
    void workerLoop();
    void deliver(std::shared_ptr<Job> job, std::function<void()> fn);
    // Removes the queued jobs of `kind` and cancels the running one; call with mutex_ held.
    std::vector<std::shared_ptr<Job>> cancelKindLocked(const QString& kind);
    void announceCancelled(const std::vector<std::shared_ptr<Job>>& dropped, const QString& kind);

    mutable QMutex mutex_;
    QWaitCondition wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    std::shared_ptr<Job> running_;
    bool stopping_ = false;
    int nextId_ = 1;
    int progressIntervalMs_ = 40;
    std::map<QString, int> latest_;
    QThread* thread_ = nullptr;
};

}  // namespace achilles::ui
