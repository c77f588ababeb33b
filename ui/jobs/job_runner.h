// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Typed background jobs: the only place in ui/ that knows about threads.
//
// A job is a plain function (inputs captured, Progress&) -> T. It is started through a
// JobTracker<T>, one per consumer and operation (the Workbench's search, the probe panel's
// tokenization, ...). A tracker holds at most one live job: starting another cancels the previous
// one, whose outcome then never reaches the consumer (newest wins). The tracker's continuations
// (finished(T), failed(message), cancelled(), progress) run on the UI thread.
//
// Concurrency rule. Jobs run on lanes; each lane is one worker thread working its queue in order,
// and lanes run side by side:
//   Lane::model  loading a model and the search: long, and the only work that creates an Engine;
//   Lane::eval   read-only forwards on a loaded Engine: perplexity under a mask, generation;
//   Lane::text   tokenization (no libtorch at all);
//   Lane::io     session files (no Engine).
// So typing in the probe, toggling a neuron or generating while a search runs is answered at once
// instead of queueing behind it. This is safe with libtorch because an Engine is immutable once
// loaded (const methods, read-only weights, no mutable members) and each call builds its own state:
// mask hooks are a per-call Hooks object passed to forward(), never a registry on the model; the
// autograd guards (c10::InferenceMode, c10::NoGradGuard) are thread-local; the search noise comes
// from a counter-based generator keyed by (seed, k) and sampling from a per-call xoshiro, never from
// libtorch's global generator, so results do not depend on what runs beside them. Nothing in the
// GUI calls at::set_num_threads (process-wide; only achilles-cli bench/train do), so two lanes share
// libtorch's intra-op pool, which ATen supports from several calling threads; the cost is sharing
// cores, not correctness. Jobs hold the Engine by shared_ptr, so loading another model never frees
// one a running job still reads.
#include "achilles/error.h"
#include "achilles/progress.h"
#include <QObject>
#include <QPointer>
#include <QString>
#include <functional>
#include <memory>
#include <optional>

namespace achilles::ui {

enum class Lane { model, eval, text, io };
constexpr int kLanes = 4;

class JobRunner;

// Shared between the lane running a job and the UI-thread deliveries of its outcome.
struct JobState {
    enum class Outcome { finished, failed, cancelled };
    int id = 0;
    Lane lane = Lane::model;
    std::function<void(Progress&)> work;  // runs on the lane; stores the typed result itself
    std::unique_ptr<Progress> progress;   // cancellation flag and throttled reports
    // UI thread:
    std::function<void()> started;
    std::function<void(const QString& stage, double fraction, const QString& message)> reported;
    std::function<void(Outcome, const QString& message)> done;
};

class JobRunner : public QObject {
    Q_OBJECT
public:
    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;  // cancels every job and joins the lanes

    bool busy() const { return live_ > 0; }  // a job is queued, running, or its outcome undelivered
    void cancelAll();
    // Minimum interval between two progress reports of one job (fractions 0 and 1 and log lines
    // always pass).
    void setProgressInterval(int ms) { progressIntervalMs_ = ms; }
    int progressInterval() const { return progressIntervalMs_; }

    // From inside a running job: run uiFn on the UI thread unless the job is cancelled by then.
    // Streams partial results (tokens, curve points). p must be the job's Progress; outside a job
    // (a test calling the function directly) uiFn runs at once.
    static void post(Progress& p, std::function<void()> uiFn);

    // For JobTracker: queue a job on its lane / cancel it (a queued one is dropped at once).
    void start(const std::shared_ptr<JobState>& job);
    void cancel(const std::shared_ptr<JobState>& job);
    std::unique_ptr<Progress> makeProgress(const std::weak_ptr<JobState>& job);

signals:
    void busyChanged(bool busy);

private:
    class LaneWorker;
    void deliver(std::function<void()> fn);  // queued to the UI thread; dropped if this is gone
    void settle();                           // one job fully delivered
    std::unique_ptr<LaneWorker> lanes_[kLanes];
    int live_ = 0;
    int nextId_ = 1;
    int progressIntervalMs_ = 40;
    friend class LaneWorker;
};

// One consumer's jobs of one kind, newest wins. Not copyable; lives on the UI thread.
template <class T>
class JobTracker {
public:
    JobTracker(JobRunner* runner, Lane lane) : runner_(runner), lane_(lane), slot_(std::make_shared<Slot>()) {}
    ~JobTracker() { cancel(); }
    JobTracker(const JobTracker&) = delete;
    JobTracker& operator=(const JobTracker&) = delete;

    // Continuations (UI thread). Set once, before the first run().
    void onStarted(std::function<void()> f) { slot_->started = std::move(f); }
    void onProgress(std::function<void(const QString&, double, const QString&)> f) { slot_->progress = std::move(f); }
    void onFinished(std::function<void(T)> f) { slot_->finished = std::move(f); }
    void onFailed(std::function<void(const QString&)> f) { slot_->failed = std::move(f); }
    void onCancelled(std::function<void()> f) { slot_->cancelled = std::move(f); }

    // Starts fn (Progress&) -> T on the tracker's lane, superseding the previous job. Returns its id.
    template <class F>
    int run(F&& fn) {
        auto job = std::make_shared<JobState>();
        auto result = std::make_shared<std::optional<T>>();
        job->lane = lane_;
        job->work = [f = std::forward<F>(fn), result](Progress& p) mutable { result->emplace(f(p)); };
        job->progress = runner_->makeProgress(job);
        std::weak_ptr<Slot> weakSlot = slot_;
        std::weak_ptr<JobState> weakJob = job;
        auto current = [weakSlot, weakJob]() -> std::shared_ptr<Slot> {
            auto s = weakSlot.lock();
            return s && !weakJob.expired() && s->current == weakJob.lock() ? s : nullptr;
        };
        job->started = [current] {
            if (auto s = current(); s && s->started) s->started();
        };
        job->reported = [current](const QString& stage, double f, const QString& m) {
            if (auto s = current(); s && s->progress) s->progress(stage, f, m);
        };
        job->done = [current, result](JobState::Outcome o, const QString& message) {
            auto s = current();
            if (!s) return;  // superseded, or the tracker is gone: newest wins
            s->current.reset();
            if (o == JobState::Outcome::finished && s->finished) s->finished(std::move(**result));
            else if (o == JobState::Outcome::failed && s->failed) s->failed(message);
            else if (o == JobState::Outcome::cancelled && s->cancelled) s->cancelled();
        };
        if (slot_->current) runner_->cancel(slot_->current);  // its outcome will find itself superseded
        slot_->current = job;
        runner_->start(job);
        return job->id;
    }

    void cancel() {
        if (slot_->current && runner_) runner_->cancel(slot_->current);
    }
    bool running() const { return bool(slot_->current); }  // started and its outcome not yet delivered
    int currentId() const { return slot_->current ? slot_->current->id : 0; }

private:
    struct Slot {
        std::shared_ptr<JobState> current;
        std::function<void()> started, cancelled;
        std::function<void(const QString&, double, const QString&)> progress;
        std::function<void(T)> finished;
        std::function<void(const QString&)> failed;
    };
    QPointer<JobRunner> runner_;
    Lane lane_;
    std::shared_ptr<Slot> slot_;
};

}  // namespace achilles::ui
