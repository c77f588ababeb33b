// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// log10 PPL against the number of masked ranking entries: the paper's phase transition.
#include <QJsonObject>
#include <QStringList>
#include <QWidget>
#include <memory>
#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPErrorBars;
class QCPItemStraightLine;
class QCPItemText;
class QCheckBox;
class QPushButton;

namespace achilles::ui {

class Workbench;

class PhasePanel : public QWidget {
    Q_OBJECT
public:
    explicit PhasePanel(Workbench* wb, QWidget* parent = nullptr);
    ~PhasePanel() override;
    QCustomPlot* plot() const { return plot_; }
    int curvePoints() const;      // points of the live/finished stage-2 curve
    int baselineGraphs() const;   // sweep series drawn
    double threshold() const;     // log10 PPL_orig + epsilon (NaN when no result)
    QString hoverText(double pixelX, double pixelY) const;  // what the tooltip shows there
    // Pixel boxes of the threshold and original labels and the x pixel of the n* line (NaN when
    // hidden): the labels are placed so that they never cross the n* line.
    QRectF thresholdLabelRect() const;
    QRectF originalLabelRect() const;
    double nstarPixelX() const;
    bool nstarVisible() const;
    QString staleText() const;  // the banner over the plot (empty when hidden)
    bool logX() const;
    void setLogX(bool on);
    QJsonObject viewState() const;
    void restoreViewState(const QJsonObject& o);

    // Re-runs the result's stage-2 curve under the current ablation mode (core rerun_curve, eval
    // lane) and draws it as one more series, named by the mode; a series per mode, replaced when
    // rerun, dropped with the result.
    QPushButton* rerunButton() const { return rerunBtn_; }
    QStringList rerunNames() const;  // the extra series' legend names
    QCPGraph* rerunGraph(int i) const { return rerunGraphs_.at(size_t(i)); }

public slots:
    void rebuild();
    void rerunCurve();

signals:
    void exportRequested(QCustomPlot* plot, const QString& name);
    void rerunFinished();
    void rerunFailed(const QString& message);

private:
    void addPoint(double n, double log10ppl);
    void rescale();
    void updateScatter();
    void placeLabels();
    Workbench* wb_;
    QCustomPlot* plot_;
    QCPGraph* curve_;
    QCPItemStraightLine* eps_;
    QCPItemStraightLine* orig_;
    QCPItemStraightLine* nstar_;
    QCPItemText* nstarLabel_;
    QCPItemText* epsLabel_;
    QCPItemText* origLabel_;
    QCheckBox* logX_;
    class StaleBanner* stale_;
    std::vector<QCPGraph*> baselines_;
    std::vector<QCPErrorBars*> errorBars_;
    struct Rerun;
    std::unique_ptr<Rerun> rerun_;
    QPushButton* rerunBtn_;
    std::vector<QCPGraph*> rerunGraphs_;
    void updateRerunButton();
};

}  // namespace achilles::ui
