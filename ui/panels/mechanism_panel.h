// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Why the critical set matters, on the current probe, clean and under the toggled mask (with its
// ablation mode): massive activations, attention sinks, the logit lens and super-weight tracing
// (core: achilles/mechanism.h). Each tab computes on demand on the eval lane (cancellable), plots
// export as PNG/SVG/PDF, and each tab's data saves as the core's JSON document.
#include "achilles/mechanism.h"
#include "workbench/provenance.h"
#include <set>
#include <QWidget>
#include <optional>
#include <utility>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QComboBox;
class QDoubleSpinBox;
class QSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QProgressBar;
class QTabWidget;
class QTableWidget;

namespace achilles::ui {

class Workbench;

class MechanismPanel : public QWidget {
    Q_OBJECT
public:
    enum Tab { Massive = 0, Sinks = 1, Lens = 2, Trace = 3 };
    enum SinkView { SinkClean = 0, SinkMasked = 1, SinkDiff = 2 };
    explicit MechanismPanel(Workbench* wb, QWidget* parent = nullptr);
    ~MechanismPanel() override;

    QTabWidget* tabs() const { return tabs_; }
    // Start the tab's analysis on the current probe (and mask); results arrive as computed(tab).
    void runMassive();
    void runSinks(std::optional<std::pair<int, int>> pattern = std::nullopt);
    void runLens();
    void runTrace();
    void cancel();
    bool running() const;

    const std::optional<MassiveReport>& massive() const { return massive_; }
    const std::optional<SinkReport>& sinks() const { return sinks_; }
    const std::optional<LensReport>& lens() const { return lens_; }
    const std::optional<TraceReport>& trace() const { return trace_; }

    void setThresholds(double absThreshold, double ratio);
    void setMassiveSite(MassiveSite s);
    // The Massive tab's plots and table: the clean model (false) or, when the report has one,
    // the masked forward of the ticked neurons (true).
    void setMassiveMasked(bool on);
    bool massiveMaskedShown() const;
    void setSinkView(SinkView v);
    double sinkCell(int layer, int head) const;  // the value shown in the sink map (NaN: none)
    void setLensPosition(int position);
    void setLensMasked(bool on);  // the map: masked (true) or clean
    void setTraceNeuron(const QString& text);    // "L1.down_proj:21"
    void setTraceScale(double s);
    // The neuron chosen in the Neurons table: becomes the trace's neuron when it is a down_proj or
    // act_fn channel.
    void offerTraceNeuron(const Neuron& n);

    QTableWidget* massiveTable() const { return hitsTable_; }
    QTableWidget* lensTable() const { return lensTable_; }
    QTableWidget* traceTable() const { return traceTable_; }
    QString massiveSummary() const;  // the summary sentence (and notes) shown in the Massive tab
    QString traceSummary() const;
    QString statusText() const;
    // The stale banner over a tab (empty when its report matches the current model, probe and,
    // for the tabs that mask, the ticked neurons and their ablation mode).
    QString staleText(Tab tab) const;

    QCustomPlot* massiveLinesPlot() const { return linesPlot_; }
    QCustomPlot* massiveMapPlot() const { return massivePlot_; }
    QCustomPlot* positionPlot() const { return posPlot_; }
    QCustomPlot* sinkPlot() const { return sinkPlot_; }
    QCustomPlot* patternPlot(bool masked) const { return masked ? patMaskedPlot_ : patCleanPlot_; }
    QCustomPlot* lensPlot() const { return lensPlot_; }
    // The plots that show a computed report, with their export names ("mechanism-lines",
    // ...): the critical entries by position once there is a result, the massive, sink and lens
    // views once computed (a head's pattern once one was clicked).
    std::vector<std::pair<QCustomPlot*, QString>> computedPlots() const;

    // The tab's report as the core's JSON document, written atomically. Throws Error.
    void saveJson(Tab tab, const QString& path) const;
    QJsonObject viewState() const;
    void restoreViewState(const QJsonObject& o);

signals:
    void computed(int tab);
    void failed(int tab, const QString& message);
    void cancelled(int tab);
    void errorOccurred(const QString& title, const QString& message);
    void exportRequested(QCustomPlot* plot, const QString& name);

private:
    struct Jobs;
    QWidget* buildMassiveTab();
    QWidget* buildSinksTab();
    QWidget* buildLensTab();
    QWidget* buildTraceTab();
    void setUpJobs();
    // The engine, ids and mask of a run; false (and an error) when there is no model or probe.
    bool prepare(int tab, std::vector<int>& ids, MaskSpec& mask);
    void started(int tab, const QString& what);
    void finished(int tab);
    void showMassive();
    void showPositions();
    void showSinks();
    void showPattern();
    void showLens();
    void showTrace();
    void saveJsonInteractive(Tab tab);
    void updateStale();
    // What a tab's report was computed on.
    struct RunKey {
        Provenance prov;
        std::set<Neuron> masked;  // the applied mask (empty: clean)
        QString ablation;         // its mode, as Workbench::ablationText says it
    };
    RunKey currentKey() const;
    RunKey runKey_[4], pendingKey_[4];
    class StaleBanner* stale_[4] = {};
    QWidget* exportRow(std::initializer_list<std::pair<QCustomPlot*, QString>> plots, Tab tab, QPushButton* compute);

    Workbench* wb_;
    std::unique_ptr<Jobs> jobs_;
    QTabWidget* tabs_;
    QLabel* status_;
    QLabel* maskInfo_;
    QProgressBar* progress_;
    QPushButton* cancel_;
    // massive
    QDoubleSpinBox *absThr_, *ratio_;
    QComboBox *site_, *massiveRun_;
    QCustomPlot *linesPlot_, *massivePlot_, *posPlot_;
    QCPColorMap* massiveMap_;
    QCPColorScale* massiveScale_;
    QTableWidget* hitsTable_;
    QLabel *massiveSummary_, *massiveNotes_;
    // sinks
    QComboBox* sinkView_;
    QCustomPlot *sinkPlot_, *patCleanPlot_, *patMaskedPlot_;
    QCPColorMap *sinkMap_, *patCleanMap_, *patMaskedMap_;
    QCPColorScale *sinkScale_, *patCleanScale_, *patMaskedScale_;
    QLabel* sinkInfo_;
    // lens
    QComboBox* lensView_;
    QSpinBox *lensPos_, *lensTopK_;
    QCustomPlot* lensPlot_;
    QCPColorMap* lensMap_;
    QCPColorScale* lensScale_;
    QTableWidget* lensTable_;
    QLabel* lensInfo_;
    // trace
    QLineEdit* traceNeuron_;
    QSpinBox *traceToken_, *traceTopK_;
    QDoubleSpinBox* traceScale_;
    QTableWidget* traceTable_;
    QLabel* traceInfo_;

    std::optional<MassiveReport> massive_;
    std::optional<SinkReport> sinks_;
    std::optional<LensReport> lens_;
    std::optional<TraceReport> trace_;
    int running_ = 0;  // jobs in flight
};

}  // namespace achilles::ui
