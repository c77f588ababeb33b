// SPDX-License-Identifier: GPL-3.0-or-later
// achilles: the workbench GUI.
//   achilles [--model DIR|default] [--demo] [--session FILE]
//            [--stability FILE] [--screenshot OUT.png [--view NAME] [--search] [--generate] [--samples K] [--sweep N]
//             [--baselines LIST] [--size WxH] [--save-session FILE]]
#include "achilles/error.h"
#include "achilles/version.h"
#include "achilles/fileio.h"
#include "achilles/options.h"
#include "headless_run.h"
#include "main_window.h"
#include "panels/stability_panel.h"
#include "panels/model_panel.h"
#include "workbench/workbench.h"
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <cstdio>
#include <vector>

using namespace achilles::ui;

namespace {
// The demo probe text shipped in the resources (used by --demo).
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
    QApplication::setApplicationVersion(QString::fromStdString(achilles::app_version()));
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
    QCommandLineOption stability(QStringLiteral("stability"),
                                 QStringLiteral("Open an achilles.stability/1 document (achilles-cli search --probes ... --out) "
                                                "in the Stability view; with --screenshot --view stability it is rendered."),
                                 QStringLiteral("FILE"));
    QCommandLineOption mechanism(QStringLiteral("mechanism"),
                                 QStringLiteral("Headless: compute the Mechanism views (massive activations, attention sinks, "
                                                "logit lens) first; --export-figures then writes them too."));
    QCommandLineOption figureStyle(QStringLiteral("figure-style"),
                                   QStringLiteral("With --export-figures: screen (default), paper (single column, 3.5 in, "
                                                  "8-9 pt, 600 DPI PNG) or paper-double (7.2 in)."),
                                   QStringLiteral("STYLE"), QStringLiteral("screen"));
    p.addOptions({model, demo, session, shot, view, search, samples, sweep, baselines, generate, size, saveSession, figures, mechanism,
                  figureStyle, stability});
    p.process(app);

    // Headless runs keep their own settings: they never read the user's saved layout or add to
    // the interactive app's recent files.
    if (headless) QApplication::setApplicationName(QStringLiteral("workbench-headless"));
    MainWindow w;
    Workbench* wb = w.workbench();
    QString lastError;
    QObject::connect(&w, &MainWindow::errorShown, [&lastError](const QString&, const QString& m) { lastError = m; });
    if (headless) {
        w.resetLayout();
        const QStringList wh = p.value(size).split(QLatin1Char('x'));
        if (wh.size() == 2) w.resize(wh[0].toInt(), wh[1].toInt());
    }
    w.show();

    QElapsedTimer openClock;
    openClock.start();
    if (sessionGiven && !headless) w.openSessionFileAsync(sessionArg);  // keeps the window responsive
    if (sessionGiven && headless) {
        if (!w.openSessionFile(sessionArg)) {
            std::fprintf(stderr, "achilles: %s\n", qPrintable(lastError));
            return 1;
        }
        std::fprintf(stderr, "achilles: session opened in %lld ms\n", static_cast<long long>(openClock.elapsed()));
    }
    if (p.isSet(stability)) {
        w.showView(QStringLiteral("stability"));
        if (!w.stabilityPanel()->openFile(p.value(stability)) && headless) {
            std::fprintf(stderr, "achilles: %s\n", qPrintable(lastError));
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
        try {  // through the options table: the same parsing and range checks as achilles-cli
            auto apply = [&o](const char* key, const QString& text) {
                const achilles::SearchOptionField& f = achilles::search_option_field(key);
                const achilles::OptionValue v = f.parse(text.toStdString());
                if (std::string problem = f.problem(v); !problem.empty())
                    throw achilles::Error("command line", std::string(f.flag), problem);
                f.set(o, v);
            };
            if (p.isSet(samples)) apply("samples", p.value(samples));
            if (p.isSet(sweep)) apply("sweep", p.value(sweep));
            if (p.isSet(baselines)) apply("baselines", p.value(baselines));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "achilles: %s\n", e.what());
            return 2;
        }
        wb->setOptions(o);
    }
    if (!modelPath.isEmpty()) w.modelPanel()->loadPath(modelPath);
    w.markClean();  // the command line's model and text are the starting state, not unsaved changes

    if (!headless) return app.exec();

    HeadlessPlan plan;
    plan.modelPath = modelPath;
    plan.search = p.isSet(search);
    plan.generate = p.isSet(generate);
    plan.mechanism = p.isSet(mechanism);
    plan.saveSession = p.value(saveSession);
    plan.figuresDir = p.value(figures);
    plan.figureStyle = p.value(figureStyle);
    plan.screenshot = p.value(shot);
    plan.view = p.value(view);
    HeadlessRun run(w, plan);
    run.start([](int code) { QCoreApplication::exit(code); });
    return app.exec();
}
