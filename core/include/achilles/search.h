// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "achilles/engine.h"
#include "achilles/results.h"
#include <functional>

namespace achilles {

// Live updates for viewers (called on the worker thread).
struct SearchObserver {
    std::function<void(const CurvePoint&)> on_curve_point;
    std::function<void(const std::vector<RankedEntry>&)> on_ranking;
};

// The paper's two stages plus the options of SearchOptions. ids must start with BOS
// (use Engine::encode_for_ppl). Throws Error for bad options, Cancelled when cancelled.
// Stage 1 adds alpha * N(0, I) to every input-embedding element (BOS included) AFTER the model's
// embedding scale (Gemma's sqrt(hidden)), i.e. on HF's scaled inputs_embeds. The noise of sample k
// depends only on (seed, k) through the counter-based generator documented in
// core/src/analysis/search_internal.h (reproduced by tests/reference/ref_search.py), so results do
// not depend on --batch. With strategy bisect, `faithful` holds the bisected set as well.
SearchResult run_search(const Engine& engine, const std::string& text, const std::vector<int>& ids,
                        const SearchOptions& options, Progress& progress,
                        const SearchObserver& observer = {});

// Stage 1 alone: ranking of entries, descending.
std::vector<RankedEntry> rank_entries(const Engine& engine, const std::vector<int>& ids,
                                      const SearchOptions& options, Progress& progress,
                                      int64_t* total_entries = nullptr);

// Writes the stage-1 noise a run with these options uses on ids to path, as NumPy .npy [K, T, D]:
// float64 for the counter generator, float32 for torch, the file's own dtype for --noise FILE.
// The write is atomic. Throws Error, Cancelled.
void dump_noise(const Engine& engine, const std::vector<int>& ids, const SearchOptions& options,
                const std::string& path, Progress& progress);

// Unique channels of the first n entries, in first-seen order.
std::vector<Neuron> prefix_channels(const std::vector<RankedEntry>& ranking, int n);
MaskSpec mask_of(const std::vector<Neuron>& neurons);

// Dataset perplexity: .txt/.raw (WikiText: paragraphs > 50 chars, "= heading =" skipped) or
// JSONL with a "text" field. Each sample [BOS]+ids truncated at max_tokens; token-weighted mean.
struct DatasetPpl { double ppl = 0; int samples = 0; int tokens = 0; };
std::vector<std::string> load_dataset_texts(const std::string& path, int max_samples);
DatasetPpl dataset_perplexity(const Engine& engine, const std::vector<std::string>& texts,
                              const MaskSpec& mask, int max_tokens, Progress& progress);

}  // namespace achilles
