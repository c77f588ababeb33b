// SPDX-License-Identifier: GPL-3.0-or-later
// Mask specs, inline ("L3.down_proj:7@0;5=scale:0.5") and JSON, and weight edits
// ("L1.down_proj[3,4]*0"): accepted specs hold only non-negative indices, in-range ablation
// values, and survive a round trip through their written forms (inline: without the calibrated
// statistics, which only JSON carries).
#include "achilles/error.h"
#include "achilles/neuron.h"
#include "fuzz_util.h"
#include <cmath>
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    std::string text(reinterpret_cast<const char*>(data), size);
    // Only the inline and JSON forms: anything else would be taken as a file name.
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return 0;
    if (text[first] != '[' && text[first] != '{') text.insert(first, "L");
    try {
        const MaskSpec spec = parse_mask_spec(text);
        for (const auto& e : spec) {
            if (e.neuron.layer < 0 || e.neuron.channel < 0) fuzz::finding("negative index accepted");
            for (int p : e.positions)
                if (p < 0) fuzz::finding("negative position accepted");
        }
        for (const auto& e : spec) {
            if (!std::isfinite(e.factor) || std::abs(e.factor) > 1e6) fuzz::finding("scale factor out of range accepted");
            if (e.mode == Ablation::clamp && !(e.percentile >= 50 && e.percentile <= 100))
                fuzz::finding("clamp percentile out of range accepted");
            if (e.lo && e.hi && !(*e.lo <= *e.hi)) fuzz::finding("lo > hi accepted");
            if ((e.lo && !std::isfinite(*e.lo)) || (e.hi && !std::isfinite(*e.hi))) fuzz::finding("non-finite statistic accepted");
        }
        if (parse_mask_spec(mask_spec_to_json(spec)) != spec) fuzz::finding("JSON round trip differs");
        MaskSpec plain = spec;
        for (auto& e : plain) e.lo = e.hi = std::nullopt;
        if (!spec.empty() && parse_mask_spec(mask_spec_to_inline(spec)) != plain) fuzz::finding("inline round trip differs");
    } catch (const Error&) {
    }
    try {
        const auto edits = parse_weight_edits(text);
        for (const auto& e : edits) {
            if (e.layer < 0 || e.row < 0 || e.col < 0) fuzz::finding("negative weight-edit index accepted");
            if (!module_is_linear(e.matrix)) fuzz::finding("weight edit of a non-linear module accepted");
            if (!std::isfinite(e.factor) || std::abs(e.factor) > 1e6) fuzz::finding("weight-edit factor out of range accepted");
            if (parse_weight_edits(to_string(e)) != std::vector<WeightEdit>{e}) fuzz::finding("weight-edit round trip differs");
        }
    } catch (const Error&) {
    }
    return 0;
}
