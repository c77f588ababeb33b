// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Stability across probes / seeds / alpha / K: opens an achilles.stability/1 document (made by
// `achilles-cli search --probes ...`, core: achilles/stability.h) and shows the Jaccard matrix of
// the runs' critical sets as a heatmap (0..1), the runs, the recurring channels with their counts
// and the consensus set.
#include <QWidget>
#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QLabel;
class QTableWidget;

namespace achilles::ui {

struct StabilityDoc {
    struct Run {
        QString label, probe;
        int size = 0, tokens = 0;
        double delta = 0;
        bool reached = false;
    };
    struct Count {
        QString neuron;  // "L3.down_proj:7"
        int count = 0;
    };
    QString source, model;
    std::vector<Run> runs;
    std::vector<std::vector<double>> jaccard;
    std::vector<Count> counts;
    QStringList intersection, consensus;
    int unionSize = 0, consensusK = 0;
    QString heldout;  // "Δ 0.52 on wikitext (8 samples)", empty when not measured
};
// Reads and checks a document; throws achilles::Error naming the file and member.
StabilityDoc readStabilityDoc(const QString& path);

class StabilityPanel : public QWidget {
    Q_OBJECT
public:
    explicit StabilityPanel(QWidget* parent = nullptr);
    bool openFile(const QString& path);  // false (and errorOccurred) on a bad file
    void setDoc(StabilityDoc d);
    const StabilityDoc& doc() const { return doc_; }
    QCustomPlot* plot() const { return plot_; }
    QTableWidget* countsTable() const { return counts_; }
    QTableWidget* runsTable() const { return runs_; }
    double cellValue(int i, int j) const;  // the heatmap's cell (run i, run j); NaN outside
    QString consensusText() const;

signals:
    void opened(const QString& path);
    void errorOccurred(const QString& title, const QString& message);
    void exportRequested(QCustomPlot* plot, const QString& name);

private:
    void refresh();
    StabilityDoc doc_;
    QCustomPlot* plot_;
    QCPColorMap* map_;
    QCPColorScale* scale_;
    QTableWidget *runs_, *counts_;
    QLabel *summary_, *consensus_;
};

}  // namespace achilles::ui
