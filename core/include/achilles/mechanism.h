// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Why a critical set matters: massive activations, attention sinks, the logit lens and
// super-weight tracing on one probe, clean and under a mask. Torch-free value types; the
// analyses run on a loaded Engine (core/src/analysis/mechanism.cpp) and their JSON documents
// are written by core/src/session/mechanism_json.cpp.
#include "achilles/engine.h"
#include "achilles/neuron.h"
#include "achilles/progress.h"
#include "achilles/results.h"
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace achilles {

// ---- massive activations ---------------------------------------------------------------------
// Where magnitudes are recorded, per layer: the residual stream after the block, down_proj's
// output, and down_proj's input (act_fn(gate) * up).
enum class MassiveSite : uint8_t { residual, down_proj, down_proj_input };
inline constexpr int kNumMassiveSites = 3;
std::string_view massive_site_name(MassiveSite s);

struct MassiveOptions {
    int top_k = 3;
    double abs_threshold = 100.0;  // |a| must exceed this ...
    double ratio = 1000.0;         // ... and this many times the median |a| of its (site, layer)
};

struct ActivationEntry {
    int token = 0, channel = 0;
    double value = 0;  // signed
};

struct MassiveLayer {
    int layer = 0;
    double median_abs = 0;                 // median |a| over all tokens x channels
    std::vector<ActivationEntry> top;      // top-k by |a| (ties: token, channel ascending)
    std::vector<double> token_max_abs;     // [T] max over channels of |a|
    std::vector<int> token_max_channel;    // [T] its channel (lowest on ties)
};

struct MassiveHit {
    MassiveSite site = MassiveSite::residual;
    int layer = 0, token = 0, channel = 0;
    double value = 0, ratio = 0;           // ratio = |value| / median_abs
    int persist_first = 0, persist_last = 0;  // consecutive layers of this site where it holds too
    bool critical = false;                 // the channel is in the given critical set
    // With a mask: the same (site, layer, token, channel) entry in the masked forward; NaN
    // on a clean run.
    double masked_value = std::numeric_limits<double>::quiet_NaN();
};

// The same statistics of the masked forward (MassiveReport::masked): its own medians, top-k,
// token maxima and the entries meeting the rule there (persist ranges over the masked run;
// masked_value unused).
struct MassiveMaskedRun {
    std::vector<std::vector<MassiveLayer>> sites;  // [kNumMassiveSites][layers]
    std::vector<MassiveHit> hits;
    std::string summary;
};

struct MassiveReport {
    std::vector<int> ids;
    MassiveOptions options;
    MaskSpec mask;                                       // the mask of the masked run (empty: clean only)
    std::vector<std::vector<MassiveLayer>> sites;        // [kNumMassiveSites][layers], the clean model
    std::vector<MassiveHit> hits;                        // every clean entry meeting the rule
    std::string summary;                                 // one plain sentence
    // One sentence per critical channel that is massive: "L1 down_proj ch 2070 is 1,840x the
    // median at token 0 and is in the critical set".
    std::vector<std::string> notes;
    std::optional<MassiveMaskedRun> masked;              // set when `mask` is not empty
};

// The statistics are always of the clean model; a non-empty mask adds a second, masked forward
// (MassiveReport::masked, and each clean hit's masked_value), so that a spike the critical set
// produces can be seen to vanish downstream. `critical` marks hits whose channel is in the set: a residual or down_proj hit of channel c at
// layer l when the set holds (l' <= l, down_proj or o_proj or post_attention_layernorm, c) (for
// down_proj hits: l' == l, down_proj); a down_proj_input hit of channel j when it holds
// (l, act_fn, gate_proj or up_proj, j).
MassiveReport massive_activations(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask,
                                  const MassiveOptions& options, const std::vector<Neuron>& critical,
                                  Progress& progress);

// ---- attention sinks -------------------------------------------------------------------------
struct SinkReport {
    std::vector<int> ids;
    int layers = 0, heads = 0;
    MaskSpec mask;
    std::vector<std::vector<double>> clean_mass;   // [layer][head] mean over queries t>=1 of p[t][0]
    std::vector<std::vector<double>> masked_mass;  // empty without a mask
    std::optional<std::pair<int, int>> pattern_head;       // (layer, head)
    std::vector<std::vector<double>> clean_pattern, masked_pattern;  // [T][T] (rows: queries)
};
// pattern: (layer, head) whose full attention pattern is recorded too.
SinkReport attention_sinks(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask,
                           std::optional<std::pair<int, int>> pattern, Progress& progress);

// ---- logit lens ------------------------------------------------------------------------------
struct LensToken {
    int id = 0;
    double prob = 0;
    std::string text;  // decoded, when the model has a tokenizer
};
struct LensLayer {
    int layer = 0;
    std::vector<LensToken> top;
    int true_rank = 0;       // 1 = the lens' top token
    double true_prob = 0;
};
struct LensRun {
    std::vector<LensLayer> layers;
    std::vector<std::vector<int>> true_rank_all;  // [layer][position 0..T-2]
};
struct LensReport {
    std::vector<int> ids;
    int position = 0, true_next = 0, top_k = 5;
    MaskSpec mask;
    LensRun clean;
    std::optional<LensRun> masked;
};
// position < 0: the last position that has a next token (T-2).
LensReport logit_lens(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask, int position,
                      int top_k, Progress& progress);

// ---- super weights ---------------------------------------------------------------------------
struct WeightContribution {
    int row = 0, col = 0;
    double weight = 0, input = 0, contribution = 0;  // contribution = weight * input
};
struct TraceReport {
    std::vector<int> ids;
    Neuron neuron;
    int token = 0;
    double value = 0;                 // the neuron's clean value at token
    Module matrix = Module::down_proj;
    std::vector<WeightContribution> weights;  // by |contribution| descending
    // The top weight scaled by `scale` alone, against the whole channel zeroed.
    double scale = 0;
    double ppl_clean = 0, ppl_weight = 0, ppl_channel = 0;
    double value_weight = 0;          // the neuron at token with the weight edited
    double residual_clean = 0, residual_weight = 0, residual_channel = 0;  // max |residual| at token after the layer
};
// neuron: a down_proj or act_fn channel. token < 0: where its clean |value| is largest.
TraceReport trace_super_weights(const Engine& engine, const std::vector<int>& ids, const Neuron& neuron, int token,
                                int top_k, double scale, Progress& progress);

// ---- the stage-2 curve under another ablation mode ------------------------------------------
// Re-evaluates a result's curve: for each of its points n, the unique channels of the top-n
// ranking entries are ablated with `how`'s mode (and positions: empty = every position), on the
// result's probe ids. mean/clamp statistics come from the clean values on those ids.
struct CurveRerun {
    MaskEntry how;                 // mode, factor, percentile, positions (its neuron is unused)
    std::vector<int> ids;
    double ppl_orig = 0;
    std::vector<CurvePoint> points;
    int reached_n = 0;             // first n whose delta >= the result's epsilon (0: none)
};
CurveRerun rerun_curve(const Engine& engine, const SearchResult& result, const MaskEntry& how, Progress& progress);

// ---- JSON documents (schemas achilles.massive/1, achilles.sinks/1, achilles.lens/1,
// achilles.trace/1, achilles.curve/1)
std::string massive_to_json(const MassiveReport& r);
std::string sinks_to_json(const SinkReport& r);
std::string lens_to_json(const LensReport& r);
std::string trace_to_json(const TraceReport& r);
std::string curve_to_json(const CurveRerun& r);

}  // namespace achilles
