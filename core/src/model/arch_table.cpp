// SPDX-License-Identifier: GPL-3.0-or-later
// The architecture table: which tensors each supported family has, named as in HF checkpoints.
#include "model/arch.h"
#include "achilles/error.h"

namespace achilles {

namespace {
// clang-format off
//                         type       fqkv   fgu    qkvB   oB     attB   mlpB   qkN    sand   +1     escl   gelu   altSW  flagSW
constexpr ArchTraits kArch[] = {
    {"llama",   false, false, false, true,  true,  true,  false, false, false, false, false, false, false},
    {"mistral", false, false, false, false, false, false, false, false, false, false, false, false, false},
    {"qwen2",   false, false, true,  false, false, false, false, false, false, false, false, false, true },
    {"qwen3",   false, false, false, true,  true,  false, true,  false, false, false, false, false, true },
    {"gemma",   false, false, false, true,  true,  false, false, false, true,  true,  true,  false, false},
    {"gemma2",  false, false, false, true,  true,  false, false, true,  true,  true,  true,  true,  false},
    {"phi3",    true,  true,  false, false, false, false, false, false, false, false, false, false, false},
};
// clang-format on
}  // namespace

const ArchTraits& arch_traits(const ModelConfig& config) {
    for (const auto& a : kArch)
        if (config.model_type == a.model_type) return a;
    std::string known;
    for (const auto& a : kArch) known += std::string(known.empty() ? "" : ", ") + a.model_type;
    throw Error(config.source_path.empty() ? std::string("config.json") : config.source_path, "model_type",
                "unsupported model_type '" + config.model_type + "' (supported: " + known + ")");
}

std::vector<TensorSlot> arch_tensor_slots(const ModelConfig& c, ModelWeights& w) {
    const ArchTraits& a = arch_traits(c);
    const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, D = c.head_dim;
    const int64_t NQ = int64_t(c.num_attention_heads) * D, NKV = int64_t(c.num_key_value_heads) * D;
    std::vector<TensorSlot> t;
    w.layers.assign(size_t(c.num_hidden_layers), LayerWeights{});
    t.push_back({"model.embed_tokens.weight", {V, H}, &w.embed, -1});
    for (int i = 0; i < c.num_hidden_layers; ++i) {
        LayerWeights& L = w.layers[size_t(i)];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        auto add = [&](const std::string& n, std::vector<int64_t> s, at::Tensor* slot) {
            t.push_back({p + n, std::move(s), slot, i});
        };
        add("input_layernorm.weight", {H}, &L.input_norm);
        const bool qkv_bias = a.qkv_bias_always || (a.attn_bias_flag && c.attention_bias);
        const bool o_bias = a.o_bias_with_attn && a.attn_bias_flag && c.attention_bias;
        if (a.fused_qkv) {
            add("self_attn.qkv_proj.weight", {NQ + 2 * NKV, H}, &L.qkv_w);
        } else {
            add("self_attn.q_proj.weight", {NQ, H}, &L.q_w);
            add("self_attn.k_proj.weight", {NKV, H}, &L.k_w);
            add("self_attn.v_proj.weight", {NKV, H}, &L.v_w);
            if (qkv_bias) {
                add("self_attn.q_proj.bias", {NQ}, &L.q_b);
                add("self_attn.k_proj.bias", {NKV}, &L.k_b);
                add("self_attn.v_proj.bias", {NKV}, &L.v_b);
            }
        }
        add("self_attn.o_proj.weight", {H, NQ}, &L.o_w);
        if (o_bias) add("self_attn.o_proj.bias", {H}, &L.o_b);
        if (a.qk_norm) {
            add("self_attn.q_norm.weight", {D}, &L.q_norm);
            add("self_attn.k_norm.weight", {D}, &L.k_norm);
        }
        add("post_attention_layernorm.weight", {H}, &L.post_attn_norm);
        if (a.sandwich_norms) {
            add("pre_feedforward_layernorm.weight", {H}, &L.pre_ff_norm);
            add("post_feedforward_layernorm.weight", {H}, &L.post_ff_norm);
        }
        const bool mlp_bias = a.mlp_bias_flag && c.mlp_bias;
        if (a.fused_gate_up) {
            add("mlp.gate_up_proj.weight", {2 * I, H}, &L.gate_up_w);
        } else {
            add("mlp.gate_proj.weight", {I, H}, &L.gate_w);
            add("mlp.up_proj.weight", {I, H}, &L.up_w);
            if (mlp_bias) {
                add("mlp.gate_proj.bias", {I}, &L.gate_b);
                add("mlp.up_proj.bias", {I}, &L.up_b);
            }
        }
        add("mlp.down_proj.weight", {H, I}, &L.down_w);
        if (mlp_bias) add("mlp.down_proj.bias", {H}, &L.down_b);
    }
    t.push_back({"model.norm.weight", {H}, &w.final_norm, -2});
    if (!c.tie_word_embeddings) t.push_back({"lm_head.weight", {V, H}, &w.lm_head, -2});
    return t;
}

}  // namespace achilles
