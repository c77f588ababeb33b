// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Stability of the critical set across probes, seeds, alpha and K: one search per run, then the
// channels that recur, the intersection and union, a Jaccard matrix and a consensus set, checked
// on held-out text. Schema "achilles.stability/1" (stability_to_json).
#include "achilles/engine.h"
#include "achilles/neuron.h"
#include "achilles/options.h"
#include "achilles/progress.h"
#include <string>
#include <vector>

namespace achilles {

inline constexpr const char* kStabilitySchema = "achilles.stability/1";

struct StabilityProbe {
    std::string name;             // file name, or "line 3" of a JSONL file
    std::string text;             // encoded with [BOS], truncated at max_tokens ...
    std::vector<int> ids;         // ... unless ids are given
};

// One search of the study: a probe under the base options with some fields changed (--vary).
struct StabilityRunSpec {
    std::string label;            // "story.txt", "story.txt seed=7"
    size_t probe = 0;             // index into the probes
    std::vector<std::pair<std::string, std::string>> changed;  // option key -> value text
};

struct StabilityRun {
    std::string label;
    std::string probe;
    std::vector<std::pair<std::string, std::string>> changed;
    int tokens = 0;
    double ppl_orig = 0;
    std::vector<Neuron> set;      // the run's critical set (its strategy's)
    double delta = 0;
    bool reached = false;
};

struct ChannelCount {
    Neuron neuron;
    int count = 0;                // runs whose set holds it
};

struct StabilityResult {
    std::string model_path;
    SearchOptions options;        // the base options
    std::vector<StabilityRun> runs;
    std::vector<ChannelCount> counts;             // descending count, then (layer, module, channel)
    std::vector<Neuron> intersection, union_set;  // sorted
    std::vector<std::vector<double>> jaccard;     // runs x runs; 1 on the diagonal (two empty sets: 1)
    int consensus_k = 0;
    std::vector<Neuron> consensus;                // channels in at least consensus_k sets
    // Δ log10 PPL of the consensus set on held-out text (empty dataset: not measured).
    std::string heldout_dataset;
    int heldout_samples = 0;
    double heldout_ppl_orig = 0, heldout_ppl_masked = 0, heldout_delta = 0;
};

// Reads probes: a JSONL file ({"text": ...} or {"ids": [...]}, optional "name"), or a folder of
// .txt files (sorted by name). Throws Error naming the file, line and field.
std::vector<StabilityProbe> load_probes(const std::string& path);

// Builds the runs: every probe, times every combination of the --vary lists ("seed=1,2,3";
// keys from the options table, values checked by it). Throws Error("command line", "--vary", ...).
std::vector<StabilityRunSpec> stability_runs(const std::vector<StabilityProbe>& probes,
                                             const std::vector<std::string>& vary);

// consensus_k <= 0: a majority, ceil(runs / 2). Throws Error, Cancelled.
StabilityResult run_stability(const Engine& engine, const std::vector<StabilityProbe>& probes,
                              const std::vector<StabilityRunSpec>& runs, const SearchOptions& base,
                              int consensus_k, const std::string& heldout_dataset, int heldout_max_samples,
                              Progress& progress);

// The set statistics of runs' sets (exposed for tests).
void summarize_sets(StabilityResult& r, int consensus_k);

std::string stability_to_json(const StabilityResult& r);

}  // namespace achilles
