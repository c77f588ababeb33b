// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli train: trains a small Llama-architecture model on the procedural story corpus.
#include "commands.h"
#include "cli_util.h"

#include "achilles/error.h"
#include "achilles/progress.h"
#include "achilles/train.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>

namespace achilles::cli {
namespace {

// Core names a bad option by its TrainOptions member; the user typed a flag.
std::string flag_of(const std::string& member) {
    if (member == "out_dir") return "--out";
    if (member == "corpus_bytes") return "--corpus-mb";
    std::string f = "--" + member;
    for (char& c : f)
        if (c == '_') c = '-';
    return f;
}

std::atomic<Progress*> g_train_progress{nullptr};
extern "C" void on_train_sigint(int) {
    if (Progress* p = g_train_progress.load()) p->cancel();
}

}  // namespace

void register_train(CLI::App& app, Globals& g, Runner& run) {
    auto o = std::make_shared<TrainOptions>();
    auto corpus_mb = std::make_shared<double>(8.0);
    CLI::App* cmd = app.add_subcommand("train", "Train a small Llama-architecture model on the seeded story corpus");
    cmd->add_option("--out", o->out_dir, "Output model folder (HF layout)")->required();
    cmd->add_option("--seed", o->seed, "Seed for weights, batches and corpus")->capture_default_str();
    cmd->add_option("--steps", o->steps, "Optimizer steps")->capture_default_str();
    cmd->add_option("--hidden", o->hidden, "hidden_size")->capture_default_str();
    cmd->add_option("--layers", o->layers, "num_hidden_layers")->capture_default_str();
    cmd->add_option("--heads", o->heads, "num_attention_heads")->capture_default_str();
    cmd->add_option("--kv-heads", o->kv_heads, "num_key_value_heads")->capture_default_str();
    cmd->add_option("--intermediate", o->intermediate, "intermediate_size")->capture_default_str();
    cmd->add_option("--seq-len", o->seq_len, "Training sequence length (each starts with BOS)")->capture_default_str();
    cmd->add_option("--batch", o->batch, "Sequences per step")->capture_default_str();
    cmd->add_option("--lr", o->lr, "Peak learning rate (AdamW)")->capture_default_str();
    cmd->add_option("--min-lr-ratio", o->min_lr_ratio, "Final lr as a fraction of --lr (cosine)")->capture_default_str();
    cmd->add_option("--warmup", o->warmup, "Warmup steps (-1: min(200, steps/10))")->capture_default_str();
    cmd->add_option("--weight-decay", o->weight_decay, "Decoupled weight decay on matrices")->capture_default_str();
    cmd->add_option("--beta1", o->beta1, "AdamW beta1")->capture_default_str();
    cmd->add_option("--beta2", o->beta2, "AdamW beta2")->capture_default_str();
    cmd->add_option("--grad-clip", o->grad_clip, "Global gradient norm clip (0: off)")->capture_default_str();
    cmd->add_option("--init-std", o->init_std, "Initial weight std")->capture_default_str();
    cmd->add_option("--vocab", o->vocab, "SentencePiece BPE vocabulary size")->capture_default_str();
    cmd->add_option("--tokenizer", o->tokenizer, "Reuse this tokenizer.model instead of training one");
    cmd->add_option("--corpus-mb", *corpus_mb, "Generated corpus size in MB")->capture_default_str();
    cmd->add_option("--corpus-seed", o->corpus_seed, "Corpus seed (0: --seed)")->capture_default_str();
    cmd->add_option("--threads", o->threads, "CPU threads (0: libtorch default)")->capture_default_str();
    cmd->add_option("--log-every", o->log_every, "loss.csv row every n steps")->capture_default_str();
    cmd->add_option("--eval-every", o->eval_every, "Held-out loss every n steps (0: at the end)")->capture_default_str();
    cmd->add_option("--eval-batches", o->eval_batches, "Held-out batches per evaluation")->capture_default_str();
    cmd->add_option("--save-every", o->save_every, "Also save the model every n steps (0: at the end)")->capture_default_str();

    on_run(cmd, run, [&g, o, corpus_mb]() -> int {  // body indented as before, to keep this diff small
        {
            if (!(*corpus_mb > 0.0) || *corpus_mb > 4096.0) {
                std::cerr << "error: --corpus-mb must be in (0, 4096]\n";
                return 2;
            }
            o->corpus_bytes = static_cast<size_t>(*corpus_mb * 1024.0 * 1024.0);
            const bool quiet = g.quiet || g.json;
            Progress progress([quiet](std::string_view stage, double fraction, std::string_view message) {
                if (quiet && fraction >= 0) return;
                if (stage == "train" && !message.empty()) {
                    std::cerr << "\r" << message << "     " << std::flush;
                    if (fraction >= 1.0) std::cerr << "\n";
                } else if (!message.empty()) {
                    std::cerr << (stage.empty() ? std::string_view("train") : stage) << ": " << message << "\n";
                }
            });
            g_train_progress.store(&progress);
            auto prev = std::signal(SIGINT, on_train_sigint);
            struct Restore {
                decltype(prev) p;
                ~Restore() { std::signal(SIGINT, p); g_train_progress.store(nullptr); }
            } restore{prev};
            TrainReport r;
            try {
                r = run_training(*o, progress);
            } catch (const Cancelled&) {
                std::cerr << "\ntraining cancelled\n";
                return 130;
            } catch (const Error& e) {
                if (e.file() != "train options" || e.field().empty()) throw;
                const std::string what = e.what(), prefix = "field '" + e.field() + "': ";
                const size_t at = what.find(prefix);
                throw Error("train", flag_of(e.field()),
                            at == std::string::npos ? what : what.substr(at + prefix.size()));
            }
            if (g.json) {
                nlohmann::ordered_json j;
                j["out"] = o->out_dir;
                j["parameters"] = r.parameters;
                j["steps"] = o->steps;
                j["final_train_loss"] = r.log.empty() ? 0.0 : r.log.back().loss;
                j["initial_heldout_loss"] = r.initial_eval_loss;
                j["heldout_loss"] = r.eval_loss;
                j["heldout_ppl"] = r.eval_ppl;
                j["corpus_bytes"] = r.corpus_bytes;
                j["corpus_tokens"] = r.corpus_tokens;
                j["train_seconds"] = r.seconds;
                j["tokens_per_s"] = r.tokens_per_s;
                std::cout << j.dump(2) << "\n";
            } else {
                std::printf("wrote %s: %lld parameters, final train loss %.4f, held-out loss %.4f (ppl %.3f), %.1f s\n",
                            o->out_dir.c_str(), static_cast<long long>(r.parameters),
                            r.log.empty() ? 0.0 : r.log.back().loss, r.eval_loss, r.eval_ppl, r.seconds);
            }
            return 0;
        }
    });
}

}  // namespace achilles::cli
