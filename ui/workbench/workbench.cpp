// SPDX-License-Identifier: GPL-3.0-or-later
#include "workbench/workbench.h"
#include "achilles/version.h"
#include "achilles/error.h"
#include "workbench/token_ids.h"
#include <QFileInfo>
#include <QPointer>
#include <QStringList>
#include <QTimer>
#include <QUndoStack>

namespace achilles::ui {

namespace {
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

}  // namespace

Workbench::Workbench(QObject* parent) : QObject(parent), jobs_(new JobRunner(this)), undo_(new QUndoStack(this)) {
    qRegisterMetaType<achilles::CurvePoint>();
    qRegisterMetaType<achilles::TokenStep>();
    connect(jobs_, &JobRunner::busyChanged, this, &Workbench::busyChanged);
    provenanceTimer_ = new QTimer(this);
    provenanceTimer_->setSingleShot(true);
    provenanceTimer_->setInterval(150);  // probe edits: re-check after typing pauses
    connect(provenanceTimer_, &QTimer::timeout, this, &Workbench::provenanceChanged);
    connect(this, &Workbench::textChanged, provenanceTimer_, qOverload<>(&QTimer::start));
    connect(this, &Workbench::optionsChanged, provenanceTimer_, qOverload<>(&QTimer::start));
    for (auto sig : {&Workbench::modelLoaded, &Workbench::resultChanged, &Workbench::maskChanged,
                     &Workbench::generationFinished, &Workbench::searchStarted})
        connect(this, sig, this, &Workbench::provenanceChanged);
    connect(this, &Workbench::pplChanged, this, &Workbench::provenanceChanged);
    setUpJobs();
}

Workbench::~Workbench() {
    // Join the lanes before the members their jobs post to go away.
    delete jobs_;
    jobs_ = nullptr;
}

// The typed continuations of every job the workbench runs (UI thread).
void Workbench::setUpJobs() {
    load_.onProgress([this](const QString&, double f, const QString& m) { emit loadProgress(f, m); });
    load_.onFinished([this](std::shared_ptr<const Engine> e) {
        engine_ = std::move(e);
        info_ = engine_->info();
        loadOptions_ = pendingLoad_;  // only a successful load replaces the model
        modelPath_ = qs(loadOptions_.path);
        const bool fromSession = pendingLoadFromSession_;
        pendingLoadFromSession_ = false;
        if (fromSession && expectedFp_ && !sameModel(*expectedFp_, info_.fingerprint))
            emit modelMismatch(tr("The loaded model does not match the session's model fingerprint "
                                  "(session: %1, loaded: %2). The session's results belong to its model: they "
                                  "are marked stale, and its masks are not applied.")
                                   .arg(qs(expectedFp_->path), qs(info_.fingerprint.path)));
        if (!masksApplicable()) undo_->clear();  // the undo steps hold another model's masks
        emit modelLoaded();
        emit message(tr("Model loaded: %1").arg(qs(info_.architecture)));
        const Provenance cur = current();
        if (!masked_.empty() && masksApplicable()) {
            if (!pplProv_.matches(cur) || pplMaskCount_ != int(masked_.size())) evaluateMask();
        } else if (masked_.empty() && result_ && resultProvenance().matches(cur) && !pplProv_.matches(cur)) {
            pplProv_ = resultProvenance();
            pplOrig_ = pplMasked_ = result_->ppl_orig;
            pplMaskCount_ = 0;
            emit pplChanged(pplOrig_, pplMasked_);
        }
        if (result_ && !resultMatchesModel())
            emit message(tr("The result on screen belongs to %1; run a search for %2.")
                             .arg(resultProvenance().modelName(), cur.modelName()));
    });
    load_.onFailed([this](const QString& m) { emit modelFailed(m); });
    load_.onCancelled([this] { emit modelFailed(tr("Loading was cancelled.")); });

    search_.onProgress([this](const QString& st, double f, const QString& m) { emit searchStageProgress(st, f, m); });
    search_.onFinished([this](SearchResult r) {
        result_ = std::move(r);
        liveCurve_ = result_->curve;
        pplOrig_ = pplMasked_ = result_->ppl_orig;
        pplProv_ = resultProvenance();
        pplMaskCount_ = 0;
        maskModel_ = result_->model;
        masked_.clear();
        undo_->clear();
        emit searchFinished();
        emit resultChanged();
        emit maskChanged();
        emit pplChanged(pplOrig_, pplMasked_);
    });
    search_.onFailed([this](const QString& m) { emit searchFailed(m); });
    search_.onCancelled([this] { emit searchCancelled(); });

    ppl_.onFinished([this](std::pair<double, double> p) {
        pplOrig_ = p.first;
        pplMasked_ = p.second;
        pplProv_ = pendingPplProv_;
        pplMaskCount_ = pendingPplMaskCount_;
        pplAblation_ = pendingPplAblation_;
        emit pplChanged(pplOrig_, pplMasked_);
        if (autoRegenerate_) generate();
    });
    ppl_.onFailed([this](const QString& m) { emit pplFailed(m); });

    gen_job_.onFinished([this](GenPair p) {
        gen_.original = std::move(p.first);
        gen_.masked = std::move(p.second);
        gen_.valid = true;
        gen_.model = pendingGenModel_;
        gen_.maskedCount = pendingGenMaskCount_;
        emit generationFinished();
    });
    gen_job_.onFailed([this](const QString& m) { emit generationFailed(m); });
    gen_job_.onCancelled([this] { emit generationCancelled(); });

    open_.onFinished([this](std::shared_ptr<SessionState> st) {
        const QJsonObject view = applySession(std::move(*st), pendingSessionLoadModel_);
        emit sessionOpened(pendingSessionPath_, view);
    });
    open_.onFailed([this](const QString& m) { emit sessionFailed(pendingSessionPath_, m); });
    save_.onFinished([this](bool) { emit sessionSaved(pendingSavePath_); });
    save_.onFailed([this](const QString& m) { emit sessionSaveFailed(pendingSavePath_, m); });
}

void Workbench::cancelModelWork() {
    search_.cancel();
    ppl_.cancel();
    gen_job_.cancel();
}

void Workbench::loadModel(const LoadOptions& opt) {
    pendingLoad_ = opt;
    pendingLoadFromSession_ = loadFromSession_;
    loadFromSession_ = false;
    cancelModelWork();
    emit modelLoading();
    load_.run([opt](Progress& p) { return std::shared_ptr<const Engine>(Engine::load(opt, p)); });
}

void Workbench::setText(const QString& text) {
    if (text == text_) return;
    text_ = text;
    emit textChanged();
}

std::vector<int> Workbench::probeIds() const {
    if (!engine_) throw Error("No model is loaded.");
    if (auto ids = parseIdsText(text_, info_.vocab, "probe text")) {  // raw ids, for models without a tokenizer
        if (int(ids->size()) > options_.max_tokens) ids->resize(size_t(options_.max_tokens));
        return *ids;
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
    QPointer<Workbench> self(this);
    search_.run([eng = engine_, text = text_.toStdString(), ids, opt = options_, self](Progress& p) {
        // Parse the evaluation dataset first: a bad file fails now, not after the whole search.
        if (!opt.eval_dataset.empty() && load_dataset_texts(opt.eval_dataset, opt.eval_max_samples).empty())
            throw Error(opt.eval_dataset, "dataset", "the dataset file holds no text samples");
        SearchObserver obs;
        obs.on_curve_point = [&p, self](const CurvePoint& c) {
            JobRunner::post(p, [self, c] {
                if (!self) return;
                self->liveCurve_.push_back(c);
                emit self->curvePoint(c);
            });
        };
        SearchResult r = run_search(*eng, text, ids, opt, p, obs);
        if (r.app_version.empty()) r.app_version = achilles::app_version();
        return r;
    });
    emit searchStarted();  // searching() is true now: views start from an empty plot
}

void Workbench::setResult(std::optional<SearchResult> r) {
    result_ = std::move(r);
    liveCurve_ = result_ ? result_->curve : std::vector<CurvePoint>{};
    if (result_) {
        pplOrig_ = pplMasked_ = result_->ppl_orig;
        pplProv_ = resultProvenance();
        pplMaskCount_ = 0;
        if (masked_.empty()) maskModel_ = result_->model;
    }
    emit resultChanged();
}

void Workbench::requestMask(const std::set<Neuron>& next, const QString& description) {
    if (next == masked_) return;
    if (engine_ && result_ && !resultMatchesModel()) {
        emit message(tr("These neurons belong to %1, not to the loaded %2: run a search for this model to mask its neurons.")
                         .arg(resultProvenance().modelName(), current().modelName()));
        return;
    }
    if (engine_ && !masksApplicable() && !next.empty()) {
        emit message(masksStaleReason());
        return;
    }
    if (engine_) maskModel_ = info_.fingerprint;
    else if (result_) maskModel_ = result_->model;
    undo_->push(new MaskCommand(this, masked_, next, description));  // push() calls redo()
}

MaskSpec Workbench::maskSpec() const {
    MaskSpec spec;
    spec.reserve(masked_.size());
    for (const Neuron& n : masked_) {
        MaskEntry e = ablation_;
        e.neuron = n;
        e.lo.reset();
        e.hi.reset();
        spec.push_back(std::move(e));
    }
    return spec;
}

void Workbench::setAblation(const MaskEntry& how) {
    MaskEntry h = how;
    h.neuron = {};
    h.lo.reset();
    h.hi.reset();
    if (h == ablation_) return;
    ablation_ = std::move(h);
    emit ablationChanged();
    if (!masked_.empty()) evaluateMask();
}

QString Workbench::ablationText(const MaskEntry& how) {
    QString t;
    switch (how.mode) {
    case Ablation::zero: t = tr("zero"); break;
    case Ablation::mean: t = tr("mean"); break;
    case Ablation::scale: t = tr("scale ×%1").arg(how.factor, 0, 'g', 4); break;
    case Ablation::clamp: t = tr("clamp p%1").arg(how.percentile, 0, 'g', 4); break;
    }
    if (!how.positions.empty()) {
        QStringList p;
        for (int x : how.positions) p << QString::number(x);
        t += (how.positions.size() == 1 ? tr(" at token %1") : tr(" at tokens %1")).arg(p.join(QLatin1Char(',')));
    }
    return t;
}

void Workbench::setMaskedDirect(const std::set<Neuron>& next) {
    masked_ = next;
    emit maskChanged();
    evaluateMask();
}

void Workbench::evaluateMask() {
    if (!engine_) return;
    if (!masksApplicable()) {  // never across a model mismatch
        emit message(masksStaleReason());
        emit provenanceChanged();
        return;
    }
    std::vector<int> ids;
    try {
        ids = probeIds();  // the probe as it is now, not the result's
    } catch (const std::exception& e) {
        emit pplFailed(QString::fromUtf8(e.what()));
        return;
    }
    Provenance prov{info_.fingerprint, ids, text_};
    const double known = (result_ && resultProvenance().matches(prov)) ? result_->ppl_orig
                         : (pplProv_.matches(prov) && pplOrig_ > 0) ? pplOrig_ : 0.0;
    pendingPplProv_ = std::move(prov);
    pendingPplMaskCount_ = int(masked_.size());
    pendingPplAblation_ = ablation_;
    emit pplEvaluating();
    ppl_.run([eng = engine_, ids, mask = maskSpec(), known](Progress& p) {
        validate_mask(mask, eng->info().shape);
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
    std::vector<int> ids;
    try {
        if (auto raw = parseIdsText(gen_.prompt, info_.vocab, "prompt")) {
            ids = std::move(*raw);
        } else {
            const Tokenizer* tok = engine_->tokenizer();
            if (!tok) throw Error("This model has no tokenizer: write the prompt as token ids, e.g. \"ids: 1 5 9\".");
            ids = tok->encode(gen_.prompt.toStdString());
        }
        if (ids.empty()) throw Error("The prompt is empty.");
    } catch (const std::exception& e) {
        emit generationFailed(QString::fromUtf8(e.what()));
        return;
    }
    if (!masksApplicable()) {  // never across a model mismatch
        emit generationFailed(masksStaleReason());
        return;
    }
    pendingGenModel_ = info_.fingerprint;
    pendingGenMaskCount_ = int(masked_.size());
    gen_.valid = false;
    gen_.original = {};
    gen_.masked = {};
    QPointer<Workbench> self(this);
    emit generationStarted();
    gen_job_.run([eng = engine_, ids, opt = gen_.options, mask = maskSpec(), self](Progress& p) {
        auto stream = [&p, self](int side) {
            return [&p, self, side](const TokenStep& s) {
                JobRunner::post(p, [self, side, s] {
                    if (!self) return;
                    (side == 0 ? self->gen_.original : self->gen_.masked).steps.push_back(s);
                    emit self->generationToken(side, s);
                });
            };
        };
        GenPair out;
        out.first = eng->generate(ids, opt, {}, p, stream(0));
        out.second = eng->generate(ids, opt, mask, p, stream(1));
        return out;
    });
}

// ---------------------------------------------------------------- sessions

SessionState Workbench::sessionState(const QJsonObject& viewState) const {
    SessionState st;
    st.text = text_;
    st.modelPath = modelPath_;
    st.device = qs(loadOptions_.device);
    st.dtype = qs(loadOptions_.dtype);
    if (engine_) st.fingerprint = info_.fingerprint;
    else if (expectedFp_) st.fingerprint = expectedFp_;
    else if (result_) st.fingerprint = result_->model;
    st.options = options_;
    st.masks = masked_;
    st.generation = gen_;
    st.view = viewState;
    st.pplOriginal = pplOrig_;
    st.pplMasked = pplMasked_;
    st.pplModel = pplProv_.model;
    st.pplIds = pplProv_.ids;
    st.pplIdsKnown = pplProv_.hasModel();
    st.pplMaskCount = pplMaskCount_;
    st.masksModel = maskModel_;
    return st;
}

QJsonObject Workbench::toSession(const QJsonObject& viewState) const {
    QJsonObject s = sessionToJson(sessionState(viewState));
    if (result_) s["result"] = resultJsonObject(*result_);
    return s;
}

void Workbench::saveSession(const QString& path, const QJsonObject& viewState) const {
    writeSessionFile(path, sessionToJson(sessionState(viewState)), result_);
}

int Workbench::saveSessionAsync(const QString& path, const QJsonObject& viewState) {
    pendingSavePath_ = path;
    return save_.run([path, doc = sessionToJson(sessionState(viewState)), r = result_](Progress&) {
        writeSessionFile(path, doc, r);
        return true;
    });
}

QJsonObject Workbench::openSession(const QString& path, bool loadModelToo) {
    return applySession(sessionFromJson(readJsonFile(path), path), loadModelToo);
}

int Workbench::openSessionAsync(const QString& path, bool loadModelToo) {
    pendingSessionLoadModel_ = loadModelToo;
    pendingSessionPath_ = path;
    return open_.run([path](Progress& p) {
        p.report("open", 0.0, "reading " + path.toStdString());
        const QJsonObject o = readJsonFile(path);
        p.check();
        return std::make_shared<SessionState>(sessionFromJson(o, path));
    });
}

QJsonObject Workbench::applySession(SessionState st, bool loadModelToo) {
    cancelModelWork();  // everything is parsed: commit
    expectedFp_ = st.fingerprint;
    text_ = st.text;
    options_ = st.options;
    result_ = std::move(st.result);
    liveCurve_ = result_ ? result_->curve : std::vector<CurvePoint>{};
    masked_ = st.masks;
    maskModel_ = st.masksModel;
    undo_->clear();
    gen_ = std::move(st.generation);
    pplOrig_ = st.pplOriginal > 0 ? st.pplOriginal : (result_ ? result_->ppl_orig : 0);
    pplMasked_ = st.pplMasked > 0 ? st.pplMasked : pplOrig_;
    pplProv_ = Provenance{st.pplModel, {}, text_};
    if (st.pplIdsKnown) pplProv_.ids = st.pplIds;
    else if (result_ && qs(result_->text) == text_) pplProv_.ids = result_->ids;  // older sessions
    pplMaskCount_ = st.pplMaskCount >= 0 ? st.pplMaskCount : int(masked_.size());
    emit textChanged();
    emit optionsChanged();
    emit resultChanged();
    emit maskChanged();
    emit pplChanged(pplOrig_, pplMasked_);
    emit generationFinished();
    if (result_ && !result_->warnings.empty()) {
        QStringList w;
        for (const std::string& x : result_->warnings) w << qs(x);
        emit resultWarning(w.join(QStringLiteral("\n\n")));
    }
    const QString& modelPath = st.modelPath;
    if (loadModelToo && !modelPath.isEmpty()) {
        const bool same = engine_ && (modelPath_ == modelPath || qs(info_.fingerprint.path) == modelPath);
        if (same) {
            if (st.fingerprint && !sameModel(*st.fingerprint, info_.fingerprint))
                emit modelMismatch(tr("The loaded model does not match the session's model fingerprint."));
        } else if (modelPath == QLatin1String("default") || QFileInfo(modelPath).isDir()) {
            LoadOptions lo;
            lo.path = modelPath.toStdString();
            lo.device = st.device.toStdString();
            lo.dtype = st.dtype.toStdString();
            loadFromSession_ = true;
            loadModel(lo);
        } else {
            emit modelMismatch(tr("The session's model folder %1 was not found. The saved results are shown; "
                                  "load a model to re-evaluate masks or generate.").arg(modelPath));
        }
    }
    return st.view;
}

// ---------------------------------------------------------------- provenance

Provenance Workbench::current() const {
    Provenance p;
    p.text = text_;
    if (!engine_) return p;
    p.model = info_.fingerprint;
    if (idsCacheEngine_ != engine_.get() || idsCacheText_ != text_ || idsCacheMax_ != options_.max_tokens) {
        try {
            idsCache_ = probeIds();
        } catch (const std::exception&) {
            idsCache_.clear();
        }
        idsCacheEngine_ = engine_.get();
        idsCacheText_ = text_;
        idsCacheMax_ = options_.max_tokens;
    }
    p.ids = idsCache_;
    return p;
}

Provenance Workbench::resultProvenance() const {
    if (!result_) return {};
    return Provenance{result_->model, result_->ids, qs(result_->text)};
}

bool Workbench::resultMatchesModel() const { return engine_ && result_ && sameModel(result_->model, info_.fingerprint); }

bool Workbench::masksApplicable() const {
    if (masked_.empty()) return true;
    if (!engine_) return false;
    return maskModel_ && sameModel(*maskModel_, info_.fingerprint);
}

QString Workbench::staleReason(const Provenance& p, bool probeMatters) const {
    if (!engine_ || !p.hasModel()) return {};
    const Provenance cur = current();
    if (!p.sameModel(cur))
        return tr("Stale: computed on %1; the loaded model is %2.").arg(probeMatters ? p.describe() : p.modelName(), cur.modelName());
    if (probeMatters && p.ids != cur.ids)
        return tr("Stale: computed on %1; the probe text is now %2.").arg(p.probeName(), cur.probeName());
    return {};
}

QString Workbench::resultStaleReason() const { return result_ ? staleReason(resultProvenance(), true) : QString(); }

QString Workbench::pplStaleReason() const { return pplOrig_ > 0 ? staleReason(pplProv_, true) : QString(); }

QString Workbench::masksStaleReason() const {
    if (masksApplicable()) return {};
    return tr("The %1 masked neuron(s) belong to %2, not to the loaded %3: they are not applied.")
        .arg(masked_.size())
        .arg(maskModel_ ? modelNameOf(*maskModel_) : tr("another model"), engine_ ? modelNameOf(info_.fingerprint) : tr("(none)"));
}

QString Workbench::generationStaleReason() const {
    if (!gen_.model || (gen_.original.steps.empty() && gen_.masked.steps.empty())) return {};
    Provenance p;
    p.model = gen_.model;
    return staleReason(p, false);
}

}  // namespace achilles::ui
