// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Comparing two runs (results or sessions; the GUI's `achilles-cli compare`, core:
// achilles/compare.h): shared / only-A / only-B channels, Jaccard per module as bars, and both
// stage-2 curves on one axis (unique channels masked vs Δ log10 PPL), labelled A and B, and the
// two layer × module max-importance heatmaps side by side on ONE colour scale (one colour bar);
// results of models with different layer counts get a note instead of the maps.
#include "achilles/compare.h"
#include <QWidget>
#include <map>
#include <memory>
#include <vector>
#include <optional>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;

namespace achilles::ui {

class Workbench;

class ComparePanel : public QWidget {
    Q_OBJECT
public:
    explicit ComparePanel(Workbench* wb, QWidget* parent = nullptr);
    ~ComparePanel() override;
    void setPaths(const QString& a, const QString& b);
    void setSet(const QString& set);  // faithful or minimal
    void compare();                   // reads both on the io lane; emits compared / failed
    void setComparison(RunComparison c);
    const std::optional<RunComparison>& comparison() const { return cmp_; }
    QCustomPlot* jaccardPlot() const { return jacPlot_; }
    QCustomPlot* curvePlot() const { return curvePlot_; }
    QCustomPlot* pairPlot() const { return pairPlot_; }
    QCPColorMap* pairMap(int which) const { return pairMaps_[which]; }  // 0 A, 1 B
    QCPColorScale* pairScale() const { return pairScale_; }
    QString pairNote() const;           // why the paired maps are not drawn (empty when they are)
    double pairCell(int which, int layer, int module) const;  // shown max importance; 0 when empty
    QListWidget* list(int which) const { return lists_[which]; }  // 0 shared, 1 only A, 2 only B
    QString summaryText() const;
    double shownJaccard(const QString& module) const;  // the bar's height; NaN when none
    void saveJson(const QString& path) const;         // achilles.comparison/1, atomically; throws Error

signals:
    void compared();
    void failed(const QString& message);
    void errorOccurred(const QString& title, const QString& message);
    void exportRequested(QCustomPlot* plot, const QString& name);

private:
    struct Jobs;
    struct Loaded;
    void refresh();
    void refreshPair();
    Workbench* wb_;
    std::unique_ptr<Jobs> jobs_;
    QLineEdit *a_, *b_;
    QComboBox* set_;
    QPushButton *run_, *save_;
    QLabel* summary_;
    QLabel* listTitles_[3];
    QListWidget* lists_[3];
    QCustomPlot *jacPlot_, *curvePlot_, *pairPlot_;
    QCPColorMap* pairMaps_[2];
    QCPColorScale* pairScale_;
    QLabel* pairNote_;
    std::optional<RunComparison> cmp_;
    // Max stage-1 importance per layer × module cell of A and B (layers × 9), from the last compare.
    std::vector<double> heat_[2];
    int heatLayers_[2] = {0, 0};
    std::map<QString, double> shownJac_;
};

}  // namespace achilles::ui
