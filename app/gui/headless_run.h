// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The GUI without a user: load, optionally search and generate, save the session, write figures or
// a screenshot, then quit with an exit code (achilles --screenshot / --export-figures). Each step
// starts when the workbench reports the previous one done (its busyChanged(false) signal); errors
// are what the window would have shown (MainWindow::errorShown), printed to stderr.
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>
#include <functional>

namespace achilles::ui {
class MainWindow;
}

struct HeadlessPlan {
    QString modelPath;     // a load was started for it ("" : none)
    bool search = false;   // run the search first
    bool generate = false; // mask the critical set, generate both sides
    bool mechanism = false; // compute the Mechanism views (massive, sinks, lens) before the figures
    QString saveSession;   // also save the session here
    QString figuresDir;    // write PNG/SVG/PDF figures here
    QString figureStyle = QStringLiteral("screen");  // screen, paper (single column), paper-double
    QString screenshot;    // render this view to this file
    QString view = QStringLiteral("main");
    int timeoutMs = 300000;
};

class HeadlessRun {
public:
    HeadlessRun(achilles::ui::MainWindow& w, HeadlessPlan plan);
    // Runs the plan; calls done(exit code) from the event loop when finished.
    void start(std::function<void(int)> done);

private:
    void afterIdle(std::function<void()> next);  // next step once no job is left
    void fail(const QString& what);
    void search();
    void generate();
    void mechanism();
    void finish();
    achilles::ui::MainWindow& w_;
    HeadlessPlan plan_;
    std::function<void(int)> done_;
    QObject context_;          // owns this run's connections
    QString lastError_;
    bool searchFailed_ = false, finished_ = false;
    qint64 maxStall_ = 0;
    QElapsedTimer tick_;
    QTimer stall_, timeout_;
};
