// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// achilles-cli bench (library achilles_tools, linked by the CLI only).
#include "achilles/progress.h"
#include <cstdint>
#include <string>
#include <vector>

namespace achilles {

// ---- Benchmark (achilles-cli bench): measured ratios against targets, all in one run.
struct BenchOptions {
    int layers = 24;            // layers of the Qwen2.5-0.5B-shaped random model
    int tokens = 115;           // sequence length of the forward benchmark
    int samples = 8;            // K for the stage-1 overhead benchmark
    bool quick = false;         // shrink everything (CI smoke run)
    uint64_t seed = 1;
    std::string model;          // model for the bisect-vs-linear row ("" : embedded default if present)
    std::string scratch;        // folder for the temporary checkpoint ("" : the system temp folder)
    std::string only;           // comma list of parts: forward, stage1, memory, load, bisect ("" : all)
    std::string threads;        // comma list of thread counts for the forward rows ("" : 1 and all
                                // cores); stage 1 runs at the last one. BLAS follows.
    int rounds = 0;             // interleaved forward/GEMM rounds per thread count (0: 7, quick: 2)
    std::string device = "cpu"; // cpu, cuda, cuda:N: where the forward, stage-1 and llama8b rows run
    std::string dtype = "auto"; // compute dtype of those rows (auto: f32 on cpu, bf16 on cuda)
    // llama8b part: the batched stage 1 on a Llama-3-8B-shaped random model (32 layers, hidden
    // 4096, 14336, 32/8 heads, vocab 128256), tokens x K samples, as seconds and as a fraction of
    // the matrix-product peak in the same dtype. Layers can be cut for a smoke run on small machines.
    int llama8b_layers = 32;
    int llama8b_samples = 100;
    int llama8b_batch = 20;
};
struct BenchRow {
    std::string name;
    double value = 0;           // measured
    std::string unit;
    double target = 0;          // NaN-free: 0 with has_target=false when informative only
    bool has_target = false;
    bool higher_is_better = false;
    bool pass = false;
    std::string detail;
};
std::vector<BenchRow> run_bench(const BenchOptions& options, Progress& progress);

}  // namespace achilles
