// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/neuron.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "util/json_util.h"
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace achilles {

namespace {
constexpr std::array<std::string_view, kNumModules> kNames = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
    "post_attention_layernorm"};

// Shortest text that reads back as the same double ("0.5", "3", "1e-07").
std::string format_number(double v) {
    char buf[32];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

int parse_int(std::string_view s, const std::string& what, const std::string& entry, const char* source = "mask spec") {
    s = trim(s);
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range)
        throw Error(source, what, "'" + brief_key(s, 40) + "' is out of range in entry '" + brief_key(entry) + "'");
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
        throw Error(source, what, "'" + brief_key(s, 40) + "' is not an integer in entry '" + brief_key(entry) + "'");
    if (v < 0) throw Error(source, what, "must not be negative, got " + std::to_string(v) + " in entry '" + brief_key(entry) + "'");
    return v;
}

double parse_double(std::string_view s, const std::string& what, const std::string& entry,
                    const char* source = "mask spec") {
    s = trim(s);
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v))
        throw Error(source, what, "'" + brief_key(s, 40) + "' is not a finite number in entry '" + brief_key(entry) + "'");
    return v;
}

constexpr double kMaxFactor = 1e6;

void check_mode_values(MaskEntry& e, const std::string& source, const std::string& entry) {
    if (e.mode == Ablation::scale && !(std::abs(e.factor) <= kMaxFactor))
        throw Error(source, "factor", "scale factor " + std::to_string(e.factor) + " is out of range [-1e6, 1e6] in entry '" +
                                          brief_key(entry) + "'");
    if (e.mode == Ablation::clamp && !(e.percentile >= 50.0 && e.percentile <= 100.0))
        throw Error(source, "percentile", "clamp percentile " + std::to_string(e.percentile) +
                                              " is out of range [50, 100] in entry '" + brief_key(entry) + "'");
    if (e.lo && e.hi && !(*e.lo <= *e.hi))
        throw Error(source, "lo", "lo must not exceed hi in entry '" + brief_key(entry) + "'");
}

// "mean", "zero", "scale:0.5", "clamp:95" (also "scale=0.5"/"x0.5" are not accepted: one form).
void parse_mode(std::string_view m, MaskEntry& e, const std::string& entry) {
    m = trim(m);
    const size_t colon = m.find(':');
    const std::string_view name = trim(m.substr(0, colon));
    const bool has_value = colon != std::string_view::npos;
    const std::string_view value = has_value ? m.substr(colon + 1) : std::string_view();
    if (name == "zero" || name == "mean") {
        if (has_value) throw Error("mask spec", "mode", "'" + std::string(name) + "' takes no value in entry '" + brief_key(entry) + "'");
        e.mode = name == "zero" ? Ablation::zero : Ablation::mean;
    } else if (name == "scale") {
        if (!has_value) throw Error("mask spec", "factor", "scale needs a factor (scale:0.5) in entry '" + brief_key(entry) + "'");
        e.mode = Ablation::scale;
        e.factor = parse_double(value, "factor", entry);
    } else if (name == "clamp") {
        if (!has_value) throw Error("mask spec", "percentile", "clamp needs a percentile (clamp:95) in entry '" + brief_key(entry) + "'");
        e.mode = Ablation::clamp;
        e.percentile = parse_double(value, "percentile", entry);
    } else {
        throw Error("mask spec", "mode", "unknown ablation mode '" + brief_key(name, 40) + "' in entry '" + brief_key(entry) +
                                             "' (zero, mean, scale:S, clamp:P)");
    }
    check_mode_values(e, "mask spec", entry);
}

MaskSpec parse_inline(std::string_view text) {
    // L3.down_proj:7,L0.o_proj:12 ; positions: L3.down_proj:7@0;5 (';' separates positions)
    MaskSpec out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string_view item = trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        if (item.empty()) continue;
        std::string entry(item);
        if (item.size() < 2 || (item[0] != 'L' && item[0] != 'l'))
            throw Error("mask spec", "layer", "entry '" + brief_key(entry) + "' must look like L<layer>.<module>:<channel>");
        size_t dot = item.find('.');
        size_t colon = item.find(':');
        if (dot == std::string_view::npos || colon == std::string_view::npos || colon < dot)
            throw Error("mask spec", "module", "entry '" + brief_key(entry) + "' must look like L<layer>.<module>:<channel>");
        MaskEntry e;
        e.neuron.layer = parse_int(item.substr(1, dot - 1), "layer", entry);
        auto mod = module_from_name(item.substr(dot + 1, colon - dot - 1));
        if (!mod)
            throw Error("mask spec", "module", "unknown module '" + brief_key(item.substr(dot + 1, colon - dot - 1), 40) +
                                                   "' in entry '" + brief_key(entry) + "'");
        e.neuron.module = *mod;
        std::string_view rest = item.substr(colon + 1);
        if (size_t eq = rest.find('='); eq != std::string_view::npos) {
            parse_mode(rest.substr(eq + 1), e, entry);
            rest = rest.substr(0, eq);
        }
        size_t at = rest.find('@');
        e.neuron.channel = parse_int(rest.substr(0, at), "channel", entry);
        if (at != std::string_view::npos) {
            std::string_view pos = rest.substr(at + 1);
            size_t ps = 0;
            while (ps <= pos.size()) {
                size_t semi = pos.find(';', ps);
                auto one = trim(pos.substr(ps, semi == std::string_view::npos ? std::string_view::npos : semi - ps));
                ps = semi == std::string_view::npos ? pos.size() + 1 : semi + 1;
                if (!one.empty()) e.positions.push_back(parse_int(one, "position", entry));
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

MaskSpec parse_json_spec(const std::string& text, const std::string& source) {
    json j = parse_json(text, source);
    // Accept a bare array, {"neurons": [...]}, or a search result document (its faithful critical
    // set, the paper's) so any result can be fed back as --mask.
    if (j.is_object() && !j.contains("neurons")) {
        for (const char* key : {"faithful", "bisected", "minimal"}) {
            if (j.contains(key) && j[key].is_object() && j[key].contains("neurons")) {
                json sub = std::move(j[key]);
                j = std::move(sub);
                break;
            }
        }
    }
    if (j.is_object() && j.contains("neurons")) {
        json sub = std::move(j["neurons"]);
        j = std::move(sub);
    }
    if (!j.is_array()) throw Error(source, "", "a mask spec must be a JSON array of {layer, module, channel}, got " + brief(j));
    MaskSpec out;
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    for (size_t i = 0; i < j.size(); ++i) {
        const json& o = j[i];
        const std::string where = source + "[" + std::to_string(i) + "]";  // the entry; fields by name
        if (!o.is_object()) throw Error(where, "", "expected an object {layer, module, channel}, got " + brief(o));
        auto num = [&](const char* k) -> int {
            if (!o.contains(k)) throw Error(where, k, "is missing");
            return static_cast<int>(json_int(o.at(k), 0, kMax, where, k));
        };
        MaskEntry e;
        e.neuron.layer = num("layer");
        if (!o.contains("module")) throw Error(where, "module", "is missing");
        if (!o.at("module").is_string()) throw Error(where, "module", "expected a string, got " + brief(o.at("module")));
        const std::string& m = o.at("module").get_ref<const std::string&>();
        auto mod = module_from_name(m);
        if (!mod) throw Error(where, "module", "unknown module '" + brief_key(m, 40) + "'");
        e.neuron.module = *mod;
        e.neuron.channel = num("channel");
        if (o.contains("positions") && !o.at("positions").is_null()) {
            const json& ps = o.at("positions");
            if (!ps.is_array()) throw Error(where, "positions", "expected an array of integers, got " + brief(ps));
            for (size_t k = 0; k < ps.size(); ++k)
                e.positions.push_back(static_cast<int>(json_int(ps[k], 0, kMax, where, "positions")));
        }
        auto real = [&](const char* k) -> double {
            const json& v = o.at(k);
            if (!v.is_number()) throw Error(where, k, "expected a number, got " + brief(v));
            const double d = v.get<double>();
            if (!std::isfinite(d)) throw Error(where, k, "must be finite");
            return d;
        };
        if (o.contains("mode") && !o.at("mode").is_null()) {
            if (!o.at("mode").is_string()) throw Error(where, "mode", "expected a string, got " + brief(o.at("mode")));
            const std::string& mode = o.at("mode").get_ref<const std::string&>();
            if (mode == "zero") e.mode = Ablation::zero;
            else if (mode == "mean") e.mode = Ablation::mean;
            else if (mode == "scale") {
                e.mode = Ablation::scale;
                if (!o.contains("factor")) throw Error(where, "factor", "is missing (mode scale)");
                e.factor = real("factor");
            } else if (mode == "clamp") {
                e.mode = Ablation::clamp;
                if (!o.contains("percentile")) throw Error(where, "percentile", "is missing (mode clamp)");
                e.percentile = real("percentile");
            } else {
                throw Error(where, "mode", "unknown ablation mode '" + brief_key(mode, 40) + "' (zero, mean, scale, clamp)");
            }
            if (e.mode == Ablation::mean && o.contains("mean")) e.lo = e.hi = real("mean");
            if (e.mode == Ablation::clamp && o.contains("lo") != o.contains("hi"))
                throw Error(where, o.contains("lo") ? "hi" : "lo", "is missing (clamp statistics need lo and hi)");
            if (e.mode == Ablation::clamp && o.contains("lo")) {
                e.lo = real("lo");
                e.hi = real("hi");
            }
            check_mode_values(e, where, to_string(e.neuron));
        }
        out.push_back(std::move(e));
    }
    return out;
}
}  // namespace

std::string_view module_name(Module m) { return kNames.at(static_cast<size_t>(m)); }

std::string_view ablation_name(Ablation a) {
    switch (a) {
        case Ablation::zero: return "zero";
        case Ablation::mean: return "mean";
        case Ablation::scale: return "scale";
        case Ablation::clamp: return "clamp";
    }
    return "zero";
}

bool mask_needs_stats(const MaskSpec& spec) {
    for (const auto& e : spec)
        if (e.needs_stats()) return true;
    return false;
}

std::optional<Module> module_from_name(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i)
        if (kNames[i] == name) return static_cast<Module>(i);
    if (name == "mlp.act_fn") return Module::act_fn;
    // Before result schema 2 the site was called "act" (and scored on act_fn(gate)*up). A mask on
    // it zeroes the same down_proj input, so old mask files and inline specs keep working.
    if (name == "act" || name == "mlp.act") return Module::act_fn;
    return std::nullopt;
}

bool module_is_linear(Module m) { return m != Module::act_fn && m != Module::post_attention_layernorm; }

std::string to_string(const Neuron& n) {
    return "L" + std::to_string(n.layer) + "." + std::string(module_name(n.module)) + ":" + std::to_string(n.channel);
}

MaskSpec parse_mask_spec(std::string_view spec) {
    std::string_view t = trim(spec);
    if (t.empty()) return {};
    if (t.front() == '[' || t.front() == '{') return parse_json_spec(std::string(t), "mask spec");
    // error_code overloads: a 300-byte "name" must not throw filesystem_error (found by fuzz_mask_spec).
    std::error_code ec;
    if (t.front() == 'L' && t.find(':') != std::string_view::npos && !std::filesystem::exists(std::string(t), ec))
        return parse_inline(t);
    std::string path(t);
    if (!std::filesystem::is_regular_file(path, ec))
        throw Error(path, "", "mask spec is neither the inline form L<layer>.<module>:<channel> nor a readable JSON file");
    return parse_json_spec(read_file(path), path);
}

std::string mask_spec_to_json(const MaskSpec& spec) {
    json a = json::array();
    for (const auto& e : spec) {
        json o = {{"layer", e.neuron.layer}, {"module", module_name(e.neuron.module)}, {"channel", e.neuron.channel}};
        if (!e.positions.empty()) o["positions"] = e.positions;
        if (e.mode != Ablation::zero) o["mode"] = ablation_name(e.mode);
        if (e.mode == Ablation::scale) o["factor"] = e.factor;
        if (e.mode == Ablation::clamp) o["percentile"] = e.percentile;
        if (e.lo && e.hi) {
            if (e.mode == Ablation::mean) o["mean"] = *e.lo;
            if (e.mode == Ablation::clamp) {
                o["lo"] = *e.lo;
                o["hi"] = *e.hi;
            }
        }
        a.push_back(std::move(o));
    }
    return a.dump();
}

std::string mask_spec_to_inline(const MaskSpec& spec) {
    std::string s;
    for (const auto& e : spec) {
        if (!s.empty()) s += ",";
        s += to_string(e.neuron);
        for (size_t i = 0; i < e.positions.size(); ++i) s += (i ? ";" : "@") + std::to_string(e.positions[i]);
        if (e.mode == Ablation::mean) s += "=mean";
        if (e.mode == Ablation::scale) s += "=scale:" + format_number(e.factor);
        if (e.mode == Ablation::clamp) s += "=clamp:" + format_number(e.percentile);
    }
    return s;
}

// ---- weight edits: L1.down_proj[2070,431]*0
std::vector<WeightEdit> parse_weight_edits(std::string_view spec) {
    std::vector<WeightEdit> out;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        // the comma inside [row,col] belongs to the entry
        size_t open = spec.find('[', start);
        if (open != std::string_view::npos && comma != std::string_view::npos && open < comma) {
            size_t close = spec.find(']', open);
            comma = close == std::string_view::npos ? std::string_view::npos : spec.find(',', close);
        }
        std::string_view item = trim(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        start = comma == std::string_view::npos ? spec.size() + 1 : comma + 1;
        if (item.empty()) continue;
        const std::string entry(item);
        auto bad = [&](const char* field, const std::string& why) {
            return Error("weight edit", field, "entry '" + brief_key(entry) + "' " + why);
        };
        const size_t dot = item.find('.'), lb = item.find('['), rb = item.find(']'), star = item.find('*');
        if (item[0] != 'L' && item[0] != 'l') throw bad("layer", "must look like L<layer>.<module>[<row>,<col>]*<factor>");
        if (dot == std::string_view::npos || lb == std::string_view::npos || rb == std::string_view::npos || !(dot < lb && lb < rb))
            throw bad("module", "must look like L<layer>.<module>[<row>,<col>]*<factor>");
        WeightEdit e;
        e.layer = parse_int(item.substr(1, dot - 1), "layer", entry, "weight edit");
        auto mod = module_from_name(trim(item.substr(dot + 1, lb - dot - 1)));
        if (!mod || !module_is_linear(*mod))
            throw bad("module", "names no linear module (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
        e.matrix = *mod;
        std::string_view rc = item.substr(lb + 1, rb - lb - 1);
        const size_t c = rc.find(',');
        if (c == std::string_view::npos) throw bad("row", "needs [<row>,<col>]");
        e.row = parse_int(rc.substr(0, c), "row", entry, "weight edit");
        e.col = parse_int(rc.substr(c + 1), "col", entry, "weight edit");
        std::string_view tail = trim(item.substr(rb + 1));
        if (tail.empty()) e.factor = 0.0;
        else if (star == rb + 1 || (!tail.empty() && tail[0] == '*')) e.factor = parse_double(tail.substr(1), "factor", entry, "weight edit");
        else throw bad("factor", "must end in *<factor> (or nothing, to zero the weight)");
        if (!(std::abs(e.factor) <= kMaxFactor)) throw bad("factor", "has a factor out of range [-1e6, 1e6]");
        out.push_back(e);
    }
    return out;
}

std::string to_string(const WeightEdit& e) {
    return "L" + std::to_string(e.layer) + "." + std::string(module_name(e.matrix)) + "[" + std::to_string(e.row) + "," +
           std::to_string(e.col) + "]*" + format_number(e.factor);
}

int module_input_width(Module m, const ModelShape& shape) {
    switch (m) {
        case Module::q_proj: case Module::k_proj: case Module::v_proj: case Module::gate_proj: case Module::up_proj:
            return shape.module_width(Module::o_proj);  // hidden size
        case Module::o_proj: return shape.module_width(Module::q_proj);  // heads * head_dim
        case Module::down_proj: return shape.module_width(Module::act_fn);  // intermediate size
        default: return 0;
    }
}

void validate_weight_edits(const std::vector<WeightEdit>& edits, const ModelShape& shape) {
    for (const auto& e : edits) {
        const std::string name = to_string(e);
        if (e.layer < 0 || e.layer >= shape.layers)
            throw Error("weight edit", "layer", name + ": layer " + std::to_string(e.layer) + " is out of range (model has " +
                                                    std::to_string(shape.layers) + " layers)");
        if (!module_is_linear(e.matrix)) throw Error("weight edit", "module", name + ": not a linear module");
        const int rows = shape.module_width(e.matrix), cols = module_input_width(e.matrix, shape);
        if (e.row < 0 || e.row >= rows)
            throw Error("weight edit", "row", name + ": row " + std::to_string(e.row) + " is out of range (" +
                                                  std::string(module_name(e.matrix)) + " has " + std::to_string(rows) + " rows)");
        if (e.col < 0 || e.col >= cols)
            throw Error("weight edit", "col", name + ": col " + std::to_string(e.col) + " is out of range (" +
                                                  std::string(module_name(e.matrix)) + " has " + std::to_string(cols) + " columns)");
    }
}

void validate_mask(const MaskSpec& spec, const ModelShape& shape) {
    for (const auto& e : spec) {
        const auto& n = e.neuron;
        if (n.layer < 0 || n.layer >= shape.layers)
            throw Error("mask spec", "layer", to_string(n) + ": layer " + std::to_string(n.layer) +
                                                  " is out of range (model has " + std::to_string(shape.layers) + " layers)");
        int w = shape.module_width(n.module);
        if (n.channel < 0 || n.channel >= w)
            throw Error("mask spec", "channel", to_string(n) + ": channel " + std::to_string(n.channel) +
                                                    " is out of range (" + std::string(module_name(n.module)) + " has " +
                                                    std::to_string(w) + " channels)");
        for (int p : e.positions)
            if (p < 0) throw Error("mask spec", "position", to_string(n) + ": negative position " + std::to_string(p));
    }
}

}  // namespace achilles
