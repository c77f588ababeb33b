// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The search result document: one versioned JSON schema shared by achilles-cli and the GUI.
#include "achilles/engine.h"
#include "achilles/fileio.h"
#include "achilles/neuron.h"
#include "achilles/options.h"  // SearchOptions and its table
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace achilles {

// Schema 2: the act_fn site is mlp.act_fn's output (the paper's). Schema 1 documents (earlier
// builds) scored a site "act" = act_fn(gate)*up instead; they still open, with a warning.
inline constexpr const char* kResultSchema = "achilles.result/2";
inline constexpr const char* kResultSchemaV1 = "achilles.result/1";

struct RankedEntry {
    Neuron neuron;
    int position = -1;         // -1 in channel modes
    double importance = 0;
    bool operator==(const RankedEntry&) const = default;
};

struct CurvePoint {
    int n = 0;                 // entries masked (prefix length of the ranking)
    int unique_channels = 0;
    double ppl = 0;
    double delta = 0;          // log10 ppl - log10 ppl_orig
    bool operator==(const CurvePoint&) const = default;
};

struct CriticalSet {
    std::string name;          // faithful, bisected, minimal, ...
    int n = 0;                 // ranking prefix length (0 for minimal)
    std::vector<Neuron> neurons;
    double ppl = 0;
    double delta = 0;
    bool reached = false;      // delta >= epsilon
    int evaluations = 0;       // perplexity evaluations spent finding it
    bool operator==(const CriticalSet&) const = default;
};

struct DatasetEval {
    std::string set;           // which critical set
    std::string dataset;
    int samples = 0;
    int tokens = 0;
    double ppl_orig = 0;
    double ppl_masked = 0;
    bool operator==(const DatasetEval&) const = default;
};

struct SeriesPoint {
    int channels = 0;          // unique channels masked (every series of a sweep shares this unit)
    double log10_ppl = 0;      // mean over runs
    double log10_ppl_std = 0;  // 0 for deterministic methods
    bool operator==(const SeriesPoint&) const = default;
};
struct Series {
    std::string name;          // ours, random, random-matched, activation, gradient, attribution
    std::vector<SeriesPoint> points;
    bool operator==(const Series&) const = default;
};

struct SearchResult {
    std::string schema = kResultSchema;
    ModelFingerprint model;
    std::string model_type;
    std::string text;
    std::vector<int> ids;
    SearchOptions options;
    int layers = 0;
    int64_t total_entries = 0;   // positions x hooked channels (the paper's N)
    double ppl_orig = 0;
    std::vector<RankedEntry> ranking;        // top-M, descending importance
    std::vector<CurvePoint> curve;           // stage 2
    // The stage-2 critical set of the run's strategy: the paper's linear scan, or with strategy
    // bisect the bisected set (then equal to `bisected` but for its name). JSON key "faithful".
    CriticalSet faithful;
    std::optional<CriticalSet> bisected;     // strategy bisect only
    std::optional<CriticalSet> minimal;
    // Perplexity evaluations stage 2 actually ran, with either strategy (cached prefix sets not
    // counted twice; the clean pass included). JSON key "forwards_linear".
    int forwards_linear = 0;
    int forwards_literal = 0;                // what the paper's literal loop would have spent
    std::vector<DatasetEval> evaluations;
    std::vector<Series> sweep;               // ours + baselines, plot-ready
    std::map<std::string, double> timings;   // seconds per stage (excluded from determinism)
    std::string libtorch_version;
    std::string app_version;
    // Set on reading, never written: what the reader wants the user to know (an older schema).
    std::vector<std::string> warnings;
    double rate() const { return total_entries ? double(faithful.neurons.size()) / double(total_entries) : 0; }
};

// JSON (nlohmann-free interface): text in, text out. Throws Error naming the field on bad input.
//
// Schema "achilles.result/2" (key order as written; numbers are shortest round-trip doubles;
// non-finite doubles are the strings "inf", "-inf", "nan"):
//   schema, app_version, libtorch_version,
//   model {path, config_hash, header_hash}, model_type, text, ids [int],
//   options {alpha, samples, seed, ...}: every field of the table in achilles/options.h, in its order,
//            range-checked on reading,
//   layers, total_entries, ppl_orig, rate (informative: |faithful| / total_entries),
//   faithful, bisected?, minimal? : {name, n, neurons [{layer, module, channel}], size, ppl, delta,
//                                    reached, evaluations}   (a set is itself a valid --mask file)
//   forwards_linear, forwards_literal,
//   curve [{n, unique_channels, ppl, delta}],
//   evaluations [{set, dataset, samples, tokens, ppl_orig, ppl_masked}],
//   sweep [{name, points [{channels, log10_ppl, log10_ppl_std}]}]   (channels: unique channels masked;
//          schema 1 wrote "n", read as channels),
//   timings {stage: seconds} (only with include_timings),
//   ranking [{layer, module, channel, position, importance}]   (last: it can be long)
// Reading requires only "schema"; other members default when absent but are type-checked.
std::string result_to_json(const SearchResult& r, bool include_timings = true, int indent = 2);
SearchResult result_from_json(const std::string& json_text, const std::string& source_name);
// Reads a result document, or the "result" of a GUI session (achilles.session/1), from a file;
// checks its indices (validate_result without a shape). Throws Error naming the file and field.
SearchResult read_result_file(const std::string& path);
// Bounds on what a result document may claim when the model's shape is not known (views size
// their grids by these numbers; no released model comes near them).
inline constexpr int kMaxResultLayers = 1024;
inline constexpr int64_t kMaxResultCells = int64_t(1) << 24;   // layers x (largest channel + 1)
inline constexpr int kMaxResultPositions = 1 << 20;
// Checks every index of r: layers within bounds, each neuron's layer below layers, each channel
// below its module's width (shape given) or plausible (shape null), each position inside the probe.
// result_from_json() runs it with shape null; callers that know the model run it again with its shape.
// Throws Error(source, field path, ...).
void validate_result(const SearchResult& r, const std::string& source, const ModelShape* shape);

// A critical set as a mask-spec JSON array [{"layer","module","channel"},...] (feed back as --mask).
std::string result_mask_json(const CriticalSet& s);

}  // namespace achilles
