// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Comparing two search results (two models, e.g. base vs instruct or vs R1-distill, or two
// settings): the overlap of their critical sets, Jaccard per module and per layer, and both
// phase curves on one axis (unique channels masked). Plain C++, no torch: the GUI uses it too.
#include "achilles/results.h"
#include <optional>
#include <string>
#include <vector>

namespace achilles {

inline constexpr const char* kComparisonSchema = "achilles.comparison/1";

struct SetOverlap {
    std::string label;                 // "all", a module name, or "L3"
    int a = 0, b = 0, shared = 0;      // set sizes and the intersection
    std::optional<double> jaccard;     // none when both sets are empty there
};

struct RunComparison {
    std::string source_a, source_b;
    std::string set_name;              // faithful or minimal
    bool same_model = false;           // equal fingerprints (config and tensor-header hashes)
    std::vector<std::string> option_differences;  // "alpha: 5 vs 2"
    std::vector<Neuron> shared, only_a, only_b;   // sorted
    SetOverlap all;
    std::vector<SetOverlap> by_module;  // the 9 sites, in order
    std::vector<SetOverlap> by_layer;   // layers where either set has a channel
    std::vector<CurvePoint> curve_a, curve_b;     // x: unique_channels
};

// set: "faithful" (the strategy's set) or "minimal" (both results must have one).
// Throws Error naming the source and field.
RunComparison compare_results(const SearchResult& a, const std::string& source_a, const SearchResult& b,
                              const std::string& source_b, const std::string& set = "faithful");
std::string comparison_to_json(const RunComparison& c);

}  // namespace achilles
