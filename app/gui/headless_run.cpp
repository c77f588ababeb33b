// SPDX-License-Identifier: GPL-3.0-or-later
#include "headless_run.h"
#include "export/export.h"
#include "main_window.h"
#include "panels/generations_panel.h"
#include "panels/heatmap_panel.h"
#include "panels/mechanism_panel.h"
#include "panels/neurons_panel.h"
#include "panels/phase_panel.h"
#include "workbench/workbench.h"
#include <QDir>
#include <QImage>
#include <cstdio>

using namespace achilles::ui;

HeadlessRun::HeadlessRun(MainWindow& w, HeadlessPlan plan) : w_(w), plan_(std::move(plan)) {
    QObject::connect(&w_, &MainWindow::errorShown, &context_, [this](const QString&, const QString& m) { lastError_ = m; });
    QObject::connect(w_.workbench(), &Workbench::searchFailed, &context_, [this] { searchFailed_ = true; });
    // The longest gap between event-loop ticks while working: the UI thread must never block long.
    stall_.setInterval(5);
    QObject::connect(&stall_, &QTimer::timeout, &context_, [this] { maxStall_ = std::max(maxStall_, tick_.restart()); });
    timeout_.setSingleShot(true);
    timeout_.setInterval(plan_.timeoutMs);
    QObject::connect(&timeout_, &QTimer::timeout, &context_, [this] { fail(QStringLiteral("timed out")); });
}

void HeadlessRun::start(std::function<void(int)> done) {
    done_ = std::move(done);
    tick_.start();
    stall_.start();
    timeout_.start();
    afterIdle([this] {  // the model (of --model, --demo or the session) is loaded, or failed
        if (!plan_.modelPath.isEmpty() && !w_.workbench()->hasModel()) return fail(lastError_);
        if (plan_.search) search();
        else generate();
    });
}

void HeadlessRun::afterIdle(std::function<void()> next) {
    Workbench* wb = w_.workbench();
    if (!wb->busy()) {
        QTimer::singleShot(0, &context_, std::move(next));
        return;
    }
    auto conn = std::make_shared<QMetaObject::Connection>();
    *conn = QObject::connect(wb, &Workbench::busyChanged, &context_, [conn, next = std::move(next)](bool busy) {
        if (busy) return;
        QObject::disconnect(*conn);
        next();
    });
}

void HeadlessRun::fail(const QString& what) {
    if (finished_) return;
    finished_ = true;
    std::fprintf(stderr, "achilles: %s\n", qPrintable(what));
    done_(1);
}

void HeadlessRun::search() {
    Workbench* wb = w_.workbench();
    wb->runSearch();
    afterIdle([this, wb] {
        if (searchFailed_ || !wb->result()) return fail(QStringLiteral("search failed: ") + lastError_);
        generate();
    });
}

void HeadlessRun::generate() {
    if (!plan_.generate) return mechanism();
    w_.neuronsPanel()->maskCritical();           // perplexity of the mask, then both continuations (eval lane)
    w_.showView(QStringLiteral("generations"));  // the main view then shows both continuations
    w_.generationsPanel()->generate();
    afterIdle([this] {
        if (!w_.workbench()->generation().valid) return fail(QStringLiteral("generation failed: ") + lastError_);
        mechanism();
    });
}

// The Mechanism views on the probe (the masked side: the toggled mask, e.g. --generate's critical
// set), so that --export-figures writes them too.
void HeadlessRun::mechanism() {
    if (!plan_.mechanism) return finish();
    MechanismPanel* m = w_.mechanismPanel();
    m->runMassive();
    m->runSinks();
    m->runLens();
    afterIdle([this, m] {
        if (!m->massive() || !m->sinks() || !m->lens()) return fail(QStringLiteral("mechanism views failed: ") + lastError_);
        if (m->massive()->masked) m->setMassiveMasked(true);  // with a toggled mask: its masked forward
        finish();
    });
}

void HeadlessRun::finish() {
    if (finished_) return;
    stall_.stop();
    timeout_.stop();
    Workbench* wb = w_.workbench();
    if (!plan_.saveSession.isEmpty()) {
        QElapsedTimer clock;
        clock.start();
        if (!w_.saveSessionFile(plan_.saveSession)) return fail(lastError_);
        std::fprintf(stderr, "achilles: session saved in %lld ms\n", static_cast<long long>(clock.elapsed()));
    }
    std::fprintf(stderr, "achilles: longest UI event-loop stall while working: %lld ms\n", static_cast<long long>(maxStall_));
    if (!plan_.figuresDir.isEmpty()) {
        // Publication figures for headless runs (./run.sh --headless): same renderer as the GUI's Export.
        if (!wb->result()) return fail(QStringLiteral("--export-figures needs a search result (--session FILE or --search)"));
        try {
            for (const QString& f : w_.exportAllFigures(plan_.figuresDir, figureOptionsByName(plan_.figureStyle)))
                std::printf("%s\n", qPrintable(f));
        } catch (const std::exception& e) {
            return fail(QString::fromUtf8(e.what()));
        }
    }
    if (!plan_.screenshot.isEmpty()) {
        try {
            const QImage img = w_.grabView(plan_.view);
            if (img.isNull() || !img.save(plan_.screenshot)) return fail(QStringLiteral("cannot write ") + plan_.screenshot);
        } catch (const std::exception& e) {
            finished_ = true;
            std::fprintf(stderr, "achilles: %s\n", e.what());
            return done_(2);
        }
        std::printf("%s\n", qPrintable(plan_.screenshot));
    }
    finished_ = true;
    done_(0);
}
