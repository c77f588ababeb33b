// SPDX-License-Identifier: GPL-3.0-or-later
// The result document "achilles.result/2": written by achilles-cli search and saved by the GUI.
// Output is deterministic (fixed key order, shortest round-trip doubles); non-finite doubles are
// written as the strings "inf", "-inf", "nan" so that a collapsed perplexity survives a round trip.
#include "achilles/results.h"
#include "achilles/error.h"
#include "options/options_json.h"
#include "util/json_util.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace achilles {

namespace {

// ---------------------------------------------------------------- writing
ojson num(double v) { return json_num(v); }

ojson neuron_json(const Neuron& n) {
    ojson o;
    o["layer"] = n.layer;
    o["module"] = std::string(module_name(n.module));
    o["channel"] = n.channel;
    return o;
}

ojson set_json(const CriticalSet& s) {
    ojson o;
    o["name"] = s.name;
    o["n"] = s.n;
    ojson a = ojson::array();
    for (const auto& n : s.neurons) a.push_back(neuron_json(n));
    o["neurons"] = std::move(a);
    o["size"] = s.neurons.size();
    o["ppl"] = num(s.ppl);
    o["delta"] = num(s.delta);
    o["reached"] = s.reached;
    o["evaluations"] = s.evaluations;
    return o;
}

// ---------------------------------------------------------------- reading
// A cursor into the parsed document that knows its path for error messages ("ranking[3].module").
// Every number is range-checked before it is narrowed; no untrusted value reaches a message whole.
class In {
public:
    In(const json& j, std::string path, const std::string& src) : j_(j), path_(std::move(path)), src_(src) {}

    [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
        throw Error(src_, join(field), problem);
    }
    std::string join(const std::string& field) const {
        if (path_.empty()) return field;
        if (field.empty()) return path_;
        return field[0] == '[' ? path_ + field : path_ + "." + field;
    }
    bool has(const char* k) const { return j_.is_object() && j_.contains(k) && !j_.at(k).is_null(); }
    In at(const char* k) const {
        if (!has(k)) fail(k, "is missing");
        return In(j_.at(k), join(k), src_);
    }
    In at(size_t i) const { return In(j_.at(i), join("[" + std::to_string(i) + "]"), src_); }
    const json& raw() const { return j_; }

    void expect_object() const {
        if (!j_.is_object()) fail("", "expected an object, got " + brief(j_));
    }
    size_t array_size() const {
        if (!j_.is_array()) fail("", "expected an array, got " + brief(j_));
        return j_.size();
    }
    // The one array loop: calls f(element) for each element of member k (absent or null: none).
    template <class F>
    void each(const char* k, F&& f) const {
        if (!has(k)) return;
        const In a = at(k);
        const size_t n = a.array_size();
        for (size_t i = 0; i < n; ++i) f(a.at(i));
    }

    int64_t as_i64(int64_t lo, int64_t hi) const { return json_int(j_, lo, hi, src_, join("")); }
    int as_int(int lo = std::numeric_limits<int>::min(), int hi = std::numeric_limits<int>::max()) const {
        return static_cast<int>(as_i64(lo, hi));
    }
    uint64_t as_u64() const { return json_u64(j_, src_, join("")); }
    double as_double() const {
        if (j_.is_number()) return j_.get<double>();
        if (j_.is_string()) {
            const std::string& s = j_.get_ref<const std::string&>();
            if (s == "inf") return std::numeric_limits<double>::infinity();
            if (s == "-inf") return -std::numeric_limits<double>::infinity();
            if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
        }
        fail("", "expected a number (or \"inf\", \"-inf\", \"nan\"), got " + brief(j_));
    }
    bool as_bool() const {
        if (!j_.is_boolean()) fail("", "expected true or false, got " + brief(j_));
        return j_.get<bool>();
    }
    std::string as_string() const {
        if (!j_.is_string()) fail("", "expected a string, got " + brief(j_));
        return j_.get<std::string>();
    }

    // Optional members: absent or null leave the target untouched.
    void get(const char* k, int& out, int lo = std::numeric_limits<int>::min()) const {
        if (has(k)) out = at(k).as_int(lo);
    }
    void get(const char* k, int64_t& out, int64_t lo = std::numeric_limits<int64_t>::min()) const {
        if (has(k)) out = at(k).as_i64(lo, std::numeric_limits<int64_t>::max());
    }
    void get(const char* k, double& out) const {
        if (has(k)) out = at(k).as_double();
    }
    void get(const char* k, bool& out) const {
        if (has(k)) out = at(k).as_bool();
    }
    void get(const char* k, std::string& out) const {
        if (has(k)) out = at(k).as_string();
    }

private:
    const json& j_;
    std::string path_;
    const std::string& src_;
};

Neuron read_neuron(const In& in) {
    in.expect_object();
    Neuron n;
    n.layer = in.at("layer").as_int(0);
    In m = in.at("module");
    std::string name = m.as_string();
    auto mod = module_from_name(name);
    if (!mod) m.fail("", "unknown module '" + brief_key(name, 40) + "'");
    n.module = *mod;
    n.channel = in.at("channel").as_int(0);
    return n;
}

CriticalSet read_set(const In& in) {
    in.expect_object();
    CriticalSet s;
    in.get("name", s.name);
    in.get("n", s.n, 0);
    in.each("neurons", [&](const In& e) { s.neurons.push_back(read_neuron(e)); });
    if (in.has("size")) {
        In sz = in.at("size");
        if (sz.as_i64(0, std::numeric_limits<int64_t>::max()) != static_cast<int64_t>(s.neurons.size()))
            sz.fail("", "says " + brief(sz.raw()) + " but neurons holds " + std::to_string(s.neurons.size()));
    }
    in.get("ppl", s.ppl);
    in.get("delta", s.delta);
    in.get("reached", s.reached);
    in.get("evaluations", s.evaluations, 0);
    return s;
}

}  // namespace

// ---------------------------------------------------------------- the document
std::string result_to_json(const SearchResult& r, bool include_timings, int indent) {
    ojson j;
    j["schema"] = r.schema.empty() ? std::string(kResultSchema) : r.schema;
    j["app_version"] = r.app_version;
    j["libtorch_version"] = r.libtorch_version;
    j["model"] = ojson{{"path", r.model.path}, {"config_hash", r.model.config_hash}, {"header_hash", r.model.header_hash}};
    j["model_type"] = r.model_type;
    j["text"] = r.text;
    j["ids"] = r.ids;
    j["options"] = search_options_ojson(r.options);  // driven by the options table
    j["layers"] = r.layers;
    j["total_entries"] = r.total_entries;
    j["ppl_orig"] = num(r.ppl_orig);
    j["rate"] = num(r.rate());  // informative; recomputed on read
    j["faithful"] = set_json(r.faithful);
    if (r.bisected) j["bisected"] = set_json(*r.bisected);
    if (r.minimal) j["minimal"] = set_json(*r.minimal);
    j["forwards_linear"] = r.forwards_linear;
    j["forwards_literal"] = r.forwards_literal;
    ojson curve = ojson::array();
    for (const auto& p : r.curve)
        curve.push_back(ojson{{"n", p.n}, {"unique_channels", p.unique_channels}, {"ppl", num(p.ppl)}, {"delta", num(p.delta)}});
    j["curve"] = std::move(curve);
    ojson ev = ojson::array();
    for (const auto& e : r.evaluations)
        ev.push_back(ojson{{"set", e.set}, {"dataset", e.dataset}, {"samples", e.samples}, {"tokens", e.tokens},
                           {"ppl_orig", num(e.ppl_orig)}, {"ppl_masked", num(e.ppl_masked)}});
    j["evaluations"] = std::move(ev);
    ojson sw = ojson::array();
    for (const auto& s : r.sweep) {
        ojson pts = ojson::array();
        for (const auto& p : s.points)
            pts.push_back(ojson{{"channels", p.channels}, {"log10_ppl", num(p.log10_ppl)}, {"log10_ppl_std", num(p.log10_ppl_std)}});
        sw.push_back(ojson{{"name", s.name}, {"points", std::move(pts)}});
    }
    j["sweep"] = std::move(sw);
    if (include_timings) {
        ojson t = ojson::object();
        for (const auto& [k, v] : r.timings) t[k] = num(v);  // std::map: sorted
        j["timings"] = std::move(t);
    }
    ojson rk = ojson::array();
    for (const auto& e : r.ranking) {
        ojson o = neuron_json(e.neuron);
        o["position"] = e.position;
        o["importance"] = num(e.importance);
        rk.push_back(std::move(o));
    }
    j["ranking"] = std::move(rk);
    std::string out = j.dump(indent < 0 ? -1 : indent, ' ', false, nlohmann::json::error_handler_t::strict);
    out += '\n';
    return out;
}

SearchResult result_from_json(const std::string& json_text, const std::string& src) {
    const json doc = parse_json(json_text, src);
    In in(doc, "", src);
    in.expect_object();
    SearchResult r;
    {
        In s = in.at("schema");
        r.schema = s.as_string();
        if (r.schema == kResultSchemaV1)
            r.warnings.push_back(src + ": written by an earlier build (schema " + std::string(kResultSchemaV1) +
                                 "), whose act site was act_fn(gate)*up, the input of down_proj, not the paper's "
                                 "mlp.act_fn output; its act_fn importances and ranking differ from paper mode "
                                 "(masks are unaffected: both zero the same down_proj input)");
        else if (r.schema != kResultSchema)
            s.fail("", "unsupported schema '" + brief_key(r.schema, 40) + "' (this build reads " +
                           std::string(kResultSchema) + " and " + kResultSchemaV1 + ")");
    }
    in.get("app_version", r.app_version);
    in.get("libtorch_version", r.libtorch_version);
    if (in.has("model")) {
        In m = in.at("model");
        m.expect_object();
        m.get("path", r.model.path);
        m.get("config_hash", r.model.config_hash);
        m.get("header_hash", r.model.header_hash);
    }
    in.get("model_type", r.model_type);
    in.get("text", r.text);
    in.each("ids", [&](const In& e) { r.ids.push_back(e.as_int(0)); });
    if (in.has("options")) r.options = read_search_options(in.at("options").raw(), src, "options");
    if (in.has("layers")) r.layers = in.at("layers").as_int(0, static_cast<int>(kMaxResultLayers));
    in.get("total_entries", r.total_entries, int64_t(0));
    in.get("ppl_orig", r.ppl_orig);
    if (in.has("faithful")) r.faithful = read_set(in.at("faithful"));
    if (in.has("bisected")) r.bisected = read_set(in.at("bisected"));
    if (in.has("minimal")) r.minimal = read_set(in.at("minimal"));
    in.get("forwards_linear", r.forwards_linear, 0);
    in.get("forwards_literal", r.forwards_literal, 0);
    in.each("curve", [&](const In& p) {
        p.expect_object();
        CurvePoint c;
        c.n = p.at("n").as_int(0);
        p.get("unique_channels", c.unique_channels, 0);
        c.ppl = p.at("ppl").as_double();
        p.get("delta", c.delta);
        r.curve.push_back(c);
    });
    in.each("evaluations", [&](const In& p) {
        p.expect_object();
        DatasetEval e;
        p.get("set", e.set);
        p.get("dataset", e.dataset);
        p.get("samples", e.samples, 0);
        p.get("tokens", e.tokens, 0);
        p.get("ppl_orig", e.ppl_orig);
        p.get("ppl_masked", e.ppl_masked);
        r.evaluations.push_back(std::move(e));
    });
    in.each("sweep", [&](const In& s) {
        s.expect_object();
        Series se;
        s.get("name", se.name);
        s.each("points", [&](const In& p) {
            p.expect_object();
            SeriesPoint sp;
            sp.channels = p.at(p.has("channels") || !p.has("n") ? "channels" : "n").as_int(0);  // "n": schema 1
            sp.log10_ppl = p.at("log10_ppl").as_double();
            p.get("log10_ppl_std", sp.log10_ppl_std);
            se.points.push_back(sp);
        });
        r.sweep.push_back(std::move(se));
    });
    if (in.has("timings")) {
        In t = in.at("timings");
        t.expect_object();
        for (auto it = t.raw().begin(); it != t.raw().end(); ++it)
            r.timings[it.key()] = t.at(it.key().c_str()).as_double();
    }
    in.each("ranking", [&](const In& e) {
        RankedEntry re;
        re.neuron = read_neuron(e);
        e.get("position", re.position, -1);
        re.importance = e.at("importance").as_double();
        r.ranking.push_back(re);
    });
    validate_result(r, src, nullptr);
    return r;
}

void validate_result(const SearchResult& r, const std::string& src, const ModelShape* shape) {
    if (r.layers < 0 || r.layers > kMaxResultLayers)
        throw Error(src, "layers", std::to_string(r.layers) + " is out of range (0 to " + std::to_string(kMaxResultLayers) + ")");
    if (shape && shape->layers != r.layers && r.layers > 0)
        throw Error(src, "layers", "the result is for a model with " + std::to_string(r.layers) +
                                       " layers, but the model has " + std::to_string(shape->layers));
    const int L = shape ? shape->layers : r.layers;
    auto check = [&](const Neuron& n, const std::string& where) {
        if (L <= 0) throw Error(src, "layers", "is missing or 0, but " + where + " names neurons");
        if (n.layer < 0 || n.layer >= L)
            throw Error(src, where + ".layer", std::to_string(n.layer) + " is outside the model's " + std::to_string(L) + " layers");
        if (shape) {
            const int w = shape->module_width(n.module);
            if (n.channel < 0 || n.channel >= w)
                throw Error(src, where + ".channel", std::to_string(n.channel) + " is outside " +
                                                         std::string(module_name(n.module)) + "'s " + std::to_string(w) + " channels");
        } else if (n.channel < 0 || (int64_t(n.channel) + 1) * int64_t(L) > kMaxResultCells) {
            // Without the model's shape: a channel no model has (views size their grids by it).
            throw Error(src, where + ".channel", std::to_string(n.channel) + " is implausible for a model with " +
                                                     std::to_string(L) + " layers");
        }
    };
    const int64_t T = static_cast<int64_t>(r.ids.size());
    for (size_t i = 0; i < r.ranking.size(); ++i) {
        const std::string where = "ranking[" + std::to_string(i) + "]";
        check(r.ranking[i].neuron, where);
        const int p = r.ranking[i].position;
        if (p < -1 || (T > 0 && p >= T) || (T == 0 && p >= kMaxResultPositions))
            throw Error(src, where + ".position", std::to_string(p) + " is outside the probe's " +
                                                      (T > 0 ? std::to_string(T) + " tokens" : std::string("positions")));
    }
    auto check_set = [&](const CriticalSet& s, const char* name) {
        for (size_t i = 0; i < s.neurons.size(); ++i)
            check(s.neurons[i], std::string(name) + ".neurons[" + std::to_string(i) + "]");
    };
    check_set(r.faithful, "faithful");
    if (r.bisected) check_set(*r.bisected, "bisected");
    if (r.minimal) check_set(*r.minimal, "minimal");
    if (r.total_entries < 0) throw Error(src, "total_entries", "must not be negative");
}

std::string result_mask_json(const CriticalSet& s) {
    MaskSpec spec;
    spec.reserve(s.neurons.size());
    for (const auto& n : s.neurons) spec.push_back(MaskEntry{n, {}});
    return mask_spec_to_json(spec);
}

// ---------------------------------------------------------------- files

SearchResult read_result_file(const std::string& path) {
    const std::string text = read_file(path, size_t(512) << 20);
    const json doc = parse_json(text, path);
    SearchResult r;
    if (doc.is_object() && doc.contains("schema") && doc["schema"].is_string() &&
        doc["schema"].get<std::string>().rfind("achilles.session/", 0) == 0) {
        if (!doc.contains("result") || !doc["result"].is_object())
            throw Error(path, "result", "this session holds no search result");
        r = result_from_json(doc["result"].dump(), path + " (result)");
    } else {
        r = result_from_json(text, path);
    }
    validate_result(r, path, nullptr);
    return r;
}

}  // namespace achilles
