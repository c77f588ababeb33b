// SPDX-License-Identifier: GPL-3.0-or-later
// achilles: the workbench GUI.
//   achilles [--model DIR|default] [--demo] [--session FILE]
//            [--screenshot OUT.png [--view NAME] [--search] [--generate] [--samples K] [--sweep N]
//             [--baselines LIST] [--size WxH] [--save-session FILE]]
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "core/workbench.h"
#include "jobs/job_controller.h"
#include "main_window.h"
#include "export/export.h"
#include "panels/heatmap_panel.h"
#include "panels/model_panel.h"
#include "panels/phase_panel.h"
#include "panels/generations_panel.h"
#include "panels/neurons_panel.h"
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QThread>
#include <QTimer>
#include <cstdio>
#include <vector>

using namespace achilles::ui;

namespace {
// Spins the event loop until no job is pending and every queued result was delivered.
QString demoText() {
    QFile f(QStringLiteral(":/achilles/demo-probe.txt"));
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()).trimmed() : QString();
}
}  // namespace

int main(int argc, char** argv) {
    Q_INIT_RESOURCE(resources);  // the .qrc lives in the static achilles_ui library
    achilles::install_exit_cleanup();  // SIGXFSZ fails a write instead of killing; SIGTERM removes temporaries
    bool headless = false;
    // QGuiApplication consumes "-session"/"--session" (X11 session management) itself, so take
    // --session FILE out of argv before it sees it.
    QString sessionArg;
    bool sessionGiven = false;
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        const QByteArray a(argv[i]);
        if (i > 0 && (a == "--session" || a == "-session") && i + 1 < argc) {
            sessionGiven = true;
            sessionArg = QString::fromLocal8Bit(argv[++i]);
            continue;
        }
        if (i > 0 && a.startsWith("--session=")) {
            sessionGiven = true;
            sessionArg = QString::fromLocal8Bit(a.mid(10));
            continue;
        }
        if (a == "--screenshot" || a == "--export-figures" || a.startsWith("--export-figures=")) headless = true;
        args.push_back(argv[i]);
    }
    int qargc = int(args.size());
    args.push_back(nullptr);
    bool infoOnly = false;
    for (char* a : args) {
        const QByteArray b(a);
        if (b == "--help" || b == "-h" || b == "--help-all" || b == "--version" || b == "-v") infoOnly = true;
    }
    const bool noDisplay = qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY");
    if ((headless || infoOnly) && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    if (!headless && !infoOnly && noDisplay && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        std::fprintf(stderr,
                     "achilles: no display (DISPLAY and WAYLAND_DISPLAY are unset).\n"
                     "  Render a view headlessly:  achilles --demo --search --screenshot out.png [--view heatmap]\n"
                     "  Or use the CLI:            achilles-cli search --model default --text-file resources/demo-probe.txt\n");
        return 2;
    }

    QApplication app(qargc, args.data());
    QApplication::setOrganizationName(QStringLiteral("achilles"));
    QApplication::setApplicationName(QStringLiteral("workbench"));
    QApplication::setApplicationDisplayName(QStringLiteral("Achilles Workbench"));
    QApplication::setApplicationVersion(QStringLiteral(ACHILLES_VERSION));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/achilles/icons/achilles.svg")));

    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("Achilles Workbench: find the few neurons an LLM cannot live without."));
    p.addHelpOption();
    p.addVersionOption();
    QCommandLineOption model(QStringLiteral("model"), QStringLiteral("Model folder to load, or \"default\" for the embedded model."), QStringLiteral("DIR"));
    QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Load the embedded model and the demo probe text."));
    QCommandLineOption session(QStringLiteral("session"), QStringLiteral("Open a session (.achilles) or an achilles-cli result JSON."), QStringLiteral("FILE"));
    QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Render a view headlessly to OUT.png and exit."), QStringLiteral("OUT.png"));
    QCommandLineOption view(QStringLiteral("view"), QStringLiteral("View for --screenshot: %1.").arg(MainWindow::viewNames().join(QStringLiteral(", "))),
                            QStringLiteral("NAME"), QStringLiteral("main"));
    QCommandLineOption search(QStringLiteral("search"), QStringLiteral("With --screenshot: run the search first."));
    QCommandLineOption samples(QStringLiteral("samples"), QStringLiteral("Override the search's K (noisy samples)."), QStringLiteral("K"));
    QCommandLineOption sweep(QStringLiteral("sweep"), QStringLiteral("Override the phase-transition sweep length."), QStringLiteral("N"));
    QCommandLineOption baselines(QStringLiteral("baselines"), QStringLiteral("Baselines for the sweep, e.g. random,activation,gradient."), QStringLiteral("LIST"));
    QCommandLineOption saveSession(QStringLiteral("save-session"), QStringLiteral("With --screenshot: also save the session to FILE."), QStringLiteral("FILE"));
    QCommandLineOption generate(QStringLiteral("generate"), QStringLiteral("With --screenshot: mask the critical set and generate both sides first."));
    QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size for --screenshot --view main."), QStringLiteral("WxH"), QStringLiteral("1500x920"));
    QCommandLineOption figures(QStringLiteral("export-figures"),
                               QStringLiteral("Headless: write the heatmap, drill-down and phase-transition figures "
                                              "(PNG, SVG and PDF) into DIR and exit."),
                               QStringLiteral("DIR"));
    p.addOptions({model, demo, session, shot, view, search, samples, sweep, baselines, generate, size, saveSession, figures});
    p.process(app);

    if (headless) QStandardPaths::setTestModeEnabled(true);  // screenshots ignore the user's saved layout
    MainWindow w;
    w.setInteractive(!headless);
    Workbench* wb = w.workbench();
    if (headless) {
        const QStringList wh = p.value(size).split(QLatin1Char('x'));
        if (wh.size() == 2) w.resize(wh[0].toInt(), wh[1].toInt());
    }
    w.show();

    QElapsedTimer openClock;
    openClock.start();
    bool opened = true;
    if (sessionGiven && !headless) w.openSessionFileAsync(sessionArg);  // keeps the window responsive
    else if (sessionGiven) opened = w.openSessionFile(sessionArg);
    if (sessionGiven && opened && headless)
        std::fprintf(stderr, "achilles: session opened in %lld ms\n", static_cast<long long>(openClock.elapsed()));
    if (!opened) {
        if (headless) {
            std::fprintf(stderr, "achilles: %s\n", qPrintable(w.lastError()));
            return 1;
        }
    }
    QString modelPath = p.value(model);
    if (p.isSet(demo)) {
        if (modelPath.isEmpty()) modelPath = QStringLiteral("default");
        wb->setText(demoText());
        wb->generation().prompt = QStringLiteral("Once upon a time");
    }
    if (p.isSet(samples) || p.isSet(sweep) || p.isSet(baselines)) {
        auto o = wb->options();
        if (p.isSet(samples)) o.samples = p.value(samples).toInt();
        if (p.isSet(sweep)) o.sweep = p.value(sweep).toInt();
        if (p.isSet(baselines)) {
            o.baselines.clear();
            for (const QString& b : p.value(baselines).split(QLatin1Char(','), Qt::SkipEmptyParts)) o.baselines.push_back(b.toStdString());
        }
        wb->setOptions(o);
    }
    if (!modelPath.isEmpty()) w.modelPanel()->loadPath(modelPath);

    if (!headless) return app.exec();

    // Headless screenshot: load, optionally search and generate, then render the view.
    // The longest gap between event-loop ticks is reported: the UI thread must never block long.
    qint64 maxStall = 0;
    QElapsedTimer tick;
    QTimer stallTimer;
    stallTimer.setInterval(5);
    QObject::connect(&stallTimer, &QTimer::timeout, [&] { maxStall = std::max(maxStall, tick.restart()); });
    tick.start();
    stallTimer.start();
    const int timeout = 300000;
    if (!wb->waitUntilIdle(timeout)) {
        std::fprintf(stderr, "achilles: timed out waiting for the model\n");
        return 1;
    }
    if (!modelPath.isEmpty() && !wb->hasModel()) {
        std::fprintf(stderr, "achilles: %s\n", qPrintable(w.lastError()));
        return 1;
    }
    if (p.isSet(search)) {
        wb->runSearch();
        if (!wb->waitUntilIdle(timeout) || !wb->result()) {
            std::fprintf(stderr, "achilles: search failed: %s\n", qPrintable(w.lastError()));
            return 1;
        }
    }
    if (p.isSet(generate)) {
        w.neuronsPanel()->maskCritical();
        wb->waitUntilIdle(timeout);
        w.showView(QStringLiteral("generations"));  // the main view then shows both continuations
        w.generationsPanel()->generate();
        if (!wb->waitUntilIdle(timeout)) {
            std::fprintf(stderr, "achilles: generation timed out\n");
            return 1;
        }
    }
    stallTimer.stop();
    QElapsedTimer saveClock;
    saveClock.start();
    if (p.isSet(saveSession) && w.saveSessionFile(p.value(saveSession)))
        std::fprintf(stderr, "achilles: session saved in %lld ms\n", static_cast<long long>(saveClock.elapsed()));
    else if (p.isSet(saveSession)) {
        std::fprintf(stderr, "achilles: %s\n", qPrintable(w.lastError()));
        return 1;
    }
    std::fprintf(stderr, "achilles: longest UI event-loop stall while working: %lld ms\n", static_cast<long long>(maxStall));
    if (p.isSet(figures)) {
        // Publication figures for headless runs (./run.sh --headless): same renderer as the GUI's Export.
        if (!wb->result()) {
            std::fprintf(stderr, "achilles: --export-figures needs a search result (--session FILE or --search)\n");
            return 1;
        }
        const QDir dir(p.value(figures));
        if (!QDir().mkpath(dir.absolutePath())) {
            std::fprintf(stderr, "achilles: cannot create %s\n", qPrintable(dir.absolutePath()));
            return 1;
        }
        w.grabView(QStringLiteral("main"));  // lays out and replots every panel at the window size
        const std::pair<QCustomPlot*, QString> plots[] = {{w.heatmapPanel()->plot(), QStringLiteral("heatmap")},
                                                          {w.heatmapPanel()->drillPlot(), QStringLiteral("heatmap-drilldown")},
                                                          {w.phasePanel()->plot(), QStringLiteral("phase-transition")}};
        try {
            std::vector<std::pair<QCustomPlot*, QString>> all;
            for (const auto& [plot, name] : plots)
                for (const char* ext : {"png", "svg", "pdf"})
                    all.emplace_back(plot, dir.filePath(name + QLatin1Char('.') + QLatin1String(ext)));
            achilles::ui::exportPlots(all, achilles::ui::PlotExportOptions{1200, 800, 150});  // all or nothing
            for (const auto& pp : all) std::printf("%s\n", qPrintable(pp.second));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "achilles: %s\n", e.what());
            return 1;
        }
        if (!p.isSet(shot)) return 0;
    }
    try {
        const QImage img = w.grabView(p.value(view));
        if (img.isNull() || !img.save(p.value(shot))) {
            std::fprintf(stderr, "achilles: cannot write %s\n", qPrintable(p.value(shot)));
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "achilles: %s\n", e.what());
        return 2;
    }
    std::printf("%s\n", qPrintable(p.value(shot)));
    return 0;
}
