// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Training a small Llama-architecture model from scratch on the seeded procedural story corpus
// (libtorch autograd, hand-written AdamW, reusing the core Transformer). Torch-free interface of
// the achilles_tools library (linked by achilles-cli, not by the GUI).
#include "achilles/progress.h"
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace achilles {

struct TrainOptions {
    std::string out_dir;              // HF model folder to write (created; files replaced atomically)
    uint64_t seed = 1;                // weights init + batch order + corpus (unless corpus_seed set)
    int steps = 1000;
    int hidden = 192, layers = 4, heads = 6, kv_heads = 6, intermediate = 512;
    int seq_len = 256;                // every sequence starts with BOS at a story start
    int batch = 16;
    double lr = 3e-3;                 // peak learning rate
    double min_lr_ratio = 0.1;        // cosine decays to lr * min_lr_ratio
    int warmup = -1;                  // -1: min(200, steps / 10)
    double weight_decay = 0.1;        // decoupled, on matrices only (not norms)
    double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
    double grad_clip = 1.0;           // global L2 norm; <= 0: off
    double init_std = 0.02;
    double rope_theta = 10000.0, rms_norm_eps = 1e-5;
    int vocab = 1024;                 // SentencePiece BPE vocabulary (with byte fallback)
    std::string tokenizer;            // reuse this tokenizer.model instead of training one
    size_t corpus_bytes = 8u << 20;   // generated training text
    uint64_t corpus_seed = 0;         // 0: use seed
    size_t tokenizer_train_bytes = 3u << 20;  // prefix of the corpus the tokenizer trains on
    int threads = 0;                  // at::set_num_threads; 0: leave as is
    int log_every = 10;               // loss.csv row every n steps (also the first and last)
    int eval_every = 0;               // held-out loss every n steps; 0: only at the end
    int eval_batches = 8;             // held-out batches (of `batch` sequences) per evaluation
    int save_every = 0;               // also write the model folder every n steps; 0: only at the end
};

struct TrainLogRow {
    int step = 0;                     // 1-based step just taken
    double loss = 0, lr = 0, grad_norm = 0;
    int64_t tokens = 0;               // training tokens seen so far
    double elapsed_s = 0;
    double eval_loss = -1;            // held-out loss when evaluated at this step, else -1
};

struct TrainReport {
    std::vector<TrainLogRow> log;       // every step
    double initial_eval_loss = 0, eval_loss = 0, eval_ppl = 0;  // held-out stories
    int64_t parameters = 0;
    int64_t corpus_bytes = 0, corpus_stories = 0, corpus_tokens = 0;
    double seconds = 0, tokens_per_s = 0;
    std::string out_dir;
};

// Validates the training hyperparameters; throws Error whose field is the TrainOptions member
// (e.g. "kv_heads"). Front ends map members to their own option names.
void validate(const TrainOptions& o);

// corpus -> SentencePiece tokenizer -> training -> held-out eval -> HF model folder (config.json,
// model.safetensors, tokenizer.model, tokenizer_config.json, generation_config.json) + loss.csv +
// train_summary.json. Deterministic for a seed and thread count. Throws Error (also when
// out_dir is empty, field "out_dir"), or Cancelled.
TrainReport run_training(const TrainOptions& o, Progress& progress);

}  // namespace achilles
