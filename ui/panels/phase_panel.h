// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// log10 PPL against the number of masked ranking entries: the paper's phase transition.
#include <QJsonObject>
#include <QWidget>

class QCustomPlot;
class QCPGraph;
class QCPErrorBars;
class QCPItemStraightLine;
class QCPItemText;
class QCheckBox;

namespace achilles::ui {

class Workbench;

class PhasePanel : public QWidget {
    Q_OBJECT
public:
    explicit PhasePanel(Workbench* wb, QWidget* parent = nullptr);
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

public slots:
    void rebuild();

signals:
    void exportRequested(QCustomPlot* plot, const QString& name);

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
};

}  // namespace achilles::ui
