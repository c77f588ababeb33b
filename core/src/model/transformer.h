// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// libtorch side of the model (internal to core). Include only from core/src.
#include "achilles/checkpoint.h"
#include "achilles/engine.h"
#include "achilles/neuron.h"
#include <ATen/ATen.h>
#include <functional>
#include <memory>
#include <vector>

namespace achilles {

class Transformer;

// Hook registry. Each named site in forward() calls `site` with the module's output exactly as
// HF computes it ([B,T,C]; q and k before RoPE; phi3: slices of the fused outputs). A hook may
// record the tensor or replace it in place / by assignment. An empty registry costs one branch.
struct Hooks {
    std::function<void(int layer, Module module, at::Tensor& out)> site;
    std::function<void(at::Tensor& embeds)> embeddings;             // after scaling (gemma), [B,T,H]
    std::function<void(int layer, at::Tensor& residual)> residual;  // residual stream after a layer
    // Called at the start of each forward with the absolute position of its first token (the KV
    // cache length), so position-limited hooks stay right during cached decoding. Optional.
    std::function<void(int64_t first_position)> begin_forward;
    // Attention probabilities [B, heads, T, S] (float32, after softmax) of each layer. Setting it
    // switches attention to the explicit softmax(QK^T)V path for this forward; the fast path
    // (fused scaled_dot_product_attention) is used otherwise. Both give equal outputs.
    std::function<void(int layer, const at::Tensor& probs)> attention_probs;
    // The input of each linear module, read only, called just before it (q/k/v_proj: the
    // normed hidden state; o_proj: the attention output; gate/up_proj: the MLP input; down_proj:
    // act_fn(gate) * up after the sites' changes). For tracing and weight edits.
    std::function<void(int layer, Module matrix, const at::Tensor& x)> linear_input;
    // The caller needs only the sites (stage 1): forward_embeds stops after the last layer and
    // returns an undefined tensor (no final norm, no lm_head).
    bool skip_head = false;
    bool empty() const { return !site && !embeddings && !residual && !attention_probs && !linear_input; }
};

// Ablates the channels of `mask` (at every position, or only the listed positions) at their
// sites, by each entry's mode. Returns an empty Hooks when the mask is empty. Throws Error when a
// mean/clamp entry has no statistics (resolve_mask_stats first).
Hooks make_mask_hooks(const MaskSpec& mask);
// Fills the statistics of the mean/clamp entries that lack them from a clean forward over ids
// [1,T]: the channel's mean, or its [q(1-p/100), q(p/100)] quantiles, over all T positions.
MaskSpec resolve_mask_stats(const Transformer& model, const at::Tensor& ids, MaskSpec mask);
// The same pooled over samples (each its own forward; statistics over all their positions).
// progress (optional) is told after each sample and checked for cancellation before each.
MaskSpec resolve_mask_stats(const Transformer& model, const std::vector<at::Tensor>& samples, MaskSpec mask,
                            Progress* progress = nullptr);

// Single weights scaled by a factor (WeightEdit), as hooks: each edited linear's output gets
// (factor - 1) * W[row, col] * x[..., col] added on its row, x being the input the forward feeds
// it. Nothing on the model changes (an Engine stays immutable and shareable between threads), so
// the edit is undone exactly by dropping the hooks. Compose these before a mask's hooks: a mask
// then acts on the edited output. Throws Error for an out-of-range edit.
Hooks make_weight_edit_hooks(const Transformer& model, const std::vector<WeightEdit>& edits);
// Composes two registries (a then b) at each point.
Hooks compose(Hooks a, Hooks b);

// Per-layer KV cache for incremental decoding.
struct KVCache {
    std::vector<at::Tensor> k, v;  // per layer, [B, kv_heads, T_cached, head_dim]
    int64_t length = 0;
};

class Transformer {
public:
    // Builds the model from a checkpoint using the architecture table; validates every tensor
    // (missing / shape mismatch -> Error naming the tensor; unused -> warning).
    // progress (optional): reports stage "load" and honours cancellation between tensors.
    Transformer(const Checkpoint& ckpt, const LoadOptions& opt, std::vector<std::string>& warnings,
                Progress* progress = nullptr);
    // Builds from in-memory tensors named as in HF checkpoints (used by training: the tensors may
    // require grad and are used as given, no copy).
    Transformer(const ModelConfig& config, const std::map<std::string, at::Tensor>& weights);
    ~Transformer();

    const ModelConfig& config() const;
    at::Device device() const;             // device of the embeddings (first layer)
    at::ScalarType dtype() const;          // compute dtype
    ModelShape shape() const;
    at::Device head_device() const;        // device of the final norm / lm_head (logits)
    int64_t parameter_count() const;       // distinct weight elements (tied lm_head counted once)
    std::string device_summary() const;    // "cpu", "cuda:0" or a placement summary
    const std::vector<std::string>& warnings() const;  // unused tensors, ... (from loading)

    at::Tensor embed(const at::Tensor& ids) const;   // [B,T] int64 -> [B,T,H] (gemma: x sqrt(H))
    // Full forward over embeddings (from embed(), possibly perturbed). Returns float32 logits
    // [B,T,V] on the model's last device. With a cache, positions continue from cache->length.
    at::Tensor forward_embeds(at::Tensor embeds, const Hooks* hooks = nullptr, KVCache* cache = nullptr) const;
    at::Tensor forward(const at::Tensor& ids, const Hooks* hooks = nullptr, KVCache* cache = nullptr) const;
    // The final norm, lm_head and final soft-capping applied to a residual stream [B,T,H] (the
    // logit lens): float32 logits [B,T,V].
    at::Tensor head_logits(const at::Tensor& residual) const;
    // The weight [out, in] of a linear module of a layer (a view into a fused matrix for phi3),
    // for tracing and weight edits. Throws Error for act_fn and the norm.
    at::Tensor linear_weight(int layer, Module matrix) const;
    at::Tensor linear_bias(int layer, Module matrix) const;  // undefined when it has none

    struct Impl;
private:
    std::unique_ptr<Impl> impl_;
};

// Mean next-token cross-entropy pieces: nll per position 1..T-1 for one sequence [1,T].
at::Tensor next_token_nll(const at::Tensor& logits, const at::Tensor& ids);

// ids as a [1,T] int64 tensor on the model's embedding device.
at::Tensor ids_tensor(const Transformer& model, const std::vector<int>& ids);

// The one perplexity (Engine::perplexity, the search, dataset perplexity): the next-token NLL of
// ids [1,T] (T >= 2) with the mask's hooks, float64 on the host, and ppl = exp(mean nll).
// Cancellable: progress.check() before the forward and at every hook site inside it.
struct SequenceNll {
    std::vector<double> nll;  // positions 1..T-1
    double mean_nll = 0;
    double ppl = 0;
};
// `before` (optional): hooks run ahead of the mask's at every point (weight edits).
SequenceNll score_sequence(const Transformer& model, const at::Tensor& ids, const MaskSpec& mask, Progress& progress,
                           const Hooks* before = nullptr);

// KV-cached decoding (prefill, then one token at a time) with the hooks applied at every step.
// Greedy or sampled (temperature, top-k, top-p; own seeded RNG, deterministic given the seed).
// logprob is log_softmax of the raw logits. Stops at any id of eos_ids when opt.stop_at_eos.
GenerateResult generate_tokens(const Transformer& model, const Tokenizer* tokenizer, const std::vector<int>& eos_ids,
                               const std::vector<int>& prompt, const GenerateOptions& opt, const Hooks* hooks,
                               Progress& progress, const std::function<void(const TokenStep&)>& on_token = {});

}  // namespace achilles
