// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Model families: one descriptor per supported model_type (core/src/model/families/<name>.cpp).
// Plain C++ (no torch): config.json parsing reads the defaults and rules from here, the weight
// table the tensor names and which optional tensors exist, the forward pass the norm style,
// activation, embedding scale and the per-layer attention windows.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace achilles {

struct ModelConfig;

// Whether a family has an optional tensor (a bias, a q/k norm, a sandwich norm).
enum class Presence : uint8_t {
    none,        // never: a tensor of that name is reported as unused
    required,    // always: missing -> Error naming the tensor and the file
    if_config,   // required when the config's flag is on (attention_bias, mlp_bias), else none
    if_present,  // the checkpoint decides (CTranslate2 style): used when the tensor is there
};

enum class NormStyle : uint8_t {
    rms,           // HF LlamaRMSNorm: w * (x / rms(x)), statistics in float32
    rms_one_plus,  // Gemma: (x / rms(x)) * (1 + w), all in float32, then the input dtype
};

// Which layers use the sliding window when config.json has no layer_types (and a window is set).
enum class SlidingPattern : uint8_t {
    none,                  // llama, gemma: sliding_window is ignored
    all_layers,            // mistral, phi3
    even_layers,           // gemma2: layers 0, 2, 4, ...
    from_max_window_layers,  // qwen2/qwen3: layers >= max_window_layers, only with use_sliding_window
};

// transformers' <Family>Config defaults, used when config.json omits the field.
struct FamilyDefaults {
    std::optional<int> kv_heads{};    // nullopt: num_attention_heads
    std::optional<int> head_dim{};    // nullopt: hidden / heads
    double rms_norm_eps = 1e-6;
    int64_t max_position_embeddings = 2048;
    bool tie = false;
    std::string act = "silu";
    std::vector<int> bos{}, eos{};
    int pad = -1;
    int sliding_window = 0;           // 0: none
    int max_window_layers = 0;
    // soft-capping families (FamilyDescriptor::soft_capping)
    double query_pre_attn_scalar = 256.0;
    double attn_logit_softcapping = 50.0;
    double final_logit_softcapping = 30.0;
};

// HF tensor names, without the ".weight" / ".bias" suffix. Layer tensors are relative to
// layer_prefix + "<i>.". A fused name (qkv, gate_up) is used when the family is fused.
struct FamilyTensorNames {
    const char* embed = "model.embed_tokens";
    const char* final_norm = "model.norm";
    const char* lm_head = "lm_head";
    const char* layer_prefix = "model.layers.";
    const char* input_norm = "input_layernorm";
    const char* post_attn_norm = "post_attention_layernorm";
    const char* pre_ff_norm = "pre_feedforward_layernorm";
    const char* post_ff_norm = "post_feedforward_layernorm";
    const char* q = "self_attn.q_proj";
    const char* k = "self_attn.k_proj";
    const char* v = "self_attn.v_proj";
    const char* qkv = "self_attn.qkv_proj";
    const char* o = "self_attn.o_proj";
    const char* q_norm = "self_attn.q_norm";
    const char* k_norm = "self_attn.k_norm";
    const char* gate = "mlp.gate_proj";
    const char* up = "mlp.up_proj";
    const char* gate_up = "mlp.gate_up_proj";
    const char* down = "mlp.down_proj";
};

struct FamilyDescriptor {
    std::string model_type;           // config.json "model_type"
    FamilyDefaults defaults;
    FamilyTensorNames names;

    // ---- config.json reading
    // Keys holding the activation, first present wins; none present: defaults.act.
    std::vector<std::string> activation_keys = {"hidden_act"};
    bool reads_attention_bias = false;  // honours "attention_bias"
    bool attention_bias_fixed = false;  // q/k/v always have a bias (qwen2), no config field
    bool reads_mlp_bias = false;        // honours "mlp_bias"
    bool partial_rotary = false;        // accepts partial_rotary_factor != 1
    bool longrope_only = false;         // rope_scaling must be longrope (su) when present
    bool soft_capping = false;          // reads query_pre_attn_scalar and the two soft-capping values
    SlidingPattern sliding = SlidingPattern::none;

    // ---- tensors (the shapes follow from the config; see arch_tensor_slots)
    bool fused_qkv = false;           // names.qkv holds q, k, v stacked
    bool fused_gate_up = false;       // names.gate_up holds gate, up stacked
    Presence qkv_bias = Presence::none;
    Presence o_bias = Presence::none;
    Presence mlp_bias = Presence::none;  // gate, up and down biases
    Presence qk_norm = Presence::none;   // RMSNorm of q and k over head_dim, before RoPE
    Presence sandwich_norms = Presence::none;  // pre/post feed-forward norms; post-attn norm on the attention output

    // ---- forward
    NormStyle norm = NormStyle::rms;
    bool embed_scale = false;         // embeddings x sqrt(hidden) (in the compute dtype)
    std::string forced_activation;    // non-empty: this activation regardless of the config (gemma)
};

// The registered families, in registration order (the built-in ones first).
const std::vector<const FamilyDescriptor*>& families();
// nullptr when model_type is not registered.
const FamilyDescriptor* find_family(const std::string& model_type);
// The family of a parsed config. Throws Error naming the config file and model_type.
const FamilyDescriptor& family_of(const ModelConfig& config);
// Adds a family (kept for the life of the process). An out-of-tree family is one descriptor;
// registering a model_type twice throws Error.
void register_family(FamilyDescriptor descriptor);

// Whether `layer` slides by the family's pattern (used when config.json has no layer_types).
bool pattern_slides(const FamilyDescriptor& family, const ModelConfig& config, int layer);
// The attention window of every layer (0: full causal): config.layer_types when given, else the
// family's pattern; a layer slides only when sliding_window > 0.
std::vector<int> layer_windows(const FamilyDescriptor& family, const ModelConfig& config);
// Whether a Presence::if_config / required / if_present part is required by this config.
bool required_by(Presence p, bool config_flag);

}  // namespace achilles
