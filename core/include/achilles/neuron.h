// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

// A neuron to zero, at every position (positions empty) or only at the listed positions.
struct MaskEntry {
    Neuron neuron;
    std::vector<int> positions;
    bool operator==(const MaskEntry&) const = default;
};
using MaskSpec = std::vector<MaskEntry>;

// Parses a mask spec: the inline form "L3.down_proj:7,L0.o_proj:12" (optionally
// "L3.down_proj:7@0;5" for positions 0 and 5), a JSON array [{"layer":3,"module":"down_proj","channel":7},...]
// or the path of a file holding such JSON. Throws achilles::Error naming the bad entry.
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

}  // namespace achilles
