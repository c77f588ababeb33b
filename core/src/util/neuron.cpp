// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/neuron.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "util/json_util.h"
#include <charconv>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace achilles {

namespace {
constexpr std::array<std::string_view, kNumModules> kNames = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "act_fn", "down_proj",
    "post_attention_layernorm"};

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

int parse_int(std::string_view s, const std::string& what, const std::string& entry) {
    s = trim(s);
    int v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range)
        throw Error("mask spec", what, "'" + brief_key(s, 40) + "' is out of range in entry '" + brief_key(entry) + "'");
    if (ec != std::errc() || p != s.data() + s.size() || s.empty())
        throw Error("mask spec", what, "'" + brief_key(s, 40) + "' is not an integer in entry '" + brief_key(entry) + "'");
    if (v < 0) throw Error("mask spec", what, "must not be negative, got " + std::to_string(v) + " in entry '" + brief_key(entry) + "'");
    return v;
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
        out.push_back(std::move(e));
    }
    return out;
}
}  // namespace

std::string_view module_name(Module m) { return kNames.at(static_cast<size_t>(m)); }

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
    }
    return s;
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
