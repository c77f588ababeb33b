// SPDX-License-Identifier: GPL-3.0-or-later
#include "main_window.h"
#include "achilles/version.h"
#include "achilles/error.h"
#include "workbench/workbench.h"
#include "export/export.h"
#include "export/report.h"
#include "models/neuron_model.h"
#include "panels/generations_panel.h"
#include "panels/heatmap_panel.h"
#include "panels/mechanism_panel.h"
#include "panels/benchmark_panel.h"
#include "panels/compare_panel.h"
#include "panels/stability_panel.h"
#include "panels/model_panel.h"
#include "panels/neurons_panel.h"
#include "panels/phase_panel.h"
#include "panels/probe_panel.h"
#include "panels/search_panel.h"
#include "widgets/ablation_control.h"
#include "widgets/token_flow.h"
#include "widgets/wheel_guard.h"
#include "widgets/file_dialogs.h"
#include "achilles/fileio.h"
#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QFile>
#include <QDir>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QTableView>
#include <QItemSelectionModel>
#include <QTextBrowser>
#include <QTimer>
#include <QUndoStack>
#include <cmath>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr int kLayoutVersion = 6;  // 6: benchmarks, stability and compare tabbed with the plots
const char* kRecentFiles = "recent/files";
const char* kRecentModels = "recent/models";
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), wb_(new Workbench(this)) {
    setObjectName(QStringLiteral("AchillesMainWindow"));
    setWindowIcon(QIcon(QStringLiteral(":/achilles/icons/achilles.svg")));
    setAcceptDrops(true);
    setDockNestingEnabled(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks | QMainWindow::AllowNestedDocks);
    neurons_ = new NeuronTableModel(wb_, this);
    buildDocks();
    buildMenus();

    statusBusy_ = new QLabel(this);
    statusBar_ = new QProgressBar(this);
    statusBar_->setRange(0, 0);
    statusBar_->setMaximumWidth(120);
    statusBar_->setMaximumHeight(12);
    statusBar_->hide();
    statusBar()->addPermanentWidget(statusBusy_);
    statusBar()->addPermanentWidget(statusBar_);
    statusBar()->showMessage(tr("Open a model (Model panel), write a probe text, then Run search."));

    connect(wb_, &Workbench::sessionOpened, this, &MainWindow::finishOpen);
    connect(wb_, &Workbench::sessionSaved, this, &MainWindow::finishSave);
    connect(wb_, &Workbench::sessionSaveFailed, this,
            [this](const QString&, const QString& m) { error(tr("Cannot save the session"), m); });
    connect(wb_, &Workbench::sessionFailed, this,
            [this](const QString&, const QString& m) { error(tr("Cannot open the session"), m); });
    connect(wb_, &Workbench::message, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(wb_, &Workbench::busyChanged, this, [this](bool busy) {
        statusBar_->setVisible(busy);
        statusBusy_->setText(busy ? tr("working…") : QString());
    });
    connect(wb_, &Workbench::modelFailed, this, [this](const QString& m) { error(tr("Cannot load the model"), m); });
    connect(wb_, &Workbench::modelMismatch, this, [this](const QString& m) { warn(tr("Model mismatch"), m); });
    connect(wb_, &Workbench::resultWarning, this, [this](const QString& m) { warn(tr("Older result"), m); });
    connect(wb_, &Workbench::searchFailed, this, [this](const QString& m) { error(tr("Search failed"), m); });
    connect(wb_, &Workbench::generationFailed, this, [this](const QString& m) { error(tr("Generation failed"), m); });
    connect(wb_, &Workbench::pplFailed, this, [this](const QString& m) { statusBar()->showMessage(m, 10000); });
    connect(wb_, &Workbench::modelLoaded, this, [this] {
        updateTitle();
        if (!wb_->result()) showView(QStringLiteral("search"));  // the next step: run a search
    });
    connect(wb_, &Workbench::searchStarted, this, [this] { showView(QStringLiteral("phase")); });
    connect(wb_, &Workbench::searchFinished, this, [this] {
        dirty_ = true;
        updateTitle();
        showView(QStringLiteral("heatmap"));
        const auto& f = wb_->result()->faithful;
        statusBar()->showMessage(f.reached ? tr("Search finished: %1 critical neurons.").arg(f.neurons.size())
                                           : tr("Search finished: ε not reached after %1 ranking entries (%2 neurons).")
                                                 .arg(f.n)
                                                 .arg(f.neurons.size()),
                                 10000);
    });
    connect(wb_, &Workbench::maskChanged, this, [this] { dirty_ = true; updateTitle(); });
    connect(wb_, &Workbench::textChanged, this, [this] { dirty_ = true; updateTitle(); });
    connect(probePanel_, &ProbePanel::errorOccurred, this, &MainWindow::error);
    connect(modelPanel_, &ModelPanel::modelChosen, this, [this](const QString& p) {
        addRecent(kRecentModels, p);
        if (QFileInfo(p).isDir()) rememberDialogPath(DialogKind::models, p, true);  // the next Open starts beside it
    });
    connect(heatmapPanel_, &HeatmapPanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(phasePanel_, &PhasePanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(phasePanel_, &PhasePanel::rerunFailed, this, [this](const QString& m) { error(tr("Re-run failed"), m); });
    connect(mechanismPanel_, &MechanismPanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(mechanismPanel_, &MechanismPanel::errorOccurred, this, &MainWindow::error);
    connect(benchmarkPanel_, &BenchmarkPanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(benchmarkPanel_, &BenchmarkPanel::errorOccurred, this, &MainWindow::error);
    connect(stabilityPanel_, &StabilityPanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(stabilityPanel_, &StabilityPanel::errorOccurred, this, &MainWindow::error);
    connect(stabilityPanel_, &StabilityPanel::studyFinished, this, [this] {
        showView(QStringLiteral("stability"));
        statusBar()->showMessage(tr("Stability study finished: %1 runs.").arg(stabilityPanel_->result()->runs.size()), 10000);
    });
    connect(stabilityPanel_, &StabilityPanel::studyCancelled, this,
            [this] { statusBar()->showMessage(tr("Stability study cancelled."), 8000); });
    connect(comparePanel_, &ComparePanel::exportRequested, this, &MainWindow::exportPlotInteractive);
    connect(comparePanel_, &ComparePanel::errorOccurred, this, &MainWindow::error);
    // The neuron chosen in the Neurons table is the super-weight trace's default.
    connect(neuronsPanel_->view()->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& cur) {
                if (!cur.isValid()) return;
                const QModelIndex src = neuronsPanel_->proxy()->mapToSource(cur);
                if (src.isValid() && src.row() < neurons_->rowCount()) mechanismPanel_->offerTraceNeuron(neurons_->entry(src.row()).neuron);
            });
    connect(wb_, &Workbench::ablationChanged, this, [this] { dirty_ = true; updateTitle(); });
    connect(neuronsPanel_, &NeuronsPanel::exportCsvRequested, this, [this] {
        const QString f = saveFileDialog(this, DialogKind::exports, tr("Export neurons"), QStringLiteral("neurons.csv"), tr("CSV (*.csv)"));
        if (f.isEmpty()) return;
        try {
            exportCsv(neuronsPanel_->proxy(), f);
        } catch (const std::exception& e) {
            error(tr("Export failed"), QString::fromUtf8(e.what()));
        }
    });
    guardWheel(this);  // values change only under a focused widget's wheel
    restoreLayout();
    refreshRecentMenus();
    updateTitle();
}

void MainWindow::markClean() {
    dirty_ = false;
    updateTitle();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildDocks() {
    modelPanel_ = new ModelPanel(wb_, this);
    probePanel_ = new ProbePanel(wb_, this);
    searchPanel_ = new SearchPanel(wb_, this);
    heatmapPanel_ = new HeatmapPanel(wb_, neurons_, this);
    phasePanel_ = new PhasePanel(wb_, this);
    neuronsPanel_ = new NeuronsPanel(wb_, neurons_, this);
    generationsPanel_ = new GenerationsPanel(wb_, this);
    mechanismPanel_ = new MechanismPanel(wb_, this);
    benchmarkPanel_ = new BenchmarkPanel(wb_, this);
    stabilityPanel_ = new StabilityPanel(wb_, this);
    comparePanel_ = new ComparePanel(wb_, this);
    auto dock = [this](const QString& name, const QString& title, QWidget* w) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(QStringLiteral("dock_") + name);
        d->setWidget(w);
        d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
        docks_[name] = d;
        return d;
    };
    dock(QStringLiteral("model"), tr("Model"), modelPanel_);
    dock(QStringLiteral("probe"), tr("Probe text"), probePanel_);
    dock(QStringLiteral("search"), tr("Search"), searchPanel_);
    dock(QStringLiteral("heatmap"), tr("Heatmap"), heatmapPanel_);
    dock(QStringLiteral("phase"), tr("Phase transition"), phasePanel_);
    dock(QStringLiteral("neurons"), tr("Neurons"), neuronsPanel_);
    dock(QStringLiteral("generations"), tr("Generations"), generationsPanel_);
    dock(QStringLiteral("mechanism"), tr("Mechanism"), mechanismPanel_);
    dock(QStringLiteral("benchmarks"), tr("Benchmarks"), benchmarkPanel_);
    dock(QStringLiteral("stability"), tr("Stability"), stabilityPanel_);
    dock(QStringLiteral("compare"), tr("Compare runs"), comparePanel_);
    // No central widget: every panel is a dock.
    auto* central = new QWidget(this);
    central->setMaximumSize(0, 0);
    setCentralWidget(central);
    defaultLayout();
    defaultState_ = saveState(kLayoutVersion);
}

void MainWindow::defaultLayout() {
    for (auto* d : docks_) {
        removeDockWidget(d);
        d->setFloating(false);
    }
    // Left: the search over the model and probe text (tabbed); right: the plots over the neuron
    // table beside the generations, so that a tick and its effect on the PPL and on the
    // continuations are in view together.
    addDockWidget(Qt::LeftDockWidgetArea, docks_["search"]);
    splitDockWidget(docks_["search"], docks_["model"], Qt::Vertical);
    tabifyDockWidget(docks_["model"], docks_["probe"]);
    addDockWidget(Qt::RightDockWidgetArea, docks_["heatmap"]);
    splitDockWidget(docks_["heatmap"], docks_["neurons"], Qt::Vertical);  // split before tabifying:
    splitDockWidget(docks_["neurons"], docks_["generations"], Qt::Horizontal);  // a split of a tab is a tab
    tabifyDockWidget(docks_["heatmap"], docks_["phase"]);
    tabifyDockWidget(docks_["phase"], docks_["mechanism"]);
    tabifyDockWidget(docks_["mechanism"], docks_["benchmarks"]);
    tabifyDockWidget(docks_["benchmarks"], docks_["stability"]);
    tabifyDockWidget(docks_["stability"], docks_["compare"]);
    for (auto* d : docks_) d->show();
    docks_["model"]->raise();
    docks_["heatmap"]->raise();
    applyDefaultSizes();
}

void MainWindow::applyDefaultSizes() {
    const int w = std::max(width(), 900), h = std::max(height(), 600);
    resizeDocks({docks_["search"], docks_["heatmap"]}, {int(w * 0.3), int(w * 0.7)}, Qt::Horizontal);
    resizeDocks({docks_["search"], docks_["model"]}, {int(h * 0.6), int(h * 0.4)}, Qt::Vertical);
    resizeDocks({docks_["heatmap"], docks_["neurons"]}, {int(h * 0.55), int(h * 0.45)}, Qt::Vertical);
    resizeDocks({docks_["neurons"], docks_["generations"]}, {int(w * 0.38), int(w * 0.32)}, Qt::Horizontal);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open session or result…"), this, [this] {
        if (!maybeSave()) return;
        const QString f = openFileDialog(this, DialogKind::sessions, tr("Open session"),
                                                       tr("Achilles sessions and results (*.achilles *.json);;All files (*)"));
        if (!f.isEmpty()) openSessionFileAsync(f);
    });
    open->setShortcut(QKeySequence::Open);
    file->addAction(tr("Open &model folder…"), this, [this] {
        const QString d = folderDialog(this, DialogKind::models, tr("Open model folder"));
        if (!d.isEmpty()) modelPanel_->loadPath(d);
    })->setShortcut(QKeySequence(tr("Ctrl+Shift+O")));
    file->addAction(tr("Open &embedded default model"), this, [this] { modelPanel_->loadPath(QStringLiteral("default")); });
    file->addAction(tr("Open s&tability study…"), this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open stability study"), QFileInfo(sessionPath_).path(),
                                                       tr("Stability studies (*.json);;All files (*)"));
        if (f.isEmpty()) return;
        showView(QStringLiteral("stability"));
        stabilityPanel_->openFile(f);
    });
    file->addAction(tr("Com&pare two runs…"), this, [this] { showView(QStringLiteral("compare")); });
    recentFiles_ = file->addMenu(tr("Recent &sessions"));
    recentModels_ = file->addMenu(tr("Recent mo&dels"));
    file->addSeparator();
    file->addAction(tr("&Save session"), this, [this] {
        if (sessionPath_.isEmpty() || !sessionPath_.endsWith(QLatin1String(".achilles"))) {
            const QString f = saveFileDialog(this, DialogKind::sessions, tr("Save session"), QStringLiteral("session.achilles"),
                                                           tr("Achilles session (*.achilles)"));
            if (!f.isEmpty()) saveSessionFileAsync(f);
        } else {
            saveSessionFileAsync(sessionPath_);
        }
    })->setShortcut(QKeySequence::Save);
    file->addAction(tr("Save session &as…"), this, [this] {
        QString f = saveFileDialog(this, DialogKind::sessions, tr("Save session as"), sessionPath_.isEmpty() ? QStringLiteral("session.achilles") : sessionPath_,
                                                 tr("Achilles session (*.achilles)"));
        if (f.isEmpty()) return;
        if (QFileInfo(f).suffix().isEmpty()) f += QStringLiteral(".achilles");
        saveSessionFileAsync(f);
    })->setShortcut(QKeySequence::SaveAs);
    QMenu* exp = file->addMenu(tr("&Export"));
    exp->addAction(tr("Heatmap plot…"), this, [this] { exportPlotInteractive(heatmapPanel_->plot(), QStringLiteral("heatmap")); });
    exp->addAction(tr("Drill-down plot…"), this, [this] { exportPlotInteractive(heatmapPanel_->drillPlot(), QStringLiteral("drilldown")); });
    exp->addAction(tr("Phase-transition plot…"), this, [this] { exportPlotInteractive(phasePanel_->plot(), QStringLiteral("phase")); });
    exp->addAction(tr("Benchmark accuracy plot…"), this, [this] { exportPlotInteractive(benchmarkPanel_->plot(), QStringLiteral("benchmarks")); });
    exp->addAction(tr("Stability heatmap…"), this, [this] { exportPlotInteractive(stabilityPanel_->plot(), QStringLiteral("stability")); });
    exp->addAction(tr("Comparison: Jaccard per module…"), this, [this] { exportPlotInteractive(comparePanel_->jaccardPlot(), QStringLiteral("compare-jaccard")); });
    exp->addAction(tr("Comparison: stage-2 curves…"), this, [this] { exportPlotInteractive(comparePanel_->curvePlot(), QStringLiteral("compare-curves")); });
    exp->addAction(tr("&All figures…"), this, [this] {
        PlotExportOptions opt;
        if (!askPlotExportOptions(this, opt)) return;
        const QString d = folderDialog(this, DialogKind::exports, tr("Export all figures into"));
        if (d.isEmpty()) return;
        try {
            const QStringList files = exportAllFigures(d, opt);
            statusBar()->showMessage(tr("Exported %1 files to %2").arg(files.size()).arg(d), 8000);
        } catch (const std::exception& e) {
            error(tr("Export failed"), QString::fromUtf8(e.what()));
        }
    });
    exp->addSeparator();
    exp->addAction(tr("Neurons table (CSV)…"), neuronsPanel_, &NeuronsPanel::exportCsvRequested);
    // Asks for a file name, then writes it; a failure is an error dialog.
    auto exportTo = [this](const QString& title, const QString& name, const QString& filter, void (MainWindow::*write)(const QString&)) {
        return [=, this] {
            const QString f = saveFileDialog(this, DialogKind::exports, title, name, filter);
            if (f.isEmpty()) return;
            try {
                (this->*write)(f);
            } catch (const std::exception& e) {
                error(tr("Export failed"), QString::fromUtf8(e.what()));
            }
        };
    };
    exp->addAction(tr("Result (JSON)…"), this,
                   exportTo(tr("Export result"), QStringLiteral("result.json"), tr("JSON (*.json)"), &MainWindow::writeResultJson));
    exp->addAction(tr("HTML report…"), this,
                   exportTo(tr("Export HTML report"), QStringLiteral("report.html"), tr("HTML (*.html)"), &MainWindow::writeHtmlReport));
    file->addSeparator();
    {
        // Ctrl+Q on every platform theme (some bind no Quit key); close() asks about unsaved work.
        QList<QKeySequence> quitKeys = QKeySequence::keyBindings(QKeySequence::Quit);
        if (!quitKeys.contains(QKeySequence(QStringLiteral("Ctrl+Q")))) quitKeys << QKeySequence(QStringLiteral("Ctrl+Q"));
        QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
        quit->setShortcuts(quitKeys);
        quit->setObjectName(QStringLiteral("quitAction"));
    }

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* undo = wb_->undoStack()->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = wb_->undoStack()->createRedoAction(this, tr("&Redo"));
    // The platform's redo keys plus Ctrl+Shift+Z and Ctrl+Y, each once (a key listed twice on one
    // action is an "ambiguous shortcut overload" and does nothing).
    QList<QKeySequence> redoKeys = QKeySequence::keyBindings(QKeySequence::Redo);
    for (const QKeySequence& k : {QKeySequence(QStringLiteral("Ctrl+Shift+Z")), QKeySequence(QStringLiteral("Ctrl+Y"))})
        if (!redoKeys.contains(k)) redoKeys << k;
    redo->setShortcuts(redoKeys);
    redo->setObjectName(QStringLiteral("redoAction"));
    undo->setObjectName(QStringLiteral("undoAction"));
    edit->addAction(undo);
    edit->addAction(redo);
    edit->addSeparator();
    edit->addAction(tr("Mask &critical set"), neuronsPanel_, &NeuronsPanel::maskCritical);
    edit->addAction(tr("Mask m&inimal set"), neuronsPanel_, &NeuronsPanel::maskMinimal);
    edit->addAction(tr("C&lear masks"), neuronsPanel_, &NeuronsPanel::clearMasks);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(tr("&Run search"), wb_, &Workbench::runSearch)->setShortcut(QKeySequence(tr("Ctrl+R")));
    {
        // Ctrl+. (and the keypad's Ctrl+.) from any window of the application: a floating dock
        // has the focus as often as the main window during a long search.
        // It cancels a running stability study too (a search-class job on the same model lane).
        QAction* cancel = run->addAction(tr("&Cancel search"), this, [this] {
            wb_->cancelSearch();
            stabilityPanel_->cancelStudy();
        });
        cancel->setShortcuts({QKeySequence(tr("Ctrl+.")), QKeySequence(Qt::CTRL | Qt::KeypadModifier | Qt::Key_Period)});
        cancel->setShortcutContext(Qt::ApplicationShortcut);
        cancel->setObjectName(QStringLiteral("cancelSearchAction"));
    }
    run->addAction(tr("&Generate"), this, [this] {
        showView(QStringLiteral("generations"));  // the continuations stream into that panel
        generationsPanel_->generate();
    })->setShortcut(QKeySequence(tr("Ctrl+G")));
    run->addSeparator();
    run->addAction(tr("Run &benchmark"), this, [this] {
        showView(QStringLiteral("benchmarks"));
        benchmarkPanel_->run();
    })->setShortcut(QKeySequence(tr("Ctrl+B")));
    run->addAction(tr("Cancel b&enchmark"), benchmarkPanel_, &BenchmarkPanel::cancel);
    {
        // achilles-cli search --probes: one search per probe (and --vary combination), the Search
        // panel's options, the loaded model; the result fills the Stability view.
        QAction* stab = run->addAction(tr("Run &stability study…"), this, [this] {
            showView(QStringLiteral("stability"));
            stabilityPanel_->runDialog();
        });
        stab->setObjectName(QStringLiteral("runStabilityAction"));
        run->addAction(tr("Cancel stabilit&y study"), stabilityPanel_, &StabilityPanel::cancelStudy);
    }
    run->addAction(tr("Com&pare two runs"), this, [this] {
        showView(QStringLiteral("compare"));
        comparePanel_->compare();
    });
    run->addSeparator();
    run->addAction(tr("Cancel &all jobs"), wb_, &Workbench::cancelAll);

    viewMenu_ = menuBar()->addMenu(tr("&View"));
    for (const QString& n : {QStringLiteral("model"), QStringLiteral("probe"), QStringLiteral("search"), QStringLiteral("heatmap"),
                             QStringLiteral("phase"), QStringLiteral("mechanism"), QStringLiteral("benchmarks"), QStringLiteral("stability"),
                             QStringLiteral("compare"), QStringLiteral("neurons"), QStringLiteral("generations")})
        viewMenu_->addAction(docks_[n]->toggleViewAction());
    viewMenu_->addSeparator();
    viewMenu_->addAction(tr("&Reset layout"), this, &MainWindow::resetLayout);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Achilles Workbench"), this, [this] {
        QMessageBox::about(this, tr("About Achilles Workbench"),
                           tr("<h3>Achilles Workbench %1</h3><p>Find the few neurons whose masking collapses a language "
                              "model (\"The Achilles' Heel of LLMs\", arXiv 2510.10238).</p>"
                              "<p>Stage 1 adds Gaussian noise α·N(0, I) to the input embeddings K times and ranks every "
                              "(layer, module, position, channel) entry by the mean over the K passes of |clean − noisy| "
                              "output; stage 2 zeroes the channels of the top-n entries at every position, n = Δn, 2Δn, …, "
                              "until log10 perplexity rises by ε.</p><p>GPL-3.0-or-later.</p>")
                               .arg(QString::fromStdString(achilles::app_version())));
    });
}

QString MainWindow::layoutKey() const {
    // A layout belongs to the screen size and scale factor it was saved under: a window laid out at
    // QT_SCALE_FACTOR=2 does not fit the next normal start, and the other way round.
    const QScreen* sc = screen();
    const QRect avail = sc ? sc->availableGeometry() : QRect(0, 0, 1600, 1000);
    const double dpr = sc ? sc->devicePixelRatio() : 1.0;
    return QStringLiteral("%1x%2@%3").arg(avail.width()).arg(avail.height()).arg(dpr, 0, 'g', 4);
}

void MainWindow::restoreLayout() {
    QSettings s;
    const bool sameScreen = s.value(QStringLiteral("window/layout_key")).toString() == layoutKey();
    const QByteArray geo = sameScreen ? s.value(QStringLiteral("window/geometry")).toByteArray() : QByteArray();
    if (geo.isEmpty() || !restoreGeometry(geo)) {
        const QRect avail = screen() ? screen()->availableGeometry() : QRect(0, 0, 1600, 1000);
        resize(std::min(1500, avail.width() - 40), std::min(940, avail.height() - 40));
    }
    const QByteArray st = sameScreen ? s.value(QStringLiteral("window/state")).toByteArray() : QByteArray();
    if (!st.isEmpty()) restoreState(st, kLayoutVersion);
    else freshLayout_ = true;
}

void MainWindow::resetLayout() {
    restoreState(defaultState_, kLayoutVersion);
    applyDefaultSizes();
}

void MainWindow::showEvent(QShowEvent* e) {
    QMainWindow::showEvent(e);
    if (freshLayout_) {
        freshLayout_ = false;
        QTimer::singleShot(0, this, [this] { applyDefaultSizes(); });
    }
}

void MainWindow::closeEvent(QCloseEvent* e) {
    if (!maybeSave()) {
        e->ignore();
        return;
    }
    wb_->cancelAll();
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState(kLayoutVersion));
    s.setValue(QStringLiteral("window/layout_key"), layoutKey());
    e->accept();
}

bool MainWindow::maybeSave() {
    if (!dirty_) return true;  // the title shows "*" exactly when this asks
    QMessageBox box(QMessageBox::Question, tr("Unsaved session"), tr("Save the current session first?"), QMessageBox::NoButton, this);
    box.setObjectName(QStringLiteral("unsavedDialog"));
    QPushButton* save = box.addButton(tr("&Save"), QMessageBox::AcceptRole);
    QPushButton* discard = box.addButton(tr("&Discard"), QMessageBox::DestructiveRole);
    QPushButton* cancel = box.addButton(tr("&Cancel"), QMessageBox::RejectRole);
    box.setDefaultButton(save);
    box.setEscapeButton(cancel);
    box.exec();
    if (box.clickedButton() != save && box.clickedButton() != discard) return false;
    if (box.clickedButton() == save) {
        QString f = sessionPath_.endsWith(QLatin1String(".achilles")) ? sessionPath_
                    : saveFileDialog(this, DialogKind::sessions, tr("Save session"), QStringLiteral("session.achilles"), tr("Achilles session (*.achilles)"));
        if (f.isEmpty()) return false;
        return saveSessionFile(f);
    }
    return true;
}

void MainWindow::error(const QString& title, const QString& message) {
    emit errorShown(title, message);
    showMessageBox(QMessageBox::Critical, title, message);
}

void MainWindow::warn(const QString& title, const QString& message) {
    emit warningShown(title, message);
    showMessageBox(QMessageBox::Warning, title, message);
}

void MainWindow::showMessageBox(int icon, const QString& title, const QString& message) {
    statusBar()->showMessage(title + QStringLiteral(": ") + message, 15000);
    auto* box = new QMessageBox(QMessageBox::Icon(icon), title, message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();  // window-modal, never blocks the event loop
}

void MainWindow::addRecent(const QString& key, const QString& path) {
    QSettings s;
    QStringList l = s.value(key).toStringList();
    l.removeAll(path);
    l.prepend(path);
    while (l.size() > 10) l.removeLast();
    s.setValue(key, l);
    refreshRecentMenus();
}

void MainWindow::refreshRecentMenus() {
    QSettings s;
    const QStringList files = s.value(kRecentFiles).toStringList();
    const QStringList models = s.value(kRecentModels).toStringList();
    recentFiles_->clear();
    for (const QString& f : files)
        recentFiles_->addAction(QFileInfo(f).fileName() + QStringLiteral("  —  ") + QFileInfo(f).path(), this, [this, f] {
            if (maybeSave()) openSessionFileAsync(f);
        });
    recentFiles_->setEnabled(!files.isEmpty());
    recentModels_->clear();
    for (const QString& m : models)
        recentModels_->addAction(ModelPanel::describe(m), this, [this, m] { modelPanel_->loadPath(m); });
    recentModels_->setEnabled(!models.isEmpty());
    modelPanel_->setRecent(models);
}

void MainWindow::updateTitle() {
    QString t = sessionPath_.isEmpty() ? tr("untitled") : QFileInfo(sessionPath_).fileName();
    if (wb_->hasModel()) t += QStringLiteral(" — ") + ModelPanel::describe(wb_->modelPath());
    setWindowTitle(t + QStringLiteral("[*] — Achilles Workbench"));
    setWindowModified(dirty_);
}

void MainWindow::showView(const QString& name) {
    if (auto* d = docks_.value(name)) {
        d->show();
        d->raise();
    }
}

QStringList MainWindow::viewNames() {
    return {QStringLiteral("main"), QStringLiteral("heatmap"), QStringLiteral("phase"), QStringLiteral("mechanism"), QStringLiteral("benchmarks"),
            QStringLiteral("stability"), QStringLiteral("compare"), QStringLiteral("neurons"),
            QStringLiteral("generations"), QStringLiteral("model"), QStringLiteral("probe"), QStringLiteral("search")};
}

QImage MainWindow::grabView(const QString& name) {
    if (name == QLatin1String("main") || name.isEmpty()) return grab().toImage();
    QDockWidget* d = docks_.value(name);
    if (!d) throw Error("--view", "name", "unknown view '" + name.toStdString() + "' (use " +
                                              viewNames().join(QStringLiteral(", ")).toStdString() + ")");
    showView(name);
    QWidget* w = d->widget();
    // Render at a comfortable size even when the dock is small or tabbed away.
    const QSize size = name == QLatin1String("heatmap") ? QSize(1300, 620)
                       : name == QLatin1String("phase") ? QSize(1000, 620)
                       : name == QLatin1String("mechanism") ? QSize(1400, 860)
                       : name == QLatin1String("benchmarks") ? QSize(1100, 760)
                       : name == QLatin1String("stability") ? QSize(1200, 700)
                       : name == QLatin1String("compare") ? QSize(1300, 780)
                       : name == QLatin1String("generations") ? QSize(1200, 360)
                       : name == QLatin1String("neurons") ? QSize(1100, 560)
                                                          : QSize(520, 700);
    const bool wasFloating = d->isFloating();
    d->setFloating(true);
    d->resize(size);
    w->resize(size);
    d->show();
    QApplication::processEvents();
    const QImage img = w->grab().toImage();
    d->setFloating(wasFloating);
    return img;
}

void MainWindow::exportPlotInteractive(QCustomPlot* plot, const QString& name) {
    PlotExportOptions opt;
    if (!askPlotExportOptions(this, opt)) return;
    const QString f = saveFileDialog(this, DialogKind::exports, tr("Export plot"), name + QStringLiteral(".png"),
                                                   tr("PNG image (*.png);;SVG vector (*.svg);;PDF (*.pdf)"));
    if (f.isEmpty()) return;
    try {
        exportPlot(plot, f, opt);
        statusBar()->showMessage(tr("Exported %1").arg(f), 8000);
    } catch (const std::exception& e) {
        error(tr("Export failed"), QString::fromUtf8(e.what()));
    }
}

QJsonObject MainWindow::viewState() const {
    QString current;
    for (auto it = docks_.begin(); it != docks_.end(); ++it)
        if (!it.value()->visibleRegion().isEmpty() && (it.key() == QLatin1String("heatmap") || it.key() == QLatin1String("phase") ||
                                                     it.key() == QLatin1String("mechanism") || it.key() == QLatin1String("benchmarks") ||
                                                     it.key() == QLatin1String("stability") || it.key() == QLatin1String("compare")))
            current = it.key();
    return QJsonObject{{"heatmap", heatmapPanel_->viewState()},
                       {"neurons", neuronsPanel_->viewState()},
                       {"phase", phasePanel_->viewState()},
                       {"mechanism", mechanismPanel_->viewState()},
                       {"ablation", AblationControl::toJson(wb_)},
                       {"plot", current}};
}

void MainWindow::restoreViewState(const QJsonObject& v) {
    heatmapPanel_->restoreViewState(v.value("heatmap").toObject());
    neuronsPanel_->restoreViewState(v.value("neurons").toObject());
    phasePanel_->restoreViewState(v.value("phase").toObject());
    mechanismPanel_->restoreViewState(v.value("mechanism").toObject());
    AblationControl::fromJson(wb_, v.value("ablation").toObject());
    if (!v.value("plot").toString().isEmpty()) showView(v.value("plot").toString());
}

bool MainWindow::openSessionFile(const QString& path) {
    try {
        finishOpen(path, wb_->openSession(path));
        return true;
    } catch (const std::exception& e) {
        error(tr("Cannot open the session"), QString::fromUtf8(e.what()));
        return false;
    }
}

void MainWindow::openSessionFileAsync(const QString& path) {
    statusBar()->showMessage(tr("Opening %1…").arg(path));
    wb_->openSessionAsync(path);
}

void MainWindow::finishOpen(const QString& path, const QJsonObject& view) {
    restoreViewState(view);
    generationsPanel_->rebuild();
    setSessionPath(path, tr("Opened %1").arg(path));
}

void MainWindow::setSessionPath(const QString& path, const QString& status) {
    sessionPath_ = path;
    rememberDialogPath(DialogKind::sessions, path);  // the next Open/Save starts in its folder
    dirty_ = false;
    addRecent(kRecentFiles, path);
    updateTitle();
    statusBar()->showMessage(status, 8000);
}

void MainWindow::saveSessionFileAsync(const QString& path) {
    statusBar()->showMessage(tr("Saving %1…").arg(path));
    wb_->saveSessionAsync(path, viewState());
}

void MainWindow::finishSave(const QString& path) { setSessionPath(path, tr("Saved %1").arg(path)); }

bool MainWindow::saveSessionFile(const QString& path) {
    try {
        wb_->saveSession(path, viewState());
        finishSave(path);
        return true;
    } catch (const std::exception& e) {
        error(tr("Cannot save the session"), QString::fromUtf8(e.what()));
        return false;
    }
}

QStringList MainWindow::exportAllFigures(const QString& dirPath, int width, int height, int dpi) {
    PlotExportOptions o;
    o.width = width;
    o.height = height;
    o.dpi = dpi;
    return exportAllFigures(dirPath, o);
}

QStringList MainWindow::exportAllFigures(const QString& dirPath, const PlotExportOptions& opt) {
    if (!wb_->result()) throw Error("There are no figures to export yet: run a search first.");
    const QDir dir(dirPath);
    if (!QDir().mkpath(dir.absolutePath())) throw Error(dirPath.toStdString(), "", "cannot create this folder");
    grabView(QStringLiteral("main"));  // lays out and replots every panel at the window size
    std::vector<std::pair<QCustomPlot*, QString>> plots = {{heatmapPanel_->plot(), QStringLiteral("heatmap")},
                                                           {heatmapPanel_->drillPlot(), QStringLiteral("heatmap-drilldown")},
                                                           {phasePanel_->plot(), QStringLiteral("phase-transition")}};
    for (auto& mp : mechanismPanel_->computedPlots()) plots.push_back(std::move(mp));  // those computed
    std::vector<std::pair<QCustomPlot*, QString>> all;
    for (const auto& [plot, name] : plots)
        for (const char* ext : {"png", "svg", "pdf"}) all.emplace_back(plot, dir.filePath(name + QLatin1Char('.') + QLatin1String(ext)));
    exportPlots(all, opt);  // all or nothing
    QStringList files;
    for (const auto& pp : all) files << pp.second;
    return files;
}

void MainWindow::writeResultJson(const QString& path) {
    if (!wb_->result()) throw Error("There is no result to export yet: run a search first.");
    write_file_atomic(path.toStdString(), result_to_json(*wb_->result()));
}

void MainWindow::writeHtmlReport(const QString& path) {
    if (!wb_->result()) throw Error("There is no result to report yet: run a search first.");
    ReportInput in;
    in.result = &*wb_->result();
    in.generation = &wb_->generation();
    in.maskedNeurons = wb_->masked().size();
    in.heatmap = heatmapPanel_->plot();
    in.phase = phasePanel_->plot();
    achilles::ui::writeHtmlReport(path, in);
}

void MainWindow::openPath(const QString& path) {
    const QFileInfo fi(path);
    if (fi.isDir()) {
        modelPanel_->loadPath(path);
        return;
    }
    // Say what is wrong with the file before asking to save anything: a session or a result is a
    // JSON object, so its first non-blank byte is '{'.
    QFile f(path);
    QByteArray head;
    if (f.open(QIODevice::ReadOnly)) head = f.read(4096).trimmed();
    if (head.startsWith("\xef\xbb\xbf")) head = head.mid(3).trimmed();
    if (!head.startsWith('{')) {
        const QString suffix = fi.suffix().toLower();
        if (suffix == QLatin1String("txt") || suffix == QLatin1String("md")) {  // a probe text
            probePanel_->openFile(path);
            return;
        }
        error(tr("Cannot open the session"),
              f.isOpen() ? tr("%1 is not an Achilles session or result (those are JSON documents).").arg(path)
                         : tr("%1 cannot be read: %2").arg(path, f.errorString()));
        return;
    }
    if (maybeSave()) openSessionFileAsync(path);
}

namespace {
bool hasLocalFile(const QMimeData* m) {
    if (!m->hasUrls()) return false;
    for (const QUrl& u : m->urls())
        if (u.isLocalFile()) return true;
    return false;
}
}  // namespace

// Drops are copies: the source file is only read (a Move could make a file manager delete it).
void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
    if (!hasLocalFile(e->mimeData())) return;
    e->setDropAction(Qt::CopyAction);
    e->accept();
}

void MainWindow::dragMoveEvent(QDragMoveEvent* e) {
    if (!hasLocalFile(e->mimeData())) return;
    e->setDropAction(Qt::CopyAction);
    e->accept();
}

void MainWindow::dropEvent(QDropEvent* e) {
    for (const QUrl& u : e->mimeData()->urls())
        if (u.isLocalFile()) {
            e->setDropAction(Qt::CopyAction);
            e->accept();
            const QString path = u.toLocalFile();
            QTimer::singleShot(0, this, [this, path] { openPath(path); });  // not inside the drag's event
            return;
        }
}

}  // namespace achilles::ui
