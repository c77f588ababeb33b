// SPDX-License-Identifier: GPL-3.0-or-later
#include "workbench/session.h"
#include "achilles/version.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/json_check.h"
#include "achilles/search.h"
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <algorithm>

namespace achilles::ui {

namespace {
QString qs(const std::string& s) { return QString::fromStdString(s); }
std::string str(const QString& s) { return s.toStdString(); }
std::string compact(const QJsonObject& o) { return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString(); }
QJsonObject object(const std::string& json) { return QJsonDocument::fromJson(QByteArray::fromStdString(json)).object(); }

QJsonObject fingerprintToJson(const ModelFingerprint& f) {
    return QJsonObject{{"path", qs(f.path)}, {"config_hash", qs(f.config_hash)}, {"header_hash", qs(f.header_hash)}};
}
ModelFingerprint fingerprintFromJson(const QJsonObject& o) {
    return ModelFingerprint{str(o.value("path").toString()), str(o.value("config_hash").toString()),
                            str(o.value("header_hash").toString())};
}

QJsonObject generateOptionsToJson(const GenerateOptions& o) {
    return QJsonObject{{"max_new", o.max_new},     {"greedy", o.greedy}, {"temperature", o.temperature},
                       {"top_p", o.top_p},         {"top_k", o.top_k},   {"seed", QString::number(o.seed)},
                       {"alternatives", o.alternatives}, {"stop_at_eos", o.stop_at_eos}};
}

GenerateOptions generateOptionsFromJson(const QJsonObject& j) {
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

QJsonObject tokenJson(int id, const std::string& text, double logprob) {
    return QJsonObject{{"id", id}, {"text", qs(text)}, {"logprob", logprob}};
}

QJsonObject generateResultToJson(const GenerateResult& r) {
    QJsonArray prompt, steps;
    for (int id : r.prompt_ids) prompt.append(id);
    for (const TokenStep& s : r.steps) {
        QJsonArray alts;
        for (const auto& a : s.alternatives) alts.append(tokenJson(a.id, a.text, a.logprob));
        QJsonObject step = tokenJson(s.id, s.text, s.logprob);
        step["alternatives"] = alts;
        steps.append(step);
    }
    return QJsonObject{{"prompt_ids", prompt}, {"steps", steps}, {"text", qs(r.text)}, {"stopped_at_eos", r.stopped_at_eos}};
}

GenerateResult generateResultFromJson(const QJsonObject& j) {
    GenerateResult r;
    for (auto v : j.value("prompt_ids").toArray()) r.prompt_ids.push_back(v.toInt());
    for (auto v : j.value("steps").toArray()) {
        const QJsonObject s = v.toObject();
        TokenStep t{s.value("id").toInt(), str(s.value("text").toString()), s.value("logprob").toDouble(), {}};
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

// The parts only a session document has (a result document carries none of them).
void readSessionParts(const QJsonObject& s, const std::string& file, SessionState& st) {
    if (!s.value("model").isObject()) throw Error(file, "model", "is missing or not an object");
    const QJsonObject m = s.value("model").toObject();
    st.modelPath = m.value("path").toString();
    st.device = m.value("device").toString(st.device);
    st.dtype = m.value("dtype").toString(st.dtype);
    if (m.value("fingerprint").isObject()) st.fingerprint = fingerprintFromJson(m.value("fingerprint").toObject());
    if (!s.value("text").isString() && !s.value("text").isUndefined()) throw Error(file, "text", "must be a string");
    st.text = s.value("text").toString();
    if (s.contains("options")) {
        if (!s.value("options").isObject()) throw Error(file, "options", "must be an object");
        st.options = search_options_from_json(compact(s.value("options").toObject()), file, "options");
    }
    if (s.value("result").isObject())
        st.result = result_from_json(compact(s.value("result").toObject()), file + " (result)");
    else if (!s.value("result").isNull() && !s.value("result").isUndefined())
        throw Error(file, "result", "must be an object or null");
    if (s.contains("masks")) {
        if (!s.value("masks").isArray()) throw Error(file, "masks", "must be an array");
        const QByteArray mj = QJsonDocument(s.value("masks").toArray()).toJson(QJsonDocument::Compact);
        try {
            for (const auto& e : parse_mask_spec(mj.toStdString())) st.masks.insert(e.neuron);
        } catch (const Error& e) {
            throw Error(file, "masks" + (e.field().empty() ? std::string() : (e.field()[0] == '[' ? "" : ".") + e.field()),
                        e.problem());
        }
    }
    if (s.value("ppl").isObject()) {
        st.pplOriginal = s.value("ppl").toObject().value("original").toDouble();
        st.pplMasked = s.value("ppl").toObject().value("masked").toDouble();
    }
    if (s.value("generation").isObject()) {
        const QJsonObject g = s.value("generation").toObject();
        st.generation.prompt = g.value("prompt").toString(st.generation.prompt);
        st.generation.options = generateOptionsFromJson(g.value("options").toObject());
        st.generation.valid = g.value("valid").toBool();
        st.generation.original = generateResultFromJson(g.value("original").toObject());
        st.generation.masked = generateResultFromJson(g.value("masked").toObject());
    }
    st.view = s.value("view").toObject();
    const QJsonObject prov = s.value("provenance").toObject();
    // Sessions before "provenance": everything belongs to the session's model.
    if (!s.value("provenance").isObject()) st.pplModel = st.masksModel = st.generation.model = st.fingerprint;
    if (prov.value("masks").isObject()) st.masksModel = fingerprintFromJson(prov.value("masks").toObject());
    if (prov.value("ppl").isObject()) {
        const QJsonObject p = prov.value("ppl").toObject();
        if (p.value("model").isObject()) st.pplModel = fingerprintFromJson(p.value("model").toObject());
        if (p.value("ids").isArray()) {
            for (auto v : p.value("ids").toArray()) st.pplIds.push_back(v.toInt());
            st.pplIdsKnown = true;
        }
        st.pplMaskCount = p.value("masked").toInt(-1);
    }
    if (prov.value("generation").isObject()) {
        const QJsonObject g = prov.value("generation").toObject();
        if (g.value("model").isObject()) st.generation.model = fingerprintFromJson(g.value("model").toObject());
        st.generation.maskedCount = g.value("masked").toInt();
    }
}

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

QJsonObject resultJsonObject(const SearchResult& r) { return object(result_to_json(r, true, -1)); }

QJsonObject sessionToJson(const SessionState& st) {
    QJsonObject s;
    s["schema"] = kSessionSchema;
    s["app_version"] = QString::fromStdString(achilles::app_version());
    QJsonObject model{{"path", st.modelPath}, {"device", st.device}, {"dtype", st.dtype}};
    if (st.fingerprint) model["fingerprint"] = fingerprintToJson(*st.fingerprint);
    s["model"] = model;
    s["text"] = st.text;
    // Core's serializer; Qt's JSON holds integers as qint64 at most, so 64-bit values as strings.
    s["options"] = object(search_options_to_json(st.options, true));
    s["result"] = QJsonValue::Null;
    s["masks"] = QJsonDocument::fromJson(QByteArray::fromStdString(
                                             mask_spec_to_json(mask_of({st.masks.begin(), st.masks.end()}))))
                     .array();
    s["ppl"] = QJsonObject{{"original", st.pplOriginal}, {"masked", st.pplMasked}};
    const GenerationState& g = st.generation;
    s["generation"] = QJsonObject{{"prompt", g.prompt},
                                  {"options", generateOptionsToJson(g.options)},
                                  {"valid", g.valid},
                                  {"original", generateResultToJson(g.original)},
                                  {"masked", generateResultToJson(g.masked)}};
    s["view"] = st.view;
    QJsonObject prov;
    if (st.masksModel) prov["masks"] = fingerprintToJson(*st.masksModel);
    QJsonObject ppl;
    if (st.pplModel) ppl["model"] = fingerprintToJson(*st.pplModel);
    if (st.pplIdsKnown) {
        QJsonArray ids;
        for (int id : st.pplIds) ids.append(id);
        ppl["ids"] = ids;
    }
    if (st.pplMaskCount >= 0) ppl["masked"] = st.pplMaskCount;
    prov["ppl"] = ppl;
    QJsonObject gen{{"masked", g.maskedCount}};
    if (g.model) gen["model"] = fingerprintToJson(*g.model);
    prov["generation"] = gen;
    s["provenance"] = prov;
    return s;
}

SessionState sessionFromJson(const QJsonObject& s, const QString& sourceName) {
    const std::string file = sourceName.toStdString();
    const QString schema = s.value("schema").toString();
    SessionState st;
    if (schema == QLatin1String(kResultSchema) || schema == QLatin1String(kResultSchemaV1)) {  // an achilles-cli result
        st.result = result_from_json(compact(s), file);
        st.text = qs(st.result->text);
        st.options = st.result->options;
        st.modelPath = qs(st.result->model.path);
        st.fingerprint = st.result->model;
        st.pplModel = st.masksModel = st.fingerprint;
        st.pplIds = st.result->ids;
        st.pplIdsKnown = true;
    } else if (schema == QLatin1String(kSessionSchema)) {
        readSessionParts(s, file, st);
    } else {
        throw Error(file, "schema", "must be \"achilles.session/1\" or \"" + std::string(kResultSchema) + "\" (found \"" +
                                        schema.toStdString() + "\")");
    }
    // Every index against the model's shape before any view sees it: the model the session names
    // when its config.json is readable, else the bounds result_from_json() already applied
    // (layers, plausible channels, positions inside the probe).
    std::optional<ModelShape> shape = shapeOfModelAt(st.modelPath);
    const auto& result = st.result;
    if (shape && result && result->layers > 0 && shape->layers != result->layers)
        shape.reset();  // a different model now sits at that path: keep the generic checks, the fingerprint warns
    if (result) validate_result(*result, file + (schema == QLatin1String(kSessionSchema) ? " (result)" : ""),
                                shape ? &*shape : nullptr);
    if (!st.masks.empty()) {
        const int L = shape ? shape->layers : (result ? result->layers : 0);
        for (const Neuron& n : st.masks) {
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
    return st;
}

void writeSessionFile(const QString& path, QJsonObject s, const std::optional<SearchResult>& result) {
    if (result) s["result"] = resultJsonObject(*result);
    // Checked to the end: every byte written, fsync'ed, renamed into place (core's write_file_atomic);
    // a full disk or a file size limit fails here and leaves the previous session as it was.
    const QByteArray bytes = QJsonDocument(s).toJson(QJsonDocument::Compact);
    write_file_atomic(path.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

QJsonObject readJsonFile(const QString& path) {
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

}  // namespace achilles::ui
