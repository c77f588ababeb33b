// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Layers × 9 modules heatmap of the search result, with a layer × channel drill-down of a module.
#include <QJsonObject>
#include <QWidget>
#include <optional>
#include <utility>
#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPGraph;
class QComboBox;
class QSpinBox;
class QCheckBox;
class QTableView;
class QLabel;

namespace achilles::ui {

class Workbench;
class NeuronTableModel;
class NeuronFilterProxy;

class HeatmapPanel : public QWidget {
    Q_OBJECT
public:
    enum Metric { CriticalCount = 0, TopRankedCount = 1, MaxImportance = 2 };
    HeatmapPanel(Workbench* wb, NeuronTableModel* neurons, QWidget* parent = nullptr);

    QCustomPlot* plot() const { return plot_; }
    QCustomPlot* drillPlot() const { return drill_; }
    void setMetric(Metric m);
    Metric metric() const;
    void setLogScale(bool on);
    double cellValue(int layer, int module) const;   // the metric's value (0 when empty)
    int populatedCells() const;                       // cells with a value > 0
    void selectCell(int layer, int module);           // drill down
    std::optional<std::pair<int, int>> selectedCell() const { return selected_; }
    int drillRows() const;                            // neurons listed for the selected cell
    double drillValue(int layer, int channel) const;  // max importance in the drill-down map
    QString staleText() const;
    QString drillHoverText(double pixelX, double pixelY) const;  // the drill-down tooltip there
    void resetDrillZoom();
    // The cells (layer, module) holding at least one neuron of the result's critical set, marked
    // by a circle in the heatmap; the drill-down's marked (layer, channel) entries of the critical
    // set (square outline) and of the minimal set (cross), when the result has one.
    std::vector<std::pair<int, int>> criticalCells() const;
    std::vector<std::pair<int, int>> drillCriticalMarks() const;
    std::vector<std::pair<int, int>> drillMinimalMarks() const;                                        // double-click: the whole map  // the banner over the maps (empty when hidden)
    QJsonObject viewState() const;
    void restoreViewState(const QJsonObject& o);

public slots:
    void rebuild();

signals:
    void exportRequested(QCustomPlot* plot, const QString& name);

private:
    void rebuildDrill();
    Workbench* wb_;
    NeuronFilterProxy* proxy_;
    QCustomPlot* plot_;
    QCustomPlot* drill_;
    QCPColorMap* map_;
    QCPColorScale* scale_;
    QCPItemRect* marker_;
    QCPGraph* critMarks_;                          // heatmap: cells with critical neurons
    QCPGraph *drillCrit_, *drillMin_;              // drill-down: critical / minimal channels
    QCPColorMap* drillMap_;
    QCPColorScale* drillScale_;
    QComboBox* metricBox_;
    QSpinBox* topN_;
    QCheckBox* log_;
    QTableView* table_;
    QLabel* drillLabel_;
    class StaleBanner* stale_;
    std::vector<double> values_;  // layers * 9
    int layers_ = 0;
    std::optional<std::pair<int, int>> selected_;
    std::vector<double> drillValues_;
    int drillWidth_ = 0;
};

}  // namespace achilles::ui
