// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The workbench state shared by all panels: the loaded model, the probe text, search options,
// the search result, the toggled masks and the generations. Model work runs as typed jobs
// (jobs/job_runner.h: the search on the model lane, perplexity and generation beside it on the
// eval lane); this object lives on the UI thread and never blocks it. Session files: session.h.
#include "achilles/engine.h"
#include "achilles/results.h"
#include "achilles/search.h"
#include "jobs/job_runner.h"
#include "workbench/provenance.h"
#include "workbench/session.h"
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <memory>
#include <optional>
#include <set>

class QUndoStack;
class QTimer;

namespace achilles::ui {

inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }

class Workbench : public QObject {
    Q_OBJECT
public:
    explicit Workbench(QObject* parent = nullptr);
    ~Workbench() override;

    // The lanes. Panels with work of their own (the probe's tokenization) keep a JobTracker on it.
    JobRunner* jobs() const { return jobs_; }
    bool busy() const { return jobs_->busy(); }  // any job queued, running or not yet delivered
    void cancelAll() { jobs_->cancelAll(); }
    QUndoStack* undoStack() const { return undo_; }

    // --- model ---
    void loadModel(const LoadOptions& opt);          // background; emits modelLoaded / modelFailed
    void cancelLoad() { load_.cancel(); }
    bool loading() const { return load_.running(); }
    bool hasModel() const { return bool(engine_); }
    const Engine* engine() const { return engine_.get(); }
    std::shared_ptr<const Engine> engineShared() const { return engine_; }
    const ModelInfo* info() const { return engine_ ? &info_ : nullptr; }
    QString modelPath() const { return modelPath_; }  // of the loaded model ("default" or a folder)
    QString loadingPath() const { return qs(pendingLoad_.path); }
    const LoadOptions& loadOptions() const { return loadOptions_; }

    // --- probe text and options ---
    void setText(const QString& text);
    QString text() const { return text_; }
    void setOptions(const SearchOptions& o) { options_ = o; emit optionsChanged(); }
    const SearchOptions& options() const { return options_; }

    // --- search ---
    void runSearch();                                // background; live curve via curvePoint
    void cancelSearch() { search_.cancel(); }
    bool searching() const { return search_.running(); }
    const std::optional<SearchResult>& result() const { return result_; }
    void setResult(std::optional<SearchResult> r);
    const std::vector<CurvePoint>& liveCurve() const { return liveCurve_; }

    // --- masks (toggles) ---
    const std::set<Neuron>& masked() const { return masked_; }
    // Records an undoable change of the masked set and re-evaluates perplexity (eval lane).
    void requestMask(const std::set<Neuron>& next, const QString& description);
    void setMaskedDirect(const std::set<Neuron>& next);  // no undo entry (used by undo commands)
    double pplOriginal() const { return pplOrig_; }
    double pplMasked() const { return pplMasked_; }
    bool autoRegenerate() const { return autoRegenerate_; }
    // How every toggled neuron is ablated (mode, factor, percentile, positions; its neuron is
    // unused). The default is the paper's: zero at every position. Changing it re-evaluates the PPL.
    const MaskEntry& ablation() const { return ablation_; }
    void setAblation(const MaskEntry& how);
    static QString ablationText(const MaskEntry& how);  // "zero", "scale ×0.5 at token 0", ...
    // The toggled neurons as the mask applied to the perplexity, the generations and the
    // mechanism views: each with the ablation mode (statistics measured on the ids scored).
    MaskSpec maskSpec() const;
    void setAutoRegenerate(bool on) { autoRegenerate_ = on; }

    // --- generations ---
    GenerationState& generation() { return gen_; }
    const GenerationState& generation() const { return gen_; }
    void generate();                                 // original then masked, streamed (eval lane)
    void cancelGeneration() { gen_job_.cancel(); }

    // --- sessions (document format: session.h) ---
    SessionState sessionState(const QJsonObject& viewState) const;  // without the result
    QJsonObject toSession(const QJsonObject& viewState) const;      // with the result
    void saveSession(const QString& path, const QJsonObject& viewState) const;  // atomic; throws Error
    int saveSessionAsync(const QString& path, const QJsonObject& viewState);    // sessionSaved / sessionSaveFailed
    // Loads a session (or an achilles-cli result JSON) and returns its view state; throws Error and
    // then leaves everything as it was. A session naming a model that is not loaded starts loading it.
    QJsonObject openSession(const QString& path, bool loadModel = true);
    // Reads and parses on the io lane (big results take a while), applies on the UI thread;
    // emits sessionOpened or sessionFailed.
    int openSessionAsync(const QString& path, bool loadModel = true);
    QJsonObject applySession(SessionState st, bool loadModel = true);
    // Fingerprint stored in the last opened session (compared after the model loads).
    std::optional<ModelFingerprint> expectedFingerprint() const { return expectedFp_; }

    // Encodes the probe text the way the search does ("ids: ..." is used as given). Throws Error.
    std::vector<int> probeIds() const;

    // --- provenance (workbench/provenance.h): what each value was computed on ---
    // The loaded model and the current probe ids (empty ids when the text cannot be encoded).
    Provenance current() const;
    Provenance resultProvenance() const;                 // of the result (no model when none)
    const Provenance& pplProvenance() const { return pplProv_; }
    int pplMaskCount() const { return pplMaskCount_; }    // neurons masked in pplMasked()
    const MaskEntry& pplAblation() const { return pplAblation_; }  // ... and how they were ablated
    std::optional<ModelFingerprint> maskModel() const { return maskModel_; }
    // A loaded model and a result of that model (the probe may differ).
    bool resultMatchesModel() const;
    // The masks belong to the loaded model (or there are none): only then are they applied.
    bool masksApplicable() const;
    // Empty when the value matches the loaded model (and probe); otherwise what it belongs to.
    QString resultStaleReason() const;
    QString pplStaleReason() const;
    QString masksStaleReason() const;
    QString generationStaleReason() const;
    // The same check for any other view's provenance (the Stability panel's study: probeMatters false).
    QString staleReasonOf(const Provenance& p, bool probeMatters) const { return staleReason(p, probeMatters); }

signals:
    void modelLoading();
    void loadProgress(double fraction, const QString& message);
    void modelLoaded();
    void modelFailed(const QString& message);
    void modelMismatch(const QString& message);
    void resultWarning(const QString& message);  // an opened result needs a caveat (older schema)
    void textChanged();
    void optionsChanged();
    void searchStarted();
    void searchStageProgress(const QString& stage, double fraction, const QString& message);
    void curvePoint(const achilles::CurvePoint& p);
    void searchFinished();
    void searchFailed(const QString& message);
    void searchCancelled();
    void resultChanged();
    void maskChanged();
    void ablationChanged();
    void pplEvaluating();
    void pplChanged(double orig, double masked);
    void pplFailed(const QString& message);
    void generationStarted();
    void generationToken(int side, const achilles::TokenStep& step);  // side 0: original, 1: masked
    void generationFinished();
    void generationFailed(const QString& message);
    void generationCancelled();
    void busyChanged(bool busy);
    void sessionOpened(const QString& path, const QJsonObject& view);
    void sessionFailed(const QString& path, const QString& message);
    void sessionSaved(const QString& path);
    void sessionSaveFailed(const QString& path, const QString& message);
    void message(const QString& text);  // status-bar text
    // Something a value is compared with changed (model, probe text, result, masks, PPL,
    // generations): views re-check the stale reasons. Probe edits arrive debounced.
    void provenanceChanged();

private:
    using GenPair = std::pair<GenerateResult, GenerateResult>;
    void evaluateMask();
    QString staleReason(const Provenance& p, bool probeMatters) const;
    void cancelModelWork();  // search, perplexity and generation of the current engine
    void setUpJobs();
    JobRunner* jobs_;
    QUndoStack* undo_;
    std::shared_ptr<const Engine> engine_;
    ModelInfo info_;
    QString modelPath_;
    LoadOptions loadOptions_, pendingLoad_;
    QString text_;
    SearchOptions options_;
    std::optional<SearchResult> result_;
    std::vector<CurvePoint> liveCurve_;
    std::set<Neuron> masked_;
    double pplOrig_ = 0, pplMasked_ = 0;
    bool autoRegenerate_ = false;
    MaskEntry ablation_, pplAblation_, pendingPplAblation_;
    GenerationState gen_;
    std::optional<ModelFingerprint> expectedFp_;
    std::optional<ModelFingerprint> maskModel_;  // the model the masks were chosen on
    Provenance pplProv_, pendingPplProv_;
    int pplMaskCount_ = 0, pendingPplMaskCount_ = 0;
    std::optional<ModelFingerprint> pendingGenModel_;
    int pendingGenMaskCount_ = 0;
    bool loadFromSession_ = false, pendingLoadFromSession_ = false;
    QTimer* provenanceTimer_ = nullptr;
    // probeIds() of the last (text, engine, max_tokens), for current()
    mutable QString idsCacheText_;
    mutable const Engine* idsCacheEngine_ = nullptr;
    mutable int idsCacheMax_ = -1;
    mutable std::vector<int> idsCache_;
    bool pendingSessionLoadModel_ = true;
    QString pendingSessionPath_, pendingSavePath_;
    JobTracker<std::shared_ptr<const Engine>> load_{jobs_, Lane::model};
    JobTracker<SearchResult> search_{jobs_, Lane::model};
    JobTracker<std::pair<double, double>> ppl_{jobs_, Lane::eval};
    JobTracker<GenPair> gen_job_{jobs_, Lane::eval};
    JobTracker<std::shared_ptr<SessionState>> open_{jobs_, Lane::io};
    JobTracker<bool> save_{jobs_, Lane::io};
};

}  // namespace achilles::ui

Q_DECLARE_METATYPE(achilles::CurvePoint)
Q_DECLARE_METATYPE(achilles::TokenStep)
