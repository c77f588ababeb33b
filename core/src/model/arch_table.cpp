// SPDX-License-Identifier: GPL-3.0-or-later
// The tensor table: which tensors a model has, named by its family descriptor, shaped by its config.
#include "model/arch.h"
#include "achilles/error.h"

namespace achilles {

std::vector<TensorSlot> arch_tensor_slots(const ModelConfig& c, ModelWeights& w,
                                          const std::function<bool(const std::string&)>& has) {
    const FamilyDescriptor& f = family_of(c);
    const FamilyTensorNames& nm = f.names;
    const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size, D = c.head_dim;
    const int64_t NQ = int64_t(c.num_attention_heads) * D, NKV = int64_t(c.num_key_value_heads) * D;
    std::vector<TensorSlot> t;
    w.layers.assign(size_t(c.num_hidden_layers), LayerWeights{});
    t.push_back({std::string(nm.embed) + ".weight", {V, H}, &w.embed, -1});
    for (int i = 0; i < c.num_hidden_layers; ++i) {
        LayerWeights& L = w.layers[size_t(i)];
        const std::string p = nm.layer_prefix + std::to_string(i) + ".";
        auto add = [&](const char* n, const char* suffix, std::vector<int64_t> s, at::Tensor* slot) {
            t.push_back({p + n + suffix, std::move(s), slot, i});
        };
        // Whether an optional part is there: by the config flag, or by the checkpoint's tensors.
        auto wanted = [&](Presence pr, bool flag, const char* probe, const char* suffix) {
            if (pr == Presence::if_present) return bool(has) && has(p + probe + suffix);
            return required_by(pr, flag);
        };
        add(nm.input_norm, ".weight", {H}, &L.input_norm);
        if (f.fused_qkv) {
            add(nm.qkv, ".weight", {NQ + 2 * NKV, H}, &L.qkv_w);
        } else {
            add(nm.q, ".weight", {NQ, H}, &L.q_w);
            add(nm.k, ".weight", {NKV, H}, &L.k_w);
            add(nm.v, ".weight", {NKV, H}, &L.v_w);
            if (wanted(f.qkv_bias, c.attention_bias, nm.q, ".bias")) {
                add(nm.q, ".bias", {NQ}, &L.q_b);
                add(nm.k, ".bias", {NKV}, &L.k_b);
                add(nm.v, ".bias", {NKV}, &L.v_b);
            }
        }
        add(nm.o, ".weight", {H, NQ}, &L.o_w);
        if (wanted(f.o_bias, c.attention_bias, nm.o, ".bias")) add(nm.o, ".bias", {H}, &L.o_b);
        if (wanted(f.qk_norm, false, nm.q_norm, ".weight")) {
            add(nm.q_norm, ".weight", {D}, &L.q_norm);
            add(nm.k_norm, ".weight", {D}, &L.k_norm);
        }
        add(nm.post_attn_norm, ".weight", {H}, &L.post_attn_norm);
        if (wanted(f.sandwich_norms, false, nm.pre_ff_norm, ".weight")) {
            add(nm.pre_ff_norm, ".weight", {H}, &L.pre_ff_norm);
            add(nm.post_ff_norm, ".weight", {H}, &L.post_ff_norm);
        }
        const bool mlp_bias = wanted(f.mlp_bias, c.mlp_bias, nm.down, ".bias");
        if (f.fused_gate_up) {
            add(nm.gate_up, ".weight", {2 * I, H}, &L.gate_up_w);
        } else {
            add(nm.gate, ".weight", {I, H}, &L.gate_w);
            add(nm.up, ".weight", {I, H}, &L.up_w);
            if (mlp_bias) {
                add(nm.gate, ".bias", {I}, &L.gate_b);
                add(nm.up, ".bias", {I}, &L.up_b);
            }
        }
        add(nm.down, ".weight", {H, I}, &L.down_w);
        if (mlp_bias) add(nm.down, ".bias", {H}, &L.down_b);
    }
    t.push_back({std::string(nm.final_norm) + ".weight", {H}, &w.final_norm, -2});
    if (!c.tie_word_embeddings) t.push_back({std::string(nm.lm_head) + ".weight", {V, H}, &w.lm_head, -2});
    return t;
}

std::string lm_head_name(const ModelConfig& c) { return std::string(family_of(c).names.lm_head) + ".weight"; }
std::string embed_name(const ModelConfig& c) { return std::string(family_of(c).names.embed) + ".weight"; }

}  // namespace achilles
