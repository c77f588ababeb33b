// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The workbench state shared by all panels: the loaded model, the probe text, search options,
// the search result, the toggled masks and the generations. All model work goes through the
// JobController; this object lives on the UI thread and never blocks it.
#include "achilles/engine.h"
#include "achilles/results.h"
#include "achilles/search.h"
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <optional>
#include <set>

class QUndoStack;

namespace achilles::ui {

class JobController;

inline QString qs(const std::string& s) { return QString::fromStdString(s); }
inline QString qs(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }

enum class GenSide { original = 0, masked = 1 };

struct GenerationState {
    QString prompt = QStringLiteral("Once upon a time");
    GenerateOptions options;
    GenerateResult original, masked;
    bool valid = false;                      // both sides complete
};

// A session document parsed off the UI thread, applied on it.
struct ParsedSession {
    std::optional<SearchResult> result;
    QString text, modelPath, device = QStringLiteral("cpu"), dtype = QStringLiteral("auto");
    SearchOptions options;
    std::set<Neuron> masks;
    GenerationState generation;
    QJsonObject view;
    std::optional<ModelFingerprint> fingerprint;
    double pplOriginal = 0, pplMasked = 0;
};

class Workbench : public QObject {
    Q_OBJECT
public:
    // Spins the event loop until the worker has been idle for a moment, or timeoutMs passes.
    // For headless runs and tests; interactive code reacts to busyChanged instead.
    bool waitUntilIdle(int timeoutMs = 60000);
    explicit Workbench(QObject* parent = nullptr);
    ~Workbench() override;

    JobController* jobs() const { return jobs_; }
    QUndoStack* undoStack() const { return undo_; }

    // --- model ---
    void loadModel(const LoadOptions& opt);          // background; emits modelLoaded / modelFailed
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
    void cancelSearch();
    bool searching() const;
    const std::optional<SearchResult>& result() const { return result_; }
    void setResult(std::optional<SearchResult> r);
    const std::vector<CurvePoint>& liveCurve() const { return liveCurve_; }

    // --- masks (toggles) ---
    const std::set<Neuron>& masked() const { return masked_; }
    // Records an undoable change of the masked set and re-evaluates perplexity in the worker.
    void requestMask(const std::set<Neuron>& next, const QString& description);
    void setMaskedDirect(const std::set<Neuron>& next);  // no undo entry (used by undo commands)
    double pplOriginal() const { return pplOrig_; }
    double pplMasked() const { return pplMasked_; }
    bool autoRegenerate() const { return autoRegenerate_; }
    void setAutoRegenerate(bool on) { autoRegenerate_ = on; }

    // --- generations ---
    GenerationState& generation() { return gen_; }
    const GenerationState& generation() const { return gen_; }
    void generate();                                 // original then masked, streamed

    // --- sessions ---
    QJsonObject toSession(const QJsonObject& viewState) const;
    QJsonObject toSessionWithoutResult(const QJsonObject& viewState) const;  // "result": null
    static QJsonObject resultJsonObject(const SearchResult& r);
    // Atomic (QSaveFile); result (if any) is serialized here. Thread-safe: used by the worker.
    static void writeSessionFile(const QString& path, QJsonObject session, const std::optional<SearchResult>& result);
    int saveSessionAsync(const QString& path, const QJsonObject& viewState);  // emits sessionSaved/sessionSaveFailed
    // Loads a session (or an achilles-cli result JSON). Returns the view state; throws Error.
    // When the session names a model that is not loaded, loading it is started in background.
    QJsonObject fromSession(const QJsonObject& session, const QString& sourceName, bool loadModel = true);
    static QJsonObject readJsonFile(const QString& path);  // throws Error naming the file
    void saveSession(const QString& path, const QJsonObject& viewState) const;  // atomic (QSaveFile)
    QJsonObject openSession(const QString& path, bool loadModel = true);
    // Reads and parses in the worker (big results take a while), applies on the UI thread;
    // emits sessionOpened or sessionFailed.
    int openSessionAsync(const QString& path, bool loadModel = true);
    static ParsedSession parseSession(const QJsonObject& session, const QString& sourceName);  // throws Error
    QJsonObject applySession(ParsedSession ps, bool loadModel = true);
    // Fingerprint stored in the last opened session (compared after the model loads).
    std::optional<ModelFingerprint> expectedFingerprint() const { return expectedFp_; }

    // Encodes text the way search does. Throws when no model/tokenizer.
    std::vector<int> probeIds() const;

    static MaskSpec maskSpecOf(const std::set<Neuron>& s);
    static QJsonObject optionsToJson(const SearchOptions& o);
    static SearchOptions optionsFromJson(const QJsonObject& o, const QString& src);
    static QJsonObject generateOptionsToJson(const GenerateOptions& o);
    static GenerateOptions generateOptionsFromJson(const QJsonObject& o);
    static QJsonObject generateResultToJson(const GenerateResult& r);
    static GenerateResult generateResultFromJson(const QJsonObject& o);

signals:
    void modelLoading();
    void modelLoaded();
    void modelFailed(const QString& message);
    void modelMismatch(const QString& message);
    void textChanged();
    void optionsChanged();
    void searchStarted();
    void searchProgress(const QString& stage, double fraction, const QString& message);
    void curvePoint(const achilles::CurvePoint& p);
    void searchFinished();
    void searchFailed(const QString& message);
    void searchCancelled();
    void resultChanged();
    void maskChanged();
    void pplEvaluating();
    void pplChanged(double orig, double masked);
    void pplFailed(const QString& message);
    void generationStarted();
    void generationToken(int side, const achilles::TokenStep& step);
    void generationFinished();
    void generationFailed(const QString& message);
    void busyChanged(bool busy);
    void sessionOpened(const QString& path, const QJsonObject& view);
    void sessionFailed(const QString& path, const QString& message);
    void sessionSaved(const QString& path);
    void sessionSaveFailed(const QString& path, const QString& message);
    void message(const QString& text);  // status-bar text

private:
    void evaluateMask();
    JobController* jobs_;
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
    GenerationState gen_;
    std::optional<ModelFingerprint> expectedFp_;
    int loadJob_ = 0, searchJob_ = 0, pplJob_ = 0, genJob_ = 0, sessionJob_ = 0;
    bool pendingSessionLoadModel_ = true;
    QString pendingSessionPath_, pendingSavePath_;
    int saveJob_ = 0;
};

}  // namespace achilles::ui

Q_DECLARE_METATYPE(achilles::CurvePoint)
Q_DECLARE_METATYPE(achilles::TokenStep)
