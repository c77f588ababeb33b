// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The workbench window: dockable panels, menus, sessions, export, drag and drop, settings.
#include <QImage>
#include <QJsonObject>
#include <QMainWindow>

class QDockWidget;
class QMenu;
class QCustomPlot;
class QLabel;
class QProgressBar;

namespace achilles::ui {
struct PlotExportOptions;

class Workbench;
class NeuronTableModel;
class ModelPanel;
class ProbePanel;
class SearchPanel;
class HeatmapPanel;
class PhasePanel;
class NeuronsPanel;
class GenerationsPanel;
class MechanismPanel;
class BenchmarkPanel;
class StabilityPanel;
class ComparePanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    Workbench* workbench() const { return wb_; }
    NeuronTableModel* neuronModel() const { return neurons_; }
    ModelPanel* modelPanel() const { return modelPanel_; }
    ProbePanel* probePanel() const { return probePanel_; }
    SearchPanel* searchPanel() const { return searchPanel_; }
    HeatmapPanel* heatmapPanel() const { return heatmapPanel_; }
    PhasePanel* phasePanel() const { return phasePanel_; }
    NeuronsPanel* neuronsPanel() const { return neuronsPanel_; }
    GenerationsPanel* generationsPanel() const { return generationsPanel_; }
    MechanismPanel* mechanismPanel() const { return mechanismPanel_; }
    BenchmarkPanel* benchmarkPanel() const { return benchmarkPanel_; }
    StabilityPanel* stabilityPanel() const { return stabilityPanel_; }
    ComparePanel* comparePanel() const { return comparePanel_; }

    bool openSessionFile(const QString& path);   // false (with a dialog) on a bad file; parses on the UI thread
    void openSessionFileAsync(const QString& path);  // parses in the worker (menus, recent list, drops)
    bool saveSessionFile(const QString& path);       // on the UI thread (tests, headless, close)
    void saveSessionFileAsync(const QString& path);  // serialized and written in the worker (menus)
    QJsonObject viewState() const;
    void restoreViewState(const QJsonObject& v);
    QString sessionPath() const { return sessionPath_; }

    void writeHtmlReport(const QString& path);   // export/report.h; throws Error
    void writeResultJson(const QString& path);   // throws Error
    // Heatmap, drill-down and phase-transition plots as PNG, SVG and PDF into dir, all or nothing
    // (headless --export-figures and File > Export > All figures). Returns the files; throws Error.
    QStringList exportAllFigures(const QString& dir, int width = 1200, int height = 800, int dpi = 150);
    QStringList exportAllFigures(const QString& dir, const PlotExportOptions& opt);  // with its style
    // The named view (main, heatmap, phase, mechanism, benchmarks, stability, compare, neurons, generations,
    // model, probe, search) as an image.
    QImage grabView(const QString& name);
    static QStringList viewNames();
    void showView(const QString& name);          // raise the dock
    // The dock layout of a first start (View > Reset layout), ignoring any saved one.
    void resetLayout();
    // What is on screen is the state of a fresh start or of the last save/open: no "*" in the
    // title (the command line's --demo text and model are not unsaved changes).
    void markClean();
    bool isDirty() const { return dirty_; }

signals:
    // Every error and warning the window shows (a non-blocking message box and the status bar).
    void errorShown(const QString& title, const QString& message);
    void warningShown(const QString& title, const QString& message);

protected:
    void closeEvent(QCloseEvent* e) override;
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dragMoveEvent(QDragMoveEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    void showEvent(QShowEvent* e) override;

private:
    void buildDocks();
    void buildMenus();
    void restoreLayout();
    QString layoutKey() const;  // available screen size and device pixel ratio
    void defaultLayout();
    void applyDefaultSizes();
    void error(const QString& title, const QString& message);
    void warn(const QString& title, const QString& message);
    void showMessageBox(int icon, const QString& title, const QString& message);  // status bar + non-blocking box
    void addRecent(const QString& key, const QString& path);
    void refreshRecentMenus();
    void exportPlotInteractive(QCustomPlot* plot, const QString& name);
    void updateTitle();
    bool maybeSave();
    void openPath(const QString& path);
    void finishOpen(const QString& path, const QJsonObject& view);
    void finishSave(const QString& path);
    void setSessionPath(const QString& path, const QString& status);  // clean, recent, title

    Workbench* wb_;
    NeuronTableModel* neurons_;
    ModelPanel* modelPanel_;
    ProbePanel* probePanel_;
    SearchPanel* searchPanel_;
    HeatmapPanel* heatmapPanel_;
    PhasePanel* phasePanel_;
    NeuronsPanel* neuronsPanel_;
    GenerationsPanel* generationsPanel_;
    MechanismPanel* mechanismPanel_;
    BenchmarkPanel* benchmarkPanel_;
    StabilityPanel* stabilityPanel_;
    ComparePanel* comparePanel_;
    QMap<QString, QDockWidget*> docks_;
    QMenu* recentFiles_ = nullptr;
    QMenu* recentModels_ = nullptr;
    QMenu* viewMenu_ = nullptr;
    QLabel* statusBusy_ = nullptr;
    QProgressBar* statusBar_ = nullptr;
    QString sessionPath_;
    bool dirty_ = false;
    bool freshLayout_ = false;
    QByteArray defaultState_;
};

}  // namespace achilles::ui
