// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Stability across probes / seeds / alpha / K: opens an achilles.stability/1 document (made by
// `achilles-cli search --probes ...`, core: achilles/stability.h) and shows the Jaccard matrix of
// the runs' critical sets as a heatmap (0..1), the runs, the recurring channels with their counts
// and the consensus set. Run stability study… is the GUI's `achilles-cli search --probes P
// [--vary KEY=V1,V2] [--consensus K] [--heldout D --heldout-max-samples N]`: core's run_stability
// on the model lane with the Search panel's options and the loaded model (progress, Cancel), the
// result shown through the same reader as an opened document, Save JSON writing the CLI's document.
#include "achilles/stability.h"
#include "workbench/provenance.h"
#include <QStringList>
#include <QWidget>
#include <memory>
#include <optional>
#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QLabel;
class QProgressBar;
class QPushButton;
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
// The same from the document's text (source names it in errors and in the summary).
StabilityDoc parseStabilityDoc(const std::string& text, const QString& source);

// The inputs of a study besides the model and the search options: the CLI's --probes, --vary
// (one KEY=V1,V2,... each), --consensus (0: a majority), --heldout, --heldout-max-samples.
struct StabilityRequest {
    QString probes;
    QStringList vary;
    int consensus = 0;
    QString heldout;
    int heldoutMaxSamples = 0;
};
// What a request would run, as run_stability sees it; throws the core's Error (naming the file,
// line and field of a bad probe, or --vary) exactly as achilles-cli search --probes does.
struct StabilityPlan {
    std::vector<StabilityProbe> probes;
    std::vector<StabilityRunSpec> runs;
};
StabilityPlan planStability(const StabilityRequest& r);

class Workbench;
class StaleBanner;

class StabilityPanel : public QWidget {
    Q_OBJECT
public:
    // wb: the model, the Search panel's options and the lanes for Run stability study (may be null:
    // then the panel only opens documents).
    explicit StabilityPanel(Workbench* wb, QWidget* parent = nullptr);
    ~StabilityPanel() override;
    bool openFile(const QString& path);  // false (and errorOccurred) on a bad file
    void setDoc(StabilityDoc d);

    // --- running a study ---
    // Asks for the inputs (StabilityRunDialog, showing the number of runs) and runs them.
    void runDialog();
    // Checks and starts a study on the model lane; false (with errorOccurred and studyFailed) when
    // there is no model or the inputs are bad. The panel's document is replaced only when it finishes.
    bool runStudy(const StabilityRequest& r);
    void cancelStudy();
    bool studyRunning() const;
    const StabilityRequest& lastRequest() const { return request_; }
    // The study run here (not one opened from a file), as the core returned it.
    const std::optional<StabilityResult>& result() const { return result_; }
    // What the study was computed on: the model and the probes file (ids empty, text the path).
    const Provenance& provenance() const { return prov_; }
    QString provenanceText() const;
    QString statusText() const;
    // stability_to_json of the study run here, atomically: the document achilles-cli search
    // --probes ... --out writes for the same inputs. Throws Error when there is none.
    void saveJson(const QString& path);
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
    void studyStarted();
    void studyProgress(const QString& status);  // "Running the study — run 2/6: p1 seed=2 · stage1 50% (...)"
    void studyFinished();
    void studyFailed(const QString& message);
    void studyCancelled();

private:
    struct Jobs;
    void refresh();
    void studyDone(const QString& status);
    void updateStale();
    Workbench* wb_;
    std::unique_ptr<Jobs> jobs_;
    StabilityRequest request_;
    std::optional<StabilityResult> result_;
    Provenance prov_, pendingProv_;
    int probes_ = 0, pendingProbes_ = 0;
    StaleBanner* stale_;
    QPushButton *runBtn_, *cancelBtn_, *saveBtn_;
    QProgressBar* progress_;
    QLabel *status_, *prov_label_;
    QString runMessage_;
    StabilityDoc doc_;
    QCustomPlot* plot_;
    QCPColorMap* map_;
    QCPColorScale* scale_;
    QTableWidget *runs_, *counts_;
    QLabel *summary_, *consensus_;
};

}  // namespace achilles::ui
