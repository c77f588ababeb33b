// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The torch-free face of a loaded model. ui/ and app/ see only this and plain value types;
// the libtorch implementation lives in core/src/model.
#include "achilles/neuron.h"
#include "achilles/progress.h"
#include "achilles/tokenizer.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace achilles {

struct LoadOptions {
    std::string path;                  // model folder, or "default" for the embedded model
    std::string device = "cpu";        // cpu, cuda, cuda:N
    std::vector<std::string> devices;  // several CUDA devices: layer-wise placement
    std::string dtype = "auto";        // auto, f32, f16, bf16
};

struct ModelFingerprint {
    std::string path;
    std::string config_hash;
    std::string header_hash;
    bool operator==(const ModelFingerprint&) const = default;
};

struct ModelInfo {
    ModelFingerprint fingerprint;
    std::string model_type;            // llama, qwen2, ...
    std::string architecture;          // LlamaForCausalLM, ...
    std::string dtype;                 // compute dtype: f32, f16, bf16
    std::string device;                // cpu, cuda:0, or a placement summary
    int64_t parameters = 0;
    int64_t weight_bytes = 0;
    int layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
    int bos_id = -1, eos_id = -1;
    bool has_tokenizer = false;
    ModelShape shape;                  // widths of the 9 hooked modules
    std::vector<std::string> warnings; // unused tensors, ...
};

struct PplResult {
    double ppl = 0;                    // exp(mean nll)
    std::vector<double> nll;           // per scored token (positions 1..T-1)
    int tokens = 0;                    // T, the ids scored including the first
};

struct GenerateOptions {
    int max_new = 64;
    bool greedy = true;
    double temperature = 1.0;
    double top_p = 1.0;
    int top_k = 0;                     // 0: off
    uint64_t seed = 42;
    int alternatives = 5;              // top-k alternatives recorded per step
    bool stop_at_eos = true;
};

struct TokenAlternative {
    int id = 0;
    std::string text;
    double logprob = 0;
};
struct TokenStep {
    int id = 0;
    std::string text;                  // decoded piece
    double logprob = 0;                // log-probability of the chosen token (full softmax)
    std::vector<TokenAlternative> alternatives;
};
struct GenerateResult {
    std::vector<int> prompt_ids;
    std::vector<TokenStep> steps;
    std::string text;                  // decoded continuation
    bool stopped_at_eos = false;
};

class Engine {
public:
    // Loads a checkpoint (or the embedded default model). Throws achilles::Error; honours cancel.
    static std::unique_ptr<Engine> load(const LoadOptions& opt, Progress& progress);
    ~Engine();

    const ModelInfo& info() const;
    const Tokenizer* tokenizer() const;  // null when the folder has no tokenizer files

    // [BOS] + encode(text), truncated to max_tokens. Throws when there is no tokenizer.
    std::vector<int> encode_for_ppl(std::string_view text, int max_tokens = 512) const;

    // exp(mean next-token cross-entropy) over ids exactly as given, with the mask applied.
    // Cancellable inside the forward (throws Cancelled).
    PplResult perplexity(const std::vector<int>& ids, const MaskSpec& mask, Progress& progress) const;
    // The same with single weights scaled for this call only: the edited linears' outputs are
    // corrected in the forward; the weights themselves (and the files) are never changed, so the
    // engine stays shareable between threads.
    PplResult perplexity(const std::vector<int>& ids, const MaskSpec& mask, const std::vector<WeightEdit>& edits,
                         Progress& progress) const;

    // Fills the statistics of the mask's mean/clamp entries from a clean forward over ids (all
    // positions): a dataset sample or another probe. Entries that have them are kept as they are.
    MaskSpec calibrate(const std::vector<int>& ids, const MaskSpec& mask, Progress& progress) const;
    // The same pooled over several samples (a dataset sample): one clean forward per sample, and
    // each channel's mean and quantiles over every position of every sample. Reports progress per
    // sample; throws Cancelled between samples.
    MaskSpec calibrate(const std::vector<std::vector<int>>& samples, const MaskSpec& mask, Progress& progress) const;

    // KV-cached decoding; on_token is called after each new token (streaming).
    GenerateResult generate(const std::vector<int>& prompt, const GenerateOptions& opt,
                            const MaskSpec& mask, Progress& progress,
                            const std::function<void(const TokenStep&)>& on_token = {}) const;

private:
    struct Impl;                        // libtorch side (core/src/model/engine_internal.h)
    friend struct EngineAccess;         // core's internal accessor, defined in the same header
    explicit Engine(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Where the embedded default model lives (resources/default-model in the tree, or the installed
// share directory). Throws Error if not found.
std::string default_model_dir();
// libtorch version string, for result documents.
std::string libtorch_version();
// Devices this libtorch can run on: "cpu" then "cuda:0", "cuda:1", ... (none without CUDA).
std::vector<std::string> available_devices();

}  // namespace achilles
