// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Training a small Llama-architecture model from scratch on the procedural story corpus
// (libtorch autograd, hand-written AdamW), reusing the core Transformer forward.
// Internal to core's achilles_tools library (includes ATen): achilles-cli sees run_training()
// and the plain types of achilles/train.h; core's tests use train_model() with or without a sink.
#include "achilles/config.h"
#include "achilles/progress.h"
#include "achilles/train.h"
#include <ATen/ATen.h>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace achilles {

struct TrainResult {
    ModelConfig config;
    std::map<std::string, at::Tensor> weights;   // HF names, float32, final values
    std::vector<TrainLogRow> log;                 // every step
    double initial_eval_loss = 0, eval_loss = 0;  // held-out loss before and after training
    double eval_ppl = 0;                          // exp(eval_loss)
    int64_t parameters = 0;
    int64_t corpus_bytes = 0, corpus_stories = 0, corpus_tokens = 0;
    double seconds = 0;                           // training loop wall time
    double tokens_per_s = 0;
    std::string tokenizer_path;                   // the tokenizer.model used
    std::string out_dir;
};

// One decoupled AdamW update (as torch.optim.AdamW): m,v moments, t the 1-based step.
struct AdamWSettings { double lr, beta1, beta2, eps, weight_decay; };
void adamw_update(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, int t, const AdamWSettings& s,
                  bool decay);
// Learning rate at 0-based step: linear warmup then cosine decay to lr * min_lr_ratio.
double train_lr(const TrainOptions& o, int step);

// The Llama config.json content of a training run (vocab from the tokenizer).
ModelConfig make_train_config(const TrainOptions& o, int vocab_size);
std::string train_config_json(const ModelConfig& c);
// Initial weights, HF-named, float32 on CPU, seeded (normal(0, std); o_proj/down_proj scaled by
// 1/sqrt(2*layers); norms = 1). No lm_head: embeddings are tied.
std::map<std::string, at::Tensor> init_train_weights(const ModelConfig& c, uint64_t seed, double init_std);
// Writes the HF layout into dir (each file atomically): config.json, model.safetensors (F32),
// tokenizer.model (copied), tokenizer_config.json, generation_config.json.
void save_hf_model(const std::string& dir, const ModelConfig& c,
                   const std::map<std::string, at::Tensor>& weights, const std::string& tokenizer_model,
                   const std::map<std::string, std::string>& metadata = {});

// Where a run's outputs go while it trains. Training with no sink keeps everything in memory
// (the TrainResult); ModelFolderSink writes the HF model folder.
class TrainSink {
public:
    virtual ~TrainSink() = default;
    // The tokenizer.model the run uses (trained: a temporary file); returns the path to record.
    virtual std::string keep_tokenizer(const std::string& path, bool trained) { return path; }
    // Rows at the log cadence (step 1, every log_every, evaluations, the last step).
    virtual void log_row(const TrainLogRow& row) {}
    // The weights after `step` (every save_every and at the end).
    virtual void save(const ModelConfig& config, const std::map<std::string, at::Tensor>& weights,
                      const std::string& tokenizer_model, const std::map<std::string, std::string>& metadata) {}
    // The run is over; summary_json is train_summary.json's content.
    virtual void finish(const TrainResult& result, const std::string& summary_json) {}
};

// The HF model folder: config.json, model.safetensors, tokenizer.model, tokenizer_config.json,
// generation_config.json (each written atomically), loss.csv and train_summary.json.
class ModelFolderSink : public TrainSink {
public:
    explicit ModelFolderSink(std::string dir);  // creates the folder; throws Error when dir is empty
    std::string keep_tokenizer(const std::string& path, bool trained) override;
    void log_row(const TrainLogRow& row) override;
    void save(const ModelConfig& config, const std::map<std::string, at::Tensor>& weights,
              const std::string& tokenizer_model, const std::map<std::string, std::string>& metadata) override;
    void finish(const TrainResult& result, const std::string& summary_json) override;

private:
    std::string dir_;
    std::ofstream csv_;  // loss.csv, one flushed row at a time
};

// The whole run: corpus -> tokenizer -> training -> held-out eval, its outputs sent to `sink`
// (none: in memory only). Deterministic for a seed and thread count. Throws Error for bad
// options, Cancelled when progress is cancelled (what the sink saved before stays intact).
TrainResult train_model(const TrainOptions& o, Progress& progress, TrainSink* sink = nullptr);
// train_model into ModelFolderSink(o.out_dir).
TrainResult train_to_folder(const TrainOptions& o, Progress& progress);


}  // namespace achilles
