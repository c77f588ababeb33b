// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace achilles {

struct ModelShape;  // achilles/neuron.h

// Plausibility bounds on the sizes config.json states, far above every released model. A config
// beyond them is refused by name before anything is allocated for it (a 600-byte file claiming
// 2^31-1 layers must not cost gigabytes before it fails).
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxVocab = int64_t(1) << 21;      // also the tokenizer's id bound
inline constexpr int64_t kMaxWidth = int64_t(1) << 20;      // hidden, intermediate, heads x head_dim
inline constexpr int64_t kMaxHeads = 4096;
inline constexpr int64_t kMaxHeadDim = 8192;
inline constexpr int64_t kMaxPositions = int64_t(1) << 26;  // max_position_embeddings and RoPE originals

// The fields of a Hugging Face config.json that the supported architectures use.
// Defaults follow transformers' per-architecture config classes.
struct RopeScaling {
    std::string type;                    // "" (none), "llama3", "linear", "dynamic", "longrope", "su"
    double factor = 1.0;
    double low_freq_factor = 1.0, high_freq_factor = 4.0;   // llama3
    int64_t original_max_position_embeddings = 0;           // llama3, longrope
    std::vector<double> long_factor, short_factor;          // longrope (phi3)
    std::optional<double> attention_factor;                  // longrope override
};

struct ModelConfig {
    std::string model_type;              // llama, mistral, qwen2, qwen3, gemma, gemma2, phi3
    std::string architecture;            // architectures[0], informative
    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_hidden_layers = 0;
    int num_attention_heads = 0;
    int num_key_value_heads = 0;
    int head_dim = 0;                    // resolved: explicit head_dim or hidden/heads
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    double partial_rotary_factor = 1.0;
    RopeScaling rope_scaling;
    int64_t max_position_embeddings = 2048;
    bool tie_word_embeddings = false;
    bool attention_bias = false;         // q/k/v (and o for llama) bias
    bool mlp_bias = false;
    std::string hidden_act = "silu";     // silu, gelu_pytorch_tanh, gelu
    // gemma2
    double query_pre_attn_scalar = 0.0;  // 0: use head_dim
    double attn_logit_softcapping = 0.0; // 0: off
    double final_logit_softcapping = 0.0;
    int sliding_window = 0;              // 0: off
    bool use_sliding_window = true;      // qwen2 flag
    int max_window_layers = 0;           // qwen2/qwen3: layers >= this use the window (when on)
    // Per layer "sliding_attention" or "full_attention" (config's layer_types, else derived by the
    // family's sliding pattern as transformers does: gemma2 even layers; qwen2/3 layers >=
    // max_window_layers; mistral/phi3 all). The forward uses it for each layer's window; an empty
    // list (a config built in code) means the family's pattern.
    std::vector<std::string> layer_types;
    // special tokens from config.json (tokenizer files may override)
    std::vector<int> bos_token_ids, eos_token_ids;
    int pad_token_id = -1;
    std::string torch_dtype;             // "float32", "bfloat16", ...
    std::string source_path;             // the config.json read
    std::string raw_json;                // for fingerprints
};

// Reads and validates config.json. Throws achilles::Error naming the file and the field
// (unknown model_type, missing or non-positive sizes, heads not dividing, ...).
ModelConfig load_config(const std::string& path);
ModelConfig parse_config(const std::string& json_text, const std::string& source_name);
// The model_type values parse_config accepts (the registered families, core/src/model/family.h).
std::vector<std::string> supported_model_types();
// eos_token_id of generation_config.json (an id or a list of ids), each in [0, 2^31-1].
// Missing or null: empty. Throws Error naming the file and field.
std::vector<int> parse_generation_eos(const std::string& json_text, const std::string& source_name);
std::vector<int> load_generation_eos(const std::string& path);
// Widths of the 9 hooked modules as the config states them (the engine's Transformer::shape()
// agrees once the weights are checked against the config): for validating saved results
// before a model is loaded.
ModelShape shape_from_config(const ModelConfig& c);

}  // namespace achilles
