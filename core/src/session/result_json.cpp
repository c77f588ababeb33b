// SPDX-License-Identifier: GPL-3.0-or-later
// The result document "achilles.result/1": written by achilles-cli search and saved by the GUI.
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

using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------- writing
ojson num(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return v;
}

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
// Qt's and JavaScript's JSON write some integers as doubles; accept those that are exact integers.
bool integral_double(const json& v, double lo, double hi) {
    if (!v.is_number_float()) return false;
    double d = v.get<double>();
    return std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi;
}

// A cursor into the parsed document that knows its path for error messages ("ranking[3].module").
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
        if (!j_.is_object()) fail("", std::string("expected an object, got ") + j_.type_name());
    }
    size_t array_size() const {
        if (!j_.is_array()) fail("", std::string("expected an array, got ") + j_.type_name());
        return j_.size();
    }

    int64_t as_i64(int64_t lo, int64_t hi) const {
        int64_t v;
        if (j_.is_number_unsigned()) {
            uint64_t u = j_.get<uint64_t>();
            if (u > uint64_t(std::numeric_limits<int64_t>::max())) fail("", "is out of range: " + j_.dump());
            v = static_cast<int64_t>(u);
        } else if (j_.is_number_integer()) {
            v = j_.get<int64_t>();
        } else if (integral_double(j_, -9.2e18, 9.2e18)) {
            v = static_cast<int64_t>(j_.get<double>());  // e.g. 5.0 from a tool that writes doubles
        } else {
            fail("", "expected an integer, got " + j_.dump());
        }
        if (v < lo || v > hi)
            fail("", std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return v;
    }
    int as_int(int lo = std::numeric_limits<int>::min(), int hi = std::numeric_limits<int>::max()) const {
        return static_cast<int>(as_i64(lo, hi));
    }
    uint64_t as_u64() const {
        if (j_.is_number_unsigned()) return j_.get<uint64_t>();
        if (j_.is_number_integer() && j_.get<int64_t>() >= 0) return static_cast<uint64_t>(j_.get<int64_t>());
        if (integral_double(j_, 0, 1.8e19)) return static_cast<uint64_t>(j_.get<double>());
        fail("", "expected a non-negative integer, got " + j_.dump());
    }
    double as_double() const {
        if (j_.is_number()) return j_.get<double>();
        if (j_.is_string()) {
            const std::string& s = j_.get_ref<const std::string&>();
            if (s == "inf") return std::numeric_limits<double>::infinity();
            if (s == "-inf") return -std::numeric_limits<double>::infinity();
            if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
        }
        fail("", "expected a number, got " + j_.dump());
    }
    bool as_bool() const {
        if (!j_.is_boolean()) fail("", "expected true or false, got " + j_.dump());
        return j_.get<bool>();
    }
    std::string as_string() const {
        if (!j_.is_string()) fail("", "expected a string, got " + j_.dump());
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
    if (!mod) m.fail("", "unknown module '" + name + "'");
    n.module = *mod;
    n.channel = in.at("channel").as_int(0);
    return n;
}

CriticalSet read_set(const In& in) {
    in.expect_object();
    CriticalSet s;
    in.get("name", s.name);
    in.get("n", s.n, 0);
    if (in.has("neurons")) {
        In a = in.at("neurons");
        size_t k = a.array_size();
        for (size_t i = 0; i < k; ++i) s.neurons.push_back(read_neuron(a.at(i)));
    }
    if (in.has("size")) {
        In sz = in.at("size");
        if (sz.as_i64(0, std::numeric_limits<int64_t>::max()) != static_cast<int64_t>(s.neurons.size()))
            sz.fail("", "says " + sz.raw().dump() + " but neurons holds " + std::to_string(s.neurons.size()));
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
            pts.push_back(ojson{{"n", p.n}, {"log10_ppl", num(p.log10_ppl)}, {"log10_ppl_std", num(p.log10_ppl_std)}});
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
    json doc;
    try {
        doc = json::parse(json_text);
    } catch (const json::exception& e) {
        throw Error(src, "", std::string("is not a valid result document (invalid JSON): ") + e.what());
    }
    In in(doc, "", src);
    in.expect_object();
    SearchResult r;
    {
        In s = in.at("schema");
        r.schema = s.as_string();
        if (r.schema != kResultSchema)
            s.fail("", "unsupported schema '" + r.schema + "' (this build reads " + std::string(kResultSchema) + ")");
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
    if (in.has("ids")) {
        In a = in.at("ids");
        size_t k = a.array_size();
        r.ids.reserve(k);
        for (size_t i = 0; i < k; ++i) r.ids.push_back(a.at(i).as_int(0));
    }
    if (in.has("options")) r.options = read_search_options(in.at("options").raw(), src, "options");
    in.get("layers", r.layers, 0);
    in.get("total_entries", r.total_entries, int64_t(0));
    in.get("ppl_orig", r.ppl_orig);
    if (in.has("faithful")) r.faithful = read_set(in.at("faithful"));
    if (in.has("bisected")) r.bisected = read_set(in.at("bisected"));
    if (in.has("minimal")) r.minimal = read_set(in.at("minimal"));
    in.get("forwards_linear", r.forwards_linear, 0);
    in.get("forwards_literal", r.forwards_literal, 0);
    if (in.has("curve")) {
        In a = in.at("curve");
        size_t k = a.array_size();
        for (size_t i = 0; i < k; ++i) {
            In p = a.at(i);
            p.expect_object();
            CurvePoint c;
            c.n = p.at("n").as_int(0);
            p.get("unique_channels", c.unique_channels, 0);
            c.ppl = p.at("ppl").as_double();
            p.get("delta", c.delta);
            r.curve.push_back(c);
        }
    }
    if (in.has("evaluations")) {
        In a = in.at("evaluations");
        size_t k = a.array_size();
        for (size_t i = 0; i < k; ++i) {
            In p = a.at(i);
            p.expect_object();
            DatasetEval e;
            p.get("set", e.set);
            p.get("dataset", e.dataset);
            p.get("samples", e.samples, 0);
            p.get("tokens", e.tokens, 0);
            p.get("ppl_orig", e.ppl_orig);
            p.get("ppl_masked", e.ppl_masked);
            r.evaluations.push_back(std::move(e));
        }
    }
    if (in.has("sweep")) {
        In a = in.at("sweep");
        size_t k = a.array_size();
        for (size_t i = 0; i < k; ++i) {
            In s = a.at(i);
            s.expect_object();
            Series se;
            s.get("name", se.name);
            if (s.has("points")) {
                In pts = s.at("points");
                size_t m = pts.array_size();
                for (size_t q = 0; q < m; ++q) {
                    In p = pts.at(q);
                    p.expect_object();
                    SeriesPoint sp;
                    sp.n = p.at("n").as_int(0);
                    sp.log10_ppl = p.at("log10_ppl").as_double();
                    p.get("log10_ppl_std", sp.log10_ppl_std);
                    se.points.push_back(sp);
                }
            }
            r.sweep.push_back(std::move(se));
        }
    }
    if (in.has("timings")) {
        In t = in.at("timings");
        t.expect_object();
        for (auto it = t.raw().begin(); it != t.raw().end(); ++it)
            r.timings[it.key()] = t.at(it.key().c_str()).as_double();
    }
    if (in.has("ranking")) {
        In a = in.at("ranking");
        size_t k = a.array_size();
        r.ranking.reserve(k);
        for (size_t i = 0; i < k; ++i) {
            In e = a.at(i);
            RankedEntry re;
            re.neuron = read_neuron(e);
            e.get("position", re.position, -1);
            re.importance = e.at("importance").as_double();
            r.ranking.push_back(re);
        }
    }
    return r;
}

std::string result_mask_json(const CriticalSet& s) {
    MaskSpec spec;
    spec.reserve(s.neurons.size());
    for (const auto& n : s.neurons) spec.push_back(MaskEntry{n, {}});
    return mask_spec_to_json(spec);
}

// ---------------------------------------------------------------- files

}  // namespace achilles
