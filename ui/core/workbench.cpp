// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/workbench.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/json_check.h"
#include "jobs/job_controller.h"
#include <QThread>
#include <algorithm>
#include <cmath>
#include <limits>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>
#include <QRegularExpression>
#include <QSaveFile>
#include <QUndoStack>

namespace achilles::ui {

namespace {
constexpr const char* kSessionSchema = "achilles.session/1";

class MaskCommand : public QUndoCommand {
public:
    MaskCommand(Workbench* wb, std::set<Neuron> before, std::set<Neuron> after, const QString& text)
        : QUndoCommand(text), wb_(wb), before_(std::move(before)), after_(std::move(after)) {}
    void undo() override { wb_->setMaskedDirect(before_); }
    void redo() override { wb_->setMaskedDirect(after_); }

private:
    Workbench* wb_;
    std::set<Neuron> before_, after_;
};

std::string str(const QString& s) { return s.toStdString(); }

QJsonObject fingerprintToJson(const ModelFingerprint& f) {
    return QJsonObject{{"path", qs(f.path)}, {"config_hash", qs(f.config_hash)}, {"header_hash", qs(f.header_hash)}};
}
ModelFingerprint fingerprintFromJson(const QJsonObject& o) {
    ModelFingerprint f;
    f.path = str(o.value("path").toString());
    f.config_hash = str(o.value("config_hash").toString());
    f.header_hash = str(o.value("header_hash").toString());
    return f;
}
}  // namespace

Workbench::Workbench(QObject* parent)
    : QObject(parent), jobs_(new JobController(this)), undo_(new QUndoStack(this)) {
    qRegisterMetaType<achilles::CurvePoint>();
    qRegisterMetaType<achilles::TokenStep>();
    connect(jobs_, &JobController::progress, this,
            [this](int id, const QString& kind, const QString& stage, double f, const QString& msg) {
                if (kind == QLatin1String("search") && id == searchJob_) emit searchProgress(stage, f, msg);
                else if (kind == QLatin1String("load") && id == loadJob_) emit searchProgress(QStringLiteral("load"), f, msg);
            });
    connect(jobs_, &JobController::started, this, [this](int, const QString&) { emit busyChanged(true); });
    connect(jobs_, &JobController::idle, this, [this] { emit busyChanged(false); });
    connect(jobs_, &JobController::finished, this, [this](int id, const QString& kind, const std::any& v) {
        if (kind == QLatin1String("load") && id == loadJob_) {
            engine_ = std::any_cast<std::shared_ptr<const Engine>>(v);
            info_ = engine_->info();
            loadOptions_ = pendingLoad_;  // only a successful load replaces the model
            modelPath_ = qs(loadOptions_.path);
            if (expectedFp_ && !(*expectedFp_ == info_.fingerprint)) {
                emit modelMismatch(tr("The loaded model does not match the session's model fingerprint "
                                      "(session: %1, loaded: %2). Results shown come from the session's model.")
                                       .arg(qs(expectedFp_->path), qs(info_.fingerprint.path)));
            }
            emit modelLoaded();
            emit message(tr("Model loaded: %1").arg(qs(info_.architecture)));
            if (!masked_.empty()) evaluateMask();
        } else if (kind == QLatin1String("search") && id == searchJob_) {
                    result_ = std::any_cast<SearchResult>(v);
            liveCurve_ = result_->curve;
            pplOrig_ = pplMasked_ = result_->ppl_orig;
            masked_.clear();
            undo_->clear();
            emit searchFinished();
            emit resultChanged();
            emit maskChanged();
            emit pplChanged(pplOrig_, pplMasked_);
        } else if (kind == QLatin1String("ppl") && id == pplJob_) {
            auto pr = std::any_cast<std::pair<double, double>>(v);
            pplOrig_ = pr.first;
            pplMasked_ = pr.second;
            emit pplChanged(pplOrig_, pplMasked_);
            if (autoRegenerate_) generate();
        } else if (kind == QLatin1String("save-session") && id == saveJob_) {
            emit sessionSaved(pendingSavePath_);
        } else if (kind == QLatin1String("open-session") && id == sessionJob_) {
            auto ps = std::any_cast<std::shared_ptr<ParsedSession>>(v);
            const QJsonObject view = applySession(std::move(*ps), pendingSessionLoadModel_);
            emit sessionOpened(pendingSessionPath_, view);
        } else if (kind == QLatin1String("generate") && id == genJob_) {
            auto pr = std::any_cast<std::pair<GenerateResult, GenerateResult>>(v);
            gen_.original = std::move(pr.first);
            gen_.masked = std::move(pr.second);
            gen_.valid = true;
            emit generationFinished();
        }
    });
    connect(jobs_, &JobController::failed, this, [this](int id, const QString& kind, const QString& msg) {
        if (kind == QLatin1String("load") && id == loadJob_) emit modelFailed(msg);
        else if (kind == QLatin1String("search") && id == searchJob_) emit searchFailed(msg);
        else if (kind == QLatin1String("ppl") && id == pplJob_) emit pplFailed(msg);
        else if (kind == QLatin1String("generate") && id == genJob_) emit generationFailed(msg);
        else if (kind == QLatin1String("open-session") && id == sessionJob_) emit sessionFailed(pendingSessionPath_, msg);
        else if (kind == QLatin1String("save-session") && id == saveJob_) emit sessionSaveFailed(pendingSavePath_, msg);
    });
    connect(jobs_, &JobController::cancelled, this, [this](int id, const QString& kind) {
        if (kind == QLatin1String("search") && id == searchJob_) emit searchCancelled();
        else if (kind == QLatin1String("load") && id == loadJob_) emit modelFailed(tr("Loading was cancelled."));
    });
}

Workbench::~Workbench() {
    // Join the worker before the members it may still read (the engine is shared, but results
    // are posted back to this object) go away.
    jobs_->cancelAll();
    delete jobs_;
    jobs_ = nullptr;
}

void Workbench::loadModel(const LoadOptions& opt) {
    pendingLoad_ = opt;
    jobs_->cancel(QStringLiteral("search"));
    jobs_->cancel(QStringLiteral("ppl"));
    jobs_->cancel(QStringLiteral("generate"));
    emit modelLoading();
    loadJob_ = jobs_->run(QStringLiteral("load"), [opt](Progress& p) {
        std::unique_ptr<Engine> e = Engine::load(opt, p);
        return std::shared_ptr<const Engine>(std::move(e));
    });
}

void Workbench::setText(const QString& text) {
    if (text == text_) return;
    text_ = text;
    emit textChanged();
}

std::vector<int> Workbench::probeIds() const {
    if (!engine_) throw Error("No model is loaded.");
    const QString t = text_.trimmed();
    if (t.startsWith(QLatin1String("ids:"))) {  // raw token ids, for models without a tokenizer
        std::vector<int> ids;
        for (const QString& part : t.mid(4).split(QRegularExpression(QStringLiteral("[\\s,]+")), Qt::SkipEmptyParts)) {
            bool ok = false;
            int v = part.toInt(&ok);
            if (!ok || v < 0 || (info_.vocab > 0 && v >= info_.vocab))
                throw Error("probe text", "ids", "'" + part.toStdString() + "' is not a token id of this model");
            ids.push_back(v);
        }
        if (int(ids.size()) > options_.max_tokens) ids.resize(size_t(options_.max_tokens));
        return ids;
    }
    return engine_->encode_for_ppl(text_.toStdString(), options_.max_tokens);
}

void Workbench::runSearch() {
    if (!engine_) {
        emit searchFailed(tr("Load a model first (Model panel)."));
        return;
    }
    if (text_.trimmed().isEmpty()) {
        emit searchFailed(tr("The probe text is empty: write or load a paragraph in the Probe text panel."));
        return;
    }
    if (!options_.eval_dataset.empty() && !QFileInfo(qs(options_.eval_dataset)).isFile()) {
        emit searchFailed(tr("%1: the evaluation dataset file does not exist (Probe text panel, dataset field).")
                              .arg(qs(options_.eval_dataset)));
        return;
    }
    std::vector<int> ids;
    try {
        validate(options_);
        ids = probeIds();
    } catch (const std::exception& e) {
        emit searchFailed(QString::fromUtf8(e.what()));
        return;
    }
    if (ids.size() < 2) {
        emit searchFailed(tr("The probe text is too short: it needs at least two tokens."));
        return;
    }
    liveCurve_.clear();
    auto eng = engine_;
    const std::string text = text_.toStdString();
    const SearchOptions opt = options_;
    QPointer<Workbench> self(this);
    emit searchStarted();
    searchJob_ = jobs_->run(QStringLiteral("search"), [eng, text, ids, opt, self](Progress& p) {
        // Parse the evaluation dataset first: a bad file fails now, not after the whole search.
        if (!opt.eval_dataset.empty() && load_dataset_texts(opt.eval_dataset, opt.eval_max_samples).empty())
            throw Error(opt.eval_dataset, "dataset", "the dataset file holds no text samples");
        SearchObserver obs;
        obs.on_curve_point = [&p, self](const CurvePoint& c) {
            JobController::post(p, [self, c] {
                if (!self) return;
                self->liveCurve_.push_back(c);
                emit self->curvePoint(c);
            });
        };
        SearchResult r = run_search(*eng, text, ids, opt, p, obs);
        if (r.app_version.empty()) r.app_version = ACHILLES_VERSION;
        return r;
    });
}

void Workbench::cancelSearch() { jobs_->cancel(QStringLiteral("search")); }
bool Workbench::searching() const { return jobs_->busy(QStringLiteral("search")); }

void Workbench::setResult(std::optional<SearchResult> r) {
    result_ = std::move(r);
    liveCurve_ = result_ ? result_->curve : std::vector<CurvePoint>{};
    if (result_) pplOrig_ = pplMasked_ = result_->ppl_orig;
    emit resultChanged();
}

MaskSpec Workbench::maskSpecOf(const std::set<Neuron>& s) {
    MaskSpec m;
    for (const Neuron& n : s) m.push_back(MaskEntry{n, {}});
    return m;
}

void Workbench::requestMask(const std::set<Neuron>& next, const QString& description) {
    if (next == masked_) return;
    undo_->push(new MaskCommand(this, masked_, next, description));  // push() calls redo()
}

void Workbench::setMaskedDirect(const std::set<Neuron>& next) {
    masked_ = next;
    emit maskChanged();
    evaluateMask();
}

void Workbench::evaluateMask() {
    if (!engine_) return;
    std::vector<int> ids;
    try {
        ids = (result_ && !result_->ids.empty()) ? result_->ids : probeIds();
    } catch (const std::exception& e) {
        emit pplFailed(QString::fromUtf8(e.what()));
        return;
    }
    const MaskSpec mask = maskSpecOf(masked_);
    const double known = (result_ && result_->ids == ids && result_->model == info_.fingerprint) ? result_->ppl_orig : 0.0;
    auto eng = engine_;
    const ModelShape shape = info_.shape;
    emit pplEvaluating();
    pplJob_ = jobs_->run(QStringLiteral("ppl"), [eng, ids, mask, known, shape](Progress& p) {
        validate_mask(mask, shape);
        const double o = known > 0 ? known : eng->perplexity(ids, {}, p).ppl;
        const double m = mask.empty() ? o : eng->perplexity(ids, mask, p).ppl;
        return std::pair<double, double>(o, m);
    });
}

void Workbench::generate() {
    if (!engine_) {
        emit generationFailed(tr("Load a model first (Model panel)."));
        return;
    }
    gen_.valid = false;
    gen_.original = {};
    gen_.masked = {};
    auto eng = engine_;
    const std::string prompt = gen_.prompt.toStdString();
    const GenerateOptions opt = gen_.options;
    const MaskSpec mask = maskSpecOf(masked_);
    const int vocab = info_.vocab;
    QPointer<Workbench> self(this);
    emit generationStarted();
    genJob_ = jobs_->run(QStringLiteral("generate"), [eng, prompt, opt, mask, vocab, self](Progress& p) {
        std::vector<int> ids;
        const QString qp = QString::fromStdString(prompt).trimmed();
        if (qp.startsWith(QLatin1String("ids:"))) {
            for (const QString& part : qp.mid(4).split(QRegularExpression(QStringLiteral("[\\s,]+")), Qt::SkipEmptyParts)) {
                bool ok = false;
                const int v = part.toInt(&ok);
                if (!ok || v < 0 || v >= vocab) throw Error("prompt", "ids", "'" + part.toStdString() + "' is not a token id");
                ids.push_back(v);
            }
        } else {
            const Tokenizer* tok = eng->tokenizer();
            if (!tok) throw Error("This model has no tokenizer: write the prompt as token ids, e.g. \"ids: 1 5 9\".");
            ids = tok->encode(prompt);
        }
        if (ids.empty()) throw Error("The prompt is empty.");
        auto stream = [&p, self](int side) {
            return [&p, self, side](const TokenStep& s) {
                JobController::post(p, [self, side, s] {
                    if (!self) return;
                    (side == 0 ? self->gen_.original : self->gen_.masked).steps.push_back(s);
                    emit self->generationToken(side, s);
                });
            };
        };
        std::pair<GenerateResult, GenerateResult> out;
        out.first = eng->generate(ids, opt, {}, p, stream(0));
        out.second = eng->generate(ids, opt, mask, p, stream(1));
        return out;
    });
}

// ---------------------------------------------------------------- sessions

QJsonObject Workbench::optionsToJson(const SearchOptions& o) {
    QJsonArray bl;
    for (auto& b : o.baselines) bl.append(qs(b));
    return QJsonObject{{"alpha", o.alpha},
                       {"samples", o.samples},
                       {"seed", QString::number(o.seed)},
                       {"epsilon", o.epsilon},
                       {"step", o.step},
                       {"max_steps", o.max_steps},
                       {"mode", qs(to_string(o.mode))},
                       {"strategy", qs(to_string(o.strategy))},
                       {"minimize", o.minimize},
                       {"top", o.top},
                       {"batch", o.batch},
                       {"max_tokens", o.max_tokens},
                       {"eval_dataset", qs(o.eval_dataset)},
                       {"eval_max_samples", o.eval_max_samples},
                       {"baselines", bl},
                       {"random_runs", o.random_runs},
                       {"sweep", o.sweep}};
}

namespace {
// A session number that must be an integer in [lo, hi]; checked before the cast (1e300 must not
// become an undefined int).
int checkedInt(const QJsonValue& v, int def, int lo, int hi, const std::string& file, const std::string& field) {
    if (v.isUndefined() || v.isNull()) return def;
    if (!v.isDouble()) throw Error(file, field, "must be a number");
    const double d = v.toDouble();
    if (!std::isfinite(d) || d != std::floor(d)) throw Error(file, field, "must be an integer");
    if (d < lo || d > hi)
        throw Error(file, field, "is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) + ")");
    return static_cast<int>(d);
}
}  // namespace

SearchOptions Workbench::optionsFromJson(const QJsonObject& j, const QString& src) {
    SearchOptions o;
    const std::string file = src.toStdString();
    auto num = [&](const char* key, double def) {
        auto v = j.value(QLatin1String(key));
        if (v.isUndefined()) return def;
        if (!v.isDouble()) throw Error(file, std::string("options.") + key, "must be a number");
        return v.toDouble();
    };
    constexpr int kMax = std::numeric_limits<int>::max();
    auto integer = [&](const char* key, int def, int lo = 0) {
        return checkedInt(j.value(QLatin1String(key)), def, lo, kMax, file, std::string("options.") + key);
    };
    o.alpha = num("alpha", o.alpha);
    o.samples = integer("samples", o.samples);
    if (j.contains("seed")) {
        auto v = j.value("seed");
        bool ok = true;
        if (v.isString()) {
            o.seed = v.toString().toULongLong(&ok);
        } else if (v.isDouble() && v.toDouble() >= 0 && v.toDouble() < 1.8e19 && v.toDouble() == std::floor(v.toDouble())) {
            o.seed = uint64_t(v.toDouble());
        } else {
            ok = false;
        }
        if (!ok) throw Error(file, "options.seed", "must be an unsigned integer");
    }
    o.epsilon = num("epsilon", o.epsilon);
    o.step = integer("step", o.step);
    o.max_steps = integer("max_steps", o.max_steps);
    try {
        if (j.contains("mode")) o.mode = search_mode_from(str(j.value("mode").toString()));
    } catch (const Error& e) {
        throw Error(file, "options.mode", e.problem());
    }
    try {
        if (j.contains("strategy")) o.strategy = search_strategy_from(str(j.value("strategy").toString()));
    } catch (const Error& e) {
        throw Error(file, "options.strategy", e.problem());
    }
    o.minimize = j.value("minimize").toBool(o.minimize);
    o.top = integer("top", o.top);
    o.batch = integer("batch", o.batch);
    o.max_tokens = integer("max_tokens", o.max_tokens);
    o.eval_dataset = str(j.value("eval_dataset").toString());
    o.eval_max_samples = integer("eval_max_samples", o.eval_max_samples);
    o.baselines.clear();
    for (auto v : j.value("baselines").toArray()) o.baselines.push_back(str(v.toString()));
    o.random_runs = integer("random_runs", o.random_runs);
    o.sweep = integer("sweep", o.sweep);
    try {
        validate(o);
    } catch (const Error& e) {
        throw Error(file, "options." + e.field(), e.problem());
    }
    return o;
}

QJsonObject Workbench::generateOptionsToJson(const GenerateOptions& o) {
    return QJsonObject{{"max_new", o.max_new},     {"greedy", o.greedy}, {"temperature", o.temperature},
                       {"top_p", o.top_p},         {"top_k", o.top_k},   {"seed", QString::number(o.seed)},
                       {"alternatives", o.alternatives}, {"stop_at_eos", o.stop_at_eos}};
}

GenerateOptions Workbench::generateOptionsFromJson(const QJsonObject& j) {
    GenerateOptions o;
    // A session can ask for at most this many new tokens (the engine's context bounds it further).
    o.max_new = std::clamp(j.value("max_new").toInt(o.max_new), 0, 1 << 20);
    o.greedy = j.value("greedy").toBool(o.greedy);
    o.temperature = j.value("temperature").toDouble(o.temperature);
    o.top_p = j.value("top_p").toDouble(o.top_p);
    o.top_k = j.value("top_k").toInt(o.top_k);
    o.seed = j.value("seed").toString(QString::number(o.seed)).toULongLong();
    o.alternatives = j.value("alternatives").toInt(o.alternatives);
    o.stop_at_eos = j.value("stop_at_eos").toBool(o.stop_at_eos);
    return o;
}

QJsonObject Workbench::generateResultToJson(const GenerateResult& r) {
    QJsonArray prompt, steps;
    for (int id : r.prompt_ids) prompt.append(id);
    for (const TokenStep& s : r.steps) {
        QJsonArray alts;
        for (auto& a : s.alternatives) alts.append(QJsonObject{{"id", a.id}, {"text", qs(a.text)}, {"logprob", a.logprob}});
        steps.append(QJsonObject{{"id", s.id}, {"text", qs(s.text)}, {"logprob", s.logprob}, {"alternatives", alts}});
    }
    return QJsonObject{{"prompt_ids", prompt}, {"steps", steps}, {"text", qs(r.text)}, {"stopped_at_eos", r.stopped_at_eos}};
}

GenerateResult Workbench::generateResultFromJson(const QJsonObject& j) {
    GenerateResult r;
    for (auto v : j.value("prompt_ids").toArray()) r.prompt_ids.push_back(v.toInt());
    for (auto v : j.value("steps").toArray()) {
        const QJsonObject s = v.toObject();
        TokenStep t;
        t.id = s.value("id").toInt();
        t.text = str(s.value("text").toString());
        t.logprob = s.value("logprob").toDouble();
        for (auto a : s.value("alternatives").toArray()) {
            const QJsonObject ao = a.toObject();
            t.alternatives.push_back(TokenAlternative{ao.value("id").toInt(), str(ao.value("text").toString()),
                                                      ao.value("logprob").toDouble()});
        }
        r.steps.push_back(std::move(t));
    }
    r.text = str(j.value("text").toString());
    r.stopped_at_eos = j.value("stopped_at_eos").toBool();
    return r;
}

QJsonObject Workbench::toSession(const QJsonObject& viewState) const {
    QJsonObject s = toSessionWithoutResult(viewState);
    if (result_) s["result"] = resultJsonObject(*result_);
    return s;
}

QJsonObject Workbench::resultJsonObject(const SearchResult& r) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(result_to_json(r, true, -1))).object();
}

void Workbench::writeSessionFile(const QString& path, QJsonObject s, const std::optional<SearchResult>& result) {
    if (result) s["result"] = resultJsonObject(*result);
    // Checked to the end: every byte written, fsync'ed, renamed into place (core's write_file_atomic);
    // a full disk or a file size limit fails here and leaves the previous session as it was.
    const QByteArray bytes = QJsonDocument(s).toJson(QJsonDocument::Compact);
    write_file_atomic(path.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

int Workbench::saveSessionAsync(const QString& path, const QJsonObject& viewState) {
    const QJsonObject base = toSessionWithoutResult(viewState);
    std::optional<SearchResult> r = result_;
    pendingSavePath_ = path;
    saveJob_ = jobs_->run(QStringLiteral("save-session"), [path, base, r](Progress&) {
        writeSessionFile(path, base, r);
        return true;
    });
    return saveJob_;
}

QJsonObject Workbench::toSessionWithoutResult(const QJsonObject& viewState) const {
    QJsonObject s;
    s["schema"] = kSessionSchema;
    s["app_version"] = ACHILLES_VERSION;
    QJsonObject model{{"path", modelPath_},
                      {"device", qs(loadOptions_.device)},
                      {"dtype", qs(loadOptions_.dtype)}};
    if (engine_) model["fingerprint"] = fingerprintToJson(info_.fingerprint);
    else if (expectedFp_) model["fingerprint"] = fingerprintToJson(*expectedFp_);
    else if (result_) model["fingerprint"] = fingerprintToJson(result_->model);
    s["model"] = model;
    s["text"] = text_;
    s["options"] = optionsToJson(options_);
    s["result"] = QJsonValue::Null;
    s["masks"] = QJsonDocument::fromJson(QByteArray::fromStdString(mask_spec_to_json(maskSpecOf(masked_)))).array();
    s["ppl"] = QJsonObject{{"original", pplOrig_}, {"masked", pplMasked_}};
    s["generation"] = QJsonObject{{"prompt", gen_.prompt},
                                  {"options", generateOptionsToJson(gen_.options)},
                                  {"valid", gen_.valid},
                                  {"original", generateResultToJson(gen_.original)},
                                  {"masked", generateResultToJson(gen_.masked)}};
    s["view"] = viewState;
    return s;
}

QJsonObject Workbench::readJsonFile(const QString& path) {
    // Core's reader: only regular files (a session that is /dev/zero fails by name), bounded size.
    const std::string file = path.toStdString();
    const std::string bytes = read_file(file, size_t(2) << 30);
    // The project's JSON rules before Qt's parser sees it: depth, duplicate keys, numbers that
    // overflow a double; errors name the file and the field path.
    check_json(bytes, file);
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromRawData(bytes.data(), qsizetype(bytes.size())), &err);
    if (err.error != QJsonParseError::NoError)
        throw Error(file, "", "is not valid JSON (" + err.errorString().toStdString() + " at offset " +
                                  std::to_string(err.offset) + ")");
    if (!doc.isObject()) throw Error(file, "", "is not a JSON object");
    return doc.object();
}

namespace {
// The shape of the model a session names, when its folder (or the default model) is at hand:
// every index in the session is then checked against it before any view sees it.
std::optional<ModelShape> shapeOfModelAt(const QString& modelPath) {
    if (modelPath.isEmpty()) return std::nullopt;
    try {
        const std::string dir = modelPath == QLatin1String("default") ? default_model_dir() : modelPath.toStdString();
        const QString cfg = QDir(qs(dir)).filePath(QStringLiteral("config.json"));
        if (!QFileInfo(cfg).isFile()) return std::nullopt;
        return shape_from_config(load_config(cfg.toStdString()));
    } catch (const std::exception&) {
        return std::nullopt;  // an unreadable model is reported when it is loaded, not here
    }
}
}  // namespace

ParsedSession Workbench::parseSession(const QJsonObject& s, const QString& sourceName) {
    const std::string file = sourceName.toStdString();
    const QString schema = s.value("schema").toString();
    std::optional<SearchResult> result;
    QString text, modelPath, device = QStringLiteral("cpu"), dtype = QStringLiteral("auto");
    SearchOptions options;
    std::set<Neuron> masks;
    GenerationState gen;
    QJsonObject view;
    std::optional<ModelFingerprint> fp;
    double pplO = 0, pplM = 0;
    if (schema == QLatin1String(kResultSchema)) {  // an achilles-cli result document
        result = result_from_json(QJsonDocument(s).toJson(QJsonDocument::Compact).toStdString(), file);
        text = qs(result->text);
        options = result->options;
        modelPath = qs(result->model.path);
        fp = result->model;
    } else if (schema == QLatin1String(kSessionSchema)) {
        if (!s.value("model").isObject()) throw Error(file, "model", "is missing or not an object");
        const QJsonObject m = s.value("model").toObject();
        modelPath = m.value("path").toString();
        device = m.value("device").toString(device);
        dtype = m.value("dtype").toString(dtype);
        if (m.value("fingerprint").isObject()) fp = fingerprintFromJson(m.value("fingerprint").toObject());
        if (!s.value("text").isString() && !s.value("text").isUndefined()) throw Error(file, "text", "must be a string");
        text = s.value("text").toString();
        if (s.contains("options")) {
            if (!s.value("options").isObject()) throw Error(file, "options", "must be an object");
            options = optionsFromJson(s.value("options").toObject(), sourceName);
        }
        if (s.value("result").isObject())
            result = result_from_json(QJsonDocument(s.value("result").toObject()).toJson(QJsonDocument::Compact).toStdString(),
                                      file + " (result)");
        else if (!s.value("result").isNull() && !s.value("result").isUndefined())
            throw Error(file, "result", "must be an object or null");
        if (s.contains("masks")) {
            if (!s.value("masks").isArray()) throw Error(file, "masks", "must be an array");
            const QByteArray mj = QJsonDocument(s.value("masks").toArray()).toJson(QJsonDocument::Compact);
            try {
                for (auto& e : parse_mask_spec(mj.toStdString())) masks.insert(e.neuron);
            } catch (const Error& e) {
                throw Error(file, "masks" + (e.field().empty() ? std::string() : (e.field()[0] == '[' ? "" : ".") + e.field()),
                            e.problem());
            }
        }
        if (s.value("ppl").isObject()) {
            pplO = s.value("ppl").toObject().value("original").toDouble();
            pplM = s.value("ppl").toObject().value("masked").toDouble();
        }
        if (s.value("generation").isObject()) {
            const QJsonObject g = s.value("generation").toObject();
            gen.prompt = g.value("prompt").toString(gen.prompt);
            gen.options = generateOptionsFromJson(g.value("options").toObject());
            gen.valid = g.value("valid").toBool();
            gen.original = generateResultFromJson(g.value("original").toObject());
            gen.masked = generateResultFromJson(g.value("masked").toObject());
        }
        view = s.value("view").toObject();
    } else {
        throw Error(file, "schema", "must be \"achilles.session/1\" or \"achilles.result/1\" (found \"" +
                                        schema.toStdString() + "\")");
    }
    // Every index against the model's shape before any view sees it: the model the session names
    // when its config.json is readable (and its fingerprint, if any, matches), else the bounds
    // result_from_json() already applied (layers, plausible channels, positions inside the probe).
    std::optional<ModelShape> shape = shapeOfModelAt(modelPath);
    if (shape && result && result->layers > 0 && shape->layers != result->layers)
        shape.reset();  // a different model now sits at that path: keep the generic checks, the fingerprint warns
    if (result) validate_result(*result, file + (schema == QLatin1String(kSessionSchema) ? " (result)" : ""),
                                shape ? &*shape : nullptr);
    if (!masks.empty()) {
        const int L = shape ? shape->layers : (result ? result->layers : 0);
        for (const Neuron& n : masks) {
            if (n.layer < 0 || (L > 0 && n.layer >= L))
                throw Error(file, "masks", "neuron " + to_string(n) + " is outside the model's " + std::to_string(L) + " layers");
            if (shape && n.channel >= shape->module_width(n.module))
                throw Error(file, "masks", "neuron " + to_string(n) + ": channel is outside " +
                                               std::string(module_name(n.module)) + "'s " +
                                               std::to_string(shape->module_width(n.module)) + " channels");
            if (!shape && (int64_t(n.channel) + 1) * std::max<int64_t>(L, 1) > kMaxResultCells)
                throw Error(file, "masks", "neuron " + to_string(n) + ": channel is implausible");
        }
    }
    ParsedSession ps;
    ps.result = std::move(result);
    ps.text = text;
    ps.modelPath = modelPath;
    ps.device = device;
    ps.dtype = dtype;
    ps.options = options;
    ps.masks = std::move(masks);
    ps.generation = std::move(gen);
    ps.view = view;
    ps.fingerprint = fp;
    ps.pplOriginal = pplO;
    ps.pplMasked = pplM;
    return ps;
}

QJsonObject Workbench::fromSession(const QJsonObject& s, const QString& sourceName, bool loadModelToo) {
    return applySession(parseSession(s, sourceName), loadModelToo);
}

QJsonObject Workbench::applySession(ParsedSession ps, bool loadModelToo) {
    std::optional<SearchResult>& result = ps.result;
    const QString& text = ps.text;
    const QString& modelPath = ps.modelPath;
    const QString& device = ps.device;
    const QString& dtype = ps.dtype;
    const SearchOptions& options = ps.options;
    const std::set<Neuron>& masks = ps.masks;
    GenerationState& gen = ps.generation;
    const std::optional<ModelFingerprint>& fp = ps.fingerprint;
    const double pplO = ps.pplOriginal, pplM = ps.pplMasked;
    // Everything parsed: commit.
    jobs_->cancel(QStringLiteral("search"));
    jobs_->cancel(QStringLiteral("ppl"));
    jobs_->cancel(QStringLiteral("generate"));
    expectedFp_ = fp;
    text_ = text;
    options_ = options;
    result_ = std::move(result);
    liveCurve_ = result_ ? result_->curve : std::vector<CurvePoint>{};
    masked_ = masks;
    undo_->clear();
    gen_ = std::move(gen);
    pplOrig_ = pplO > 0 ? pplO : (result_ ? result_->ppl_orig : 0);
    pplMasked_ = pplM > 0 ? pplM : pplOrig_;
    emit textChanged();
    emit optionsChanged();
    emit resultChanged();
    emit maskChanged();
    emit pplChanged(pplOrig_, pplMasked_);
    emit generationFinished();
    if (loadModelToo && !modelPath.isEmpty()) {
        const bool same = engine_ && (modelPath_ == modelPath || qs(info_.fingerprint.path) == modelPath);
        if (same) {
            if (fp && !(*fp == info_.fingerprint))
                emit modelMismatch(tr("The loaded model does not match the session's model fingerprint."));
        } else if (modelPath == QLatin1String("default") || QFileInfo(modelPath).isDir()) {
            LoadOptions lo;
            lo.path = modelPath.toStdString();
            lo.device = device.toStdString();
            lo.dtype = dtype.toStdString();
            loadModel(lo);
        } else {
            emit modelMismatch(tr("The session's model folder %1 was not found. The saved results are shown; "
                                  "load a model to re-evaluate masks or generate.").arg(modelPath));
        }
    }
    return ps.view;
}

void Workbench::saveSession(const QString& path, const QJsonObject& viewState) const {
    writeSessionFile(path, toSessionWithoutResult(viewState), result_);
}

QJsonObject Workbench::openSession(const QString& path, bool loadModelToo) {
    return fromSession(readJsonFile(path), path, loadModelToo);
}

int Workbench::openSessionAsync(const QString& path, bool loadModelToo) {
    pendingSessionLoadModel_ = loadModelToo;
    pendingSessionPath_ = path;
    sessionJob_ = jobs_->run(QStringLiteral("open-session"), [path](Progress& p) {
        p.report("open", 0.0, "reading " + path.toStdString());
        QJsonObject o = readJsonFile(path);
        p.check();
        return std::make_shared<ParsedSession>(parseSession(o, path));
    });
    return sessionJob_;
}

bool Workbench::waitUntilIdle(int timeoutMs) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < timeoutMs) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 30);
        if (!jobs()->busy()) {
            // Deliver the queued results of the job that just ended, then look again.
            for (int i = 0; i < 10; ++i) QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
            if (!jobs()->busy()) return true;
        }
        QThread::msleep(5);
    }
    return false;
}

}  // namespace achilles::ui
