// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace achilles {

// The hooked outputs of each decoder layer, in the paper's order. act_fn is the output of the
// MLP's activation module (silu(gate), or gelu-tanh(gate) for Gemma), as the authors' code hooks
// `mlp.act_fn`; it is not the product act_fn(gate)*up that feeds down_proj. Zeroing a channel of
// either zeroes the same down_proj input, but their stage-1 importances differ.
enum class Module : uint8_t {
    q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, act_fn, down_proj, post_attention_layernorm
};
inline constexpr int kNumModules = 9;
inline constexpr std::array<Module, kNumModules> kAllModules = {
    Module::q_proj, Module::k_proj, Module::v_proj, Module::o_proj, Module::gate_proj,
    Module::up_proj, Module::act_fn, Module::down_proj, Module::post_attention_layernorm};

std::string_view module_name(Module m);
std::optional<Module> module_from_name(std::string_view name);
// True for the outputs of linear layers (all but act_fn and post_attention_layernorm).
bool module_is_linear(Module m);

struct Neuron {
    int layer = 0;
    Module module = Module::down_proj;
    int channel = 0;
    auto operator<=>(const Neuron&) const = default;
    bool operator==(const Neuron&) const = default;
};
std::string to_string(const Neuron& n);  // "L3.down_proj:7"

// How a masked channel is ablated. zero is the paper's; the others separate "information removed"
// from "pushed off-distribution":
//   mean   the channel's mean clean value over the calibration positions,
//   scale  the value times `factor`,
//   clamp  the value clipped to [q(1 - p/100), q(p/100)] of its clean values (p = percentile),
//          quantiles with linear interpolation (numpy's default).
enum class Ablation : uint8_t { zero, mean, scale, clamp };
std::string_view ablation_name(Ablation a);

// A neuron to ablate, at every position (positions empty) or only at the listed positions.
// mean and clamp need statistics of the clean values: `lo`/`hi` (mean: lo == hi). When they are
// absent the engine measures them on the ids it scores (the probe's positions), or
// Engine::calibrate() fills them from other ids (a dataset sample).
struct MaskEntry {
    MaskEntry() = default;
    MaskEntry(Neuron n, std::vector<int> pos = {}) : neuron(n), positions(std::move(pos)) {}  // zeroed
    Neuron neuron;
    std::vector<int> positions;
    Ablation mode = Ablation::zero;
    double factor = 1.0;       // scale
    double percentile = 0.0;   // clamp, 50..100
    std::optional<double> lo, hi;
    bool operator==(const MaskEntry&) const = default;
    bool needs_stats() const { return (mode == Ablation::mean || mode == Ablation::clamp) && !(lo && hi); }
};
using MaskSpec = std::vector<MaskEntry>;
bool mask_needs_stats(const MaskSpec& spec);

// Parses a mask spec: the inline form "L3.down_proj:7,L0.o_proj:12" (optionally
// "L3.down_proj:7@0;5" for positions 0 and 5, and "=mean", "=scale:0.5", "=clamp:95" or "=zero"
// for the ablation mode), a JSON array [{"layer":3,"module":"down_proj","channel":7,
// "mode":"scale","factor":0.5},...] or the path of a file holding such JSON. Throws
// achilles::Error naming the bad entry.
MaskSpec parse_mask_spec(std::string_view spec);
std::string mask_spec_to_json(const MaskSpec& spec);   // compact JSON array
std::string mask_spec_to_inline(const MaskSpec& spec);

// Shape of the model, for validating masks: width of each module's output.
struct ModelShape {
    int layers = 0;
    std::array<int, kNumModules> width{};  // indexed by Module
    int module_width(Module m) const { return width[static_cast<size_t>(m)]; }
};
// Throws Error if any entry is out of range for the model.
void validate_mask(const MaskSpec& spec, const ModelShape& shape);

// One weight of a linear layer scaled by `factor` (0 zeroes it) for one evaluation, in memory
// only: W[row, col] in Hugging Face's [out, in] layout. Inline form "L1.down_proj[2070,431]*0".
struct WeightEdit {
    int layer = 0;
    Module matrix = Module::down_proj;  // a linear module: q/k/v/o_proj, gate_proj, up_proj, down_proj
    int row = 0, col = 0;
    double factor = 0.0;
    bool operator==(const WeightEdit&) const = default;
};
std::vector<WeightEdit> parse_weight_edits(std::string_view spec);
std::string to_string(const WeightEdit& e);
// In-features of a linear module's weight (its input width); 0 for act_fn and the norm.
int module_input_width(Module m, const ModelShape& shape);
// Throws Error naming the edit when its matrix is not linear or its row/col is out of range.
void validate_weight_edits(const std::vector<WeightEdit>& edits, const ModelShape& shape);

}  // namespace achilles
