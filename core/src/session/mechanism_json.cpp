// SPDX-License-Identifier: GPL-3.0-or-later
// JSON documents of the mechanism analyses (achilles/mechanism.h): achilles.massive/1,
// achilles.sinks/1, achilles.lens/1 and achilles.trace/1. Keys in a fixed order, so that the
// same inputs give the same bytes.
#include "achilles/mechanism.h"
#include "util/json_util.h"
#include <cmath>

namespace achilles {

namespace {

ojson doubles(const std::vector<double>& v) {
    ojson a = ojson::array();
    for (double x : v) a.push_back(json_num(x));
    return a;
}

ojson matrix(const std::vector<std::vector<double>>& m) {
    ojson a = ojson::array();
    for (const auto& row : m) a.push_back(doubles(row));
    return a;
}

void header(ojson& j, const char* schema, const std::vector<int>& ids, const MaskSpec& mask) {
    j["schema"] = schema;
    j["ids"] = ids;
    if (!mask.empty()) {
        j["mask"] = mask_spec_to_inline(mask);
        j["mask_entries"] = ojson::parse(mask_spec_to_json(mask));
    }
}

ojson lens_run(const LensRun& run) {
    ojson layers = ojson::array();
    for (const auto& L : run.layers) {
        ojson top = ojson::array();
        for (const auto& t : L.top) {
            ojson o{{"id", t.id}, {"prob", json_num(t.prob)}};
            if (!t.text.empty()) o["text"] = t.text;
            top.push_back(std::move(o));
        }
        layers.push_back(ojson{{"layer", L.layer}, {"top", std::move(top)}, {"true_rank", L.true_rank},
                               {"true_prob", json_num(L.true_prob)}});
    }
    return ojson{{"layers", std::move(layers)}, {"true_rank_all", run.true_rank_all}};
}

}  // namespace

namespace {

ojson massive_sites(const std::vector<std::vector<MassiveLayer>>& sites) {
    ojson out = ojson::array();
    for (size_t s = 0; s < sites.size(); ++s) {
        ojson layers = ojson::array();
        for (const auto& L : sites[s]) {
            ojson top = ojson::array();
            for (const auto& e : L.top)
                top.push_back(ojson{{"token", e.token}, {"channel", e.channel}, {"value", json_num(e.value)},
                                    {"abs", json_num(std::abs(e.value))}});
            layers.push_back(ojson{{"layer", L.layer}, {"median_abs", json_num(L.median_abs)}, {"top", std::move(top)},
                                   {"token_max_abs", doubles(L.token_max_abs)}, {"token_max_channel", L.token_max_channel}});
        }
        out.push_back(ojson{{"site", std::string(massive_site_name(MassiveSite(s)))}, {"layers", std::move(layers)}});
    }
    return out;
}

ojson massive_hits(const std::vector<MassiveHit>& hits, bool with_masked_value) {
    ojson out = ojson::array();
    for (const auto& h : hits) {
        ojson o{{"site", std::string(massive_site_name(h.site))}, {"layer", h.layer}, {"token", h.token},
                {"channel", h.channel}, {"value", json_num(h.value)}, {"ratio", json_num(h.ratio)},
                {"persist", {h.persist_first, h.persist_last}}, {"critical", h.critical}};
        if (with_masked_value) o["masked_value"] = json_num(h.masked_value);
        out.push_back(std::move(o));
    }
    return out;
}

}  // namespace

// The top level is always the clean model (as in every achilles.massive/1 document); with a mask
// a "masked" block holds the masked forward's sites / massive / found / summary, and each clean
// entry its "masked_value".
std::string massive_to_json(const MassiveReport& r) {
    ojson j;
    header(j, "achilles.massive/1", r.ids, r.mask);
    j["rule"] = ojson{{"abs_threshold", json_num(r.options.abs_threshold)}, {"ratio", json_num(r.options.ratio)},
                      {"top_k", r.options.top_k}};
    j["sites"] = massive_sites(r.sites);
    j["massive"] = massive_hits(r.hits, r.masked.has_value());
    j["found"] = !r.hits.empty();
    j["summary"] = r.summary;
    j["notes"] = r.notes;
    if (r.masked)
        j["masked"] = ojson{{"sites", massive_sites(r.masked->sites)}, {"massive", massive_hits(r.masked->hits, false)},
                            {"found", !r.masked->hits.empty()}, {"summary", r.masked->summary}};
    return j.dump(1);
}

std::string sinks_to_json(const SinkReport& r) {
    ojson j;
    header(j, "achilles.sinks/1", r.ids, r.mask);
    j["layers"] = r.layers;
    j["heads"] = r.heads;
    j["clean"] = ojson{{"first_token_mass", matrix(r.clean_mass)}};
    if (!r.mask.empty()) j["masked"] = ojson{{"first_token_mass", matrix(r.masked_mass)}};
    if (r.pattern_head) {
        ojson p{{"layer", r.pattern_head->first}, {"head", r.pattern_head->second}, {"clean", matrix(r.clean_pattern)}};
        if (!r.mask.empty()) p["masked"] = matrix(r.masked_pattern);
        j["pattern"] = std::move(p);
    }
    return j.dump(1);
}

std::string lens_to_json(const LensReport& r) {
    ojson j;
    header(j, "achilles.lens/1", r.ids, r.mask);
    j["position"] = r.position;
    j["true_next"] = r.true_next;
    j["top_k"] = r.top_k;
    j["clean"] = lens_run(r.clean);
    if (r.masked) j["masked"] = lens_run(*r.masked);
    return j.dump(1);
}

std::string trace_to_json(const TraceReport& r) {
    ojson j;
    header(j, "achilles.trace/1", r.ids, {});
    j["neuron"] = to_string(r.neuron);
    j["token"] = r.token;
    j["value"] = json_num(r.value);
    j["matrix"] = std::string(module_name(r.matrix));
    ojson w = ojson::array();
    for (const auto& c : r.weights)
        w.push_back(ojson{{"row", c.row}, {"col", c.col}, {"weight", json_num(c.weight)}, {"input", json_num(c.input)},
                          {"contribution", json_num(c.contribution)}});
    j["weights"] = std::move(w);
    const double lc = std::log10(r.ppl_clean);
    j["ablation"] = ojson{{"scale", json_num(r.scale)},
                          {"ppl_clean", json_num(r.ppl_clean)},
                          {"ppl_weight", json_num(r.ppl_weight)},
                          {"ppl_channel", json_num(r.ppl_channel)},
                          {"delta_log10_weight", json_num(std::log10(r.ppl_weight) - lc)},
                          {"delta_log10_channel", json_num(std::log10(r.ppl_channel) - lc)},
                          {"value_weight", json_num(r.value_weight)},
                          {"residual_max_abs", ojson{{"clean", json_num(r.residual_clean)},
                                                     {"weight", json_num(r.residual_weight)},
                                                     {"channel", json_num(r.residual_channel)}}}};
    return j.dump(1);
}

std::string curve_to_json(const CurveRerun& r) {
    ojson j;
    j["schema"] = "achilles.curve/1";
    j["ids"] = r.ids;
    ojson how{{"mode", std::string(ablation_name(r.how.mode))}};
    if (r.how.mode == Ablation::scale) how["factor"] = json_num(r.how.factor);
    if (r.how.mode == Ablation::clamp) how["percentile"] = json_num(r.how.percentile);
    how["positions"] = r.how.positions;  // empty: every position
    j["ablation"] = std::move(how);
    j["ppl_orig"] = json_num(r.ppl_orig);
    ojson pts = ojson::array();
    for (const auto& p : r.points)
        pts.push_back(ojson{{"n", p.n}, {"unique_channels", p.unique_channels}, {"ppl", json_num(p.ppl)}, {"delta", json_num(p.delta)}});
    j["curve"] = std::move(pts);
    j["reached_n"] = r.reached_n;
    return j.dump(1);
}

}  // namespace achilles
