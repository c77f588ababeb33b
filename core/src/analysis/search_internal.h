// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal pieces of the critical-neuron search, shared by search.cpp, baselines.cpp and
// bench.cpp. They work on a Transformer directly so the benchmark can use in-memory models.
#include "achilles/progress.h"
#include "achilles/search.h"
#include "model/engine_internal.h"
#include "model/transformer.h"
#include <ATen/ATen.h>
#include <cstdint>
#include <fstream>
#include <map>
#include <vector>

namespace achilles::detail {

// ---- The noise generator (documented so that the Python reference reproduces it bit for bit).
// splitmix64(x): x += 0x9E3779B97F4A7C15; z = x; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//                z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)   (all mod 2^64)
// sample_key(seed, k) = splitmix64(seed ^ splitmix64(k))
// For element j (row-major over [T, H]) of sample k, with key = sample_key(seed, k):
//   pair p = j / 2; a = splitmix64(key + 2p); b = splitmix64(key + 2p + 1)   (mod 2^64)
//   u1 = ((a >> 11) + 1) * 2^-53  in (0, 1];  u2 = (b >> 11) * 2^-53  in [0, 1)
//   r = sqrt(-2 ln u1);  z = r cos(2 pi u2) for even j, r sin(2 pi u2) for odd j   (float64)
// Noise for sample k depends only on (seed, k): results do not depend on the batch size.
uint64_t splitmix64(uint64_t x);
uint64_t sample_key(uint64_t seed, uint64_t k);
void fill_normal(uint64_t key, double* out, int64_t count);
// float64 CPU tensor [count_samples, T, H] for samples first..first+count-1.
at::Tensor noise_block(uint64_t seed, int64_t first, int64_t count, int64_t T, int64_t H);

// The noise of stage 1, sample by sample in order: float64 [count, T, H] per call.
class NoiseSource {
public:
    // Opens and checks --noise FILE against [K, T, H] (throws Error naming the file and field).
    NoiseSource(const SearchOptions& o, int64_t T, int64_t H);
    at::Tensor next(int64_t count);
    std::string descr() const;  // what --dump-noise writes: "<f8" (counter), "<f4" (torch), the file's
private:
    enum class Kind { counter, torch, file } kind_ = Kind::counter;
    const SearchOptions& o_;
    int64_t T_, H_, drawn_ = 0;
    at::Generator gen_;
    std::ifstream file_;
    bool f64_ = false;
};

// Perplexities come from score_sequence (model/transformer.h), the one implementation that
// Engine::perplexity and dataset_perplexity use too.

// Stage 1: importance of every entry, top-M ranking. total_entries receives N.
struct Stage1Stats {
    int64_t total_entries = 0;
    int forwards = 0;
    double clean_s = 0, noisy_s = 0, rank_s = 0;  // wall time of the clean pass, noisy passes, top-M
    int batch = 0;                                // noisy samples per forward used
};
// Noisy samples per forward when --batch is 0 (auto): what a memory budget of 256 MiB (2 GiB on
// CUDA; ACHILLES_STAGE1_BATCH_MB overrides) holds of one sample's activations, 1..K; on the CPU
// also no single activation (the attention scores, usually) over 32 MiB.
int auto_stage1_batch(const Transformer& model, int64_t T, int K);
std::vector<RankedEntry> stage1(const Transformer& model, const std::vector<int>& ids,
                                const SearchOptions& o, Progress& progress, Stage1Stats* stats = nullptr);

// Deterministic top-M over per-site score tensors ([T,C] for entry mode with positions, [C] for
// channel mode). Sites listed in (layer, module) order. Tie-break: importance desc, then layer,
// module order, position, channel.
struct SiteScores { int layer; Module module; at::Tensor scores; };
std::vector<RankedEntry> select_top(const std::vector<SiteScores>& sites, int64_t M, bool per_position);

// PPL cache keyed by the number of unique prefix channels of one ranking (prefix sets are nested,
// so the count identifies the set).
struct PrefixEvaluator {
    const Transformer& model;
    at::Tensor ids;
    const std::vector<RankedEntry>& ranking;
    std::vector<int> unique_at;          // unique channel count of each prefix length (0..size)
    std::vector<Neuron> order;           // channels in first-seen order
    std::map<int, double> ppl_by_unique;  // cache
    int evaluations = 0;                 // actual forwards
    PrefixEvaluator(const Transformer& m, at::Tensor i, const std::vector<RankedEntry>& r);
    int unique(int n) const { return unique_at[static_cast<size_t>(n)]; }
    double ppl(int n, Progress& p);      // runs a forward only for unseen channel sets
};

// The baselines' scores of an entry: |a| (activation), |dNLL/da| (gradient) or |dNLL/da|*|a|
// (attribution), from one clean pass, NLL being the probe's mean next-token NLL.
enum class BaselineScore { activation, gradient, attribution };
// Entries ranked by a baseline score, descending, top M.
std::vector<RankedEntry> baseline_ranking(const Transformer& model, const at::Tensor& ids, BaselineScore score,
                                          int64_t M, Progress& progress);
// Channels ranked by their largest entry's score (the first-seen channel order of the entry
// ranking), top U.
std::vector<Neuron> baseline_channels(const Transformer& model, const at::Tensor& ids, BaselineScore score,
                                      int64_t U, Progress& progress);

// The random-matched baseline's draw for one run: for each of ours' first U channels, in order, a
// channel of the same (layer, module) that is neither among ours' first U nor drawn before.
std::vector<Neuron> matched_draw(const std::vector<Neuron>& ours, const ModelShape& shape, int U, uint64_t seed,
                                 int run);

// The sweep's x values, unique channels masked: every u in 0..U up to 64, else 49 evenly spaced.
std::vector<int> sweep_grid(int U);
// Its extent: --sweep when set, else the unique channels of the critical set when stage 2 reached
// epsilon, else the most stage 2 masked (its cap); 50 when stage 2 masked nothing.
int sweep_extent(const SearchResult& r, const SearchOptions& o);

// Baselines and the phase-transition sweep (baselines.cpp): result.sweep, every series against
// unique channels masked.
void run_baselines_and_sweep(const Transformer& model, const at::Tensor& ids,
                             const std::vector<RankedEntry>& ranking, const SearchOptions& o,
                             double ppl_orig, SearchResult& result, Progress& progress);

// Seconds since an arbitrary epoch (steady clock).
double now_s();

}  // namespace achilles::detail
