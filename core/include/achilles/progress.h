// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <atomic>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

namespace achilles {

// Thrown by Progress::check() once cancellation was requested. Cancellation is its own
// outcome: callers catch Cancelled separately and never report it as an error.
struct Cancelled : std::exception {
    const char* what() const noexcept override { return "cancelled"; }
};

// Long work is a plain function (inputs, Progress&) -> value. It reports stage progress and
// calls check() often (at least once per forward pass) so that cancel() takes effect promptly.
class Progress {
public:
    using Callback = std::function<void(std::string_view stage, double fraction, std::string_view message)>;
    Progress() = default;
    explicit Progress(Callback cb) : cb_(std::move(cb)) {}
    virtual ~Progress() = default;
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    // fraction in [0,1] of the named stage; message is free text for logs.
    void report(std::string_view stage, double fraction, std::string_view message = {});
    void log(std::string_view message) { report({}, -1.0, message); }
    void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
    void check() const {
        if (cancelled()) throw Cancelled{};
    }

private:
    Callback cb_;
    std::atomic<bool> cancelled_{false};
};

// A Progress that reports nothing and is never cancelled.
Progress& null_progress();

}  // namespace achilles
