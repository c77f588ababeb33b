// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/compare.h"
#include "achilles/error.h"
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace achilles {

namespace {

SetOverlap overlap(std::string label, const std::set<Neuron>& a, const std::set<Neuron>& b) {
    SetOverlap o;
    o.label = std::move(label);
    o.a = int(a.size());
    o.b = int(b.size());
    for (const Neuron& n : a) o.shared += int(b.count(n));
    const int uni = o.a + o.b - o.shared;
    if (uni > 0) o.jaccard = double(o.shared) / double(uni);
    return o;
}

const std::vector<Neuron>& pick(const SearchResult& r, const std::string& source, const std::string& set) {
    if (set == "faithful") return r.faithful.neurons;
    if (set == "minimal") {
        if (!r.minimal) throw Error(source, "minimal", "this result has no minimal set (search with --minimize)");
        return r.minimal->neurons;
    }
    throw Error("command line", "--set", "'" + set + "' is not faithful or minimal");
}

}  // namespace

RunComparison compare_results(const SearchResult& a, const std::string& source_a, const SearchResult& b,
                              const std::string& source_b, const std::string& set) {
    RunComparison c;
    c.source_a = source_a;
    c.source_b = source_b;
    c.set_name = set;
    c.same_model = a.model.config_hash == b.model.config_hash && a.model.header_hash == b.model.header_hash &&
                   !a.model.config_hash.empty();
    const SearchOptions& oa = a.options;
    const SearchOptions& ob = b.options;
    for (const SearchOptionField& f : search_option_fields())
        if (!(f.get(oa) == f.get(ob))) c.option_differences.push_back(std::string(f.key) + ": " + f.format(f.get(oa)) +
                                                                       " vs " + f.format(f.get(ob)));
    const std::set<Neuron> sa(pick(a, source_a, set).begin(), pick(a, source_a, set).end());
    const std::set<Neuron> sb(pick(b, source_b, set).begin(), pick(b, source_b, set).end());
    for (const Neuron& n : sa) (sb.count(n) ? c.shared : c.only_a).push_back(n);
    for (const Neuron& n : sb)
        if (!sa.count(n)) c.only_b.push_back(n);
    c.all = overlap("all", sa, sb);
    for (Module m : kAllModules) {
        std::set<Neuron> ma, mb;
        for (const Neuron& n : sa)
            if (n.module == m) ma.insert(n);
        for (const Neuron& n : sb)
            if (n.module == m) mb.insert(n);
        c.by_module.push_back(overlap(std::string(module_name(m)), ma, mb));
    }
    std::map<int, std::pair<std::set<Neuron>, std::set<Neuron>>> layers;
    for (const Neuron& n : sa) layers[n.layer].first.insert(n);
    for (const Neuron& n : sb) layers[n.layer].second.insert(n);
    for (const auto& [l, p] : layers) c.by_layer.push_back(overlap("L" + std::to_string(l), p.first, p.second));
    c.curve_a = a.curve;
    c.curve_b = b.curve;
    return c;
}

std::string comparison_to_json(const RunComparison& c) {
    using oj = nlohmann::ordered_json;
    auto neurons = [](const std::vector<Neuron>& ns) {
        oj arr = oj::array();
        for (const Neuron& n : ns)
            arr.push_back(oj{{"layer", n.layer}, {"module", std::string(module_name(n.module))}, {"channel", n.channel}});
        return arr;
    };
    auto ov = [](const SetOverlap& o) {
        oj j{{"label", o.label}, {"a", o.a}, {"b", o.b}, {"shared", o.shared}};
        j["jaccard"] = o.jaccard ? oj(*o.jaccard) : oj(nullptr);
        return j;
    };
    auto curve = [](const std::vector<CurvePoint>& pts) {
        oj arr = oj::array();
        for (const CurvePoint& p : pts) {
            oj d = std::isfinite(p.delta) ? oj(p.delta) : oj(p.delta > 0 ? "inf" : "nan");
            arr.push_back(oj{{"unique_channels", p.unique_channels}, {"n", p.n}, {"delta", d}});
        }
        return arr;
    };
    oj j;
    j["schema"] = kComparisonSchema;
    j["a"] = c.source_a;
    j["b"] = c.source_b;
    j["set"] = c.set_name;
    j["same_model"] = c.same_model;
    j["option_differences"] = c.option_differences;
    j["all"] = ov(c.all);
    oj m = oj::array();
    for (const auto& o : c.by_module) m.push_back(ov(o));
    j["by_module"] = std::move(m);
    oj l = oj::array();
    for (const auto& o : c.by_layer) l.push_back(ov(o));
    j["by_layer"] = std::move(l);
    j["shared"] = neurons(c.shared);
    j["only_a"] = neurons(c.only_a);
    j["only_b"] = neurons(c.only_b);
    j["curve_a"] = curve(c.curve_a);
    j["curve_b"] = curve(c.curve_b);
    return j.dump(1) + "\n";
}

}  // namespace achilles
