// SPDX-License-Identifier: GPL-3.0-or-later
// Baselines (random linear channels, activation magnitude, gradient) and the phase-transition
// sweep: log10 PPL against n = 0..sweep for ours and each baseline, on one table.
#include "analysis/search_internal.h"
#include "achilles/error.h"
#include <c10/core/GradMode.h>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace achilles::detail {

namespace {

// Activation (signed) or gradient (signed) scores of every entry, one clean pass.
std::vector<SiteScores> site_scores(const Transformer& model, const at::Tensor& ids, bool gradient,
                                    Progress& progress) {
    const int L = model.config().num_hidden_layers;
    std::vector<at::Tensor> saved(static_cast<size_t>(L) * kNumModules);
    auto idx = [](int l, Module m) { return static_cast<size_t>(l) * kNumModules + static_cast<size_t>(m); };
    if (!gradient) {
        c10::NoGradGuard ng;
        Hooks h;
        h.site = [&](int l, Module m, at::Tensor& out) {
            progress.check();
            if (l >= 0 && l < L) saved[idx(l, m)] = out.select(0, 0).to(at::kFloat).clone();
        };
        model.forward(ids, &h);
    } else {
        c10::AutoGradMode on(true);
        Hooks h;
        h.embeddings = [&](at::Tensor& e) { e = e.detach().requires_grad_(true); };
        h.site = [&](int l, Module m, at::Tensor& out) {
            progress.check();
            if (l < 0 || l >= L || !out.requires_grad()) return;
            out.retain_grad();
            saved[idx(l, m)] = out;
        };
        at::Tensor logits = model.forward(ids, &h);
        const int64_t T = ids.size(1);
        at::Tensor lg = logits.select(0, 0).slice(0, 0, T - 1).to(at::kFloat);
        at::Tensor tgt = ids.select(0, 0).slice(0, 1, T).to(lg.device()).unsqueeze(1);
        at::Tensor loss = (lg.logsumexp(-1, true) - lg.gather(1, tgt)).mean();
        if (!loss.requires_grad())
            throw Error("search", "baselines", "the gradient baseline needs autograd through the model forward");
        loss.backward();
        for (auto& t : saved) {
            if (!t.defined()) continue;
            at::Tensor g = t.grad();
            t = g.defined() ? g.select(0, 0).to(at::kFloat).detach().clone() : at::zeros_like(t.select(0, 0), at::kFloat);
        }
    }
    std::vector<SiteScores> sites;
    for (int l = 0; l < L; ++l)
        for (Module m : kAllModules)
            if (saved[idx(l, m)].defined()) sites.push_back({l, m, saved[idx(l, m)]});
    return sites;
}

Series prefix_series(const std::string& name, const Transformer& model, const at::Tensor& ids,
                     const std::vector<RankedEntry>& ranking, int sweep, Progress& progress) {
    PrefixEvaluator ev(model, ids, ranking);
    Series s;
    s.name = name;
    for (int n = 0; n <= sweep; ++n) {
        const int nn = std::min<int>(n, static_cast<int>(ranking.size()));
        s.points.push_back(SeriesPoint{n, std::log10(ev.ppl(nn, progress)), 0.0});
        progress.report("sweep", double(n) / sweep, name + " n=" + std::to_string(n));
    }
    return s;
}

}  // namespace

std::vector<RankedEntry> baseline_ranking(const Transformer& model, const at::Tensor& ids, bool gradient, int64_t M,
                                          Progress& progress) {
    return select_top(site_scores(model, ids, gradient, progress), M, true);
}

void run_baselines_and_sweep(const Transformer& model, const at::Tensor& ids, const std::vector<RankedEntry>& ranking,
                             const SearchOptions& o, double ppl_orig, SearchResult& result, Progress& progress) {
    const int sweep = o.sweep > 0 ? o.sweep : 50;
    result.sweep.clear();
    result.sweep.push_back(prefix_series("ours", model, ids, ranking, sweep, progress));
    for (const std::string& b : o.baselines) {
        if (b == "random") {
            // All channels of the hooked linear outputs.
            const ModelShape shape = model.shape();
            std::vector<Neuron> all;
            for (int l = 0; l < shape.layers; ++l)
                for (Module m : kAllModules)
                    if (module_is_linear(m))
                        for (int c = 0; c < shape.module_width(m); ++c) all.push_back(Neuron{l, m, c});
            const int runs = std::max(1, o.random_runs);
            const int take = std::min<int>(sweep, static_cast<int>(all.size()));
            std::vector<std::vector<double>> vals(static_cast<size_t>(sweep) + 1);
            for (int r = 0; r < runs; ++r) {
                // Seeded partial Fisher-Yates with splitmix64 draws.
                std::vector<Neuron> pool = all;
                uint64_t key = sample_key(o.seed ^ 0x52414E444F4DULL, static_cast<uint64_t>(r));
                for (int i = 0; i < take; ++i) {
                    const uint64_t span = pool.size() - static_cast<size_t>(i);
                    const uint64_t j = static_cast<uint64_t>(i) + splitmix64(key + static_cast<uint64_t>(i)) % span;
                    std::swap(pool[static_cast<size_t>(i)], pool[static_cast<size_t>(j)]);
                }
                for (int n = 0; n <= sweep; ++n) {
                    const int nn = std::min(n, take);
                    std::vector<Neuron> sel(pool.begin(), pool.begin() + nn);
                    const double ppl = n == 0 ? ppl_orig : score_sequence(model, ids, mask_of(sel), progress).ppl;
                    vals[static_cast<size_t>(n)].push_back(std::log10(ppl));
                    progress.report("random", (r + double(n) / sweep) / runs,
                                    "run " + std::to_string(r + 1) + " n=" + std::to_string(n));
                }
            }
            Series s;
            s.name = "random";
            for (int n = 0; n <= sweep; ++n) {
                const auto& v = vals[static_cast<size_t>(n)];
                const double mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
                double var = 0;
                for (double x : v) var += (x - mean) * (x - mean);
                const double sd = v.size() > 1 ? std::sqrt(var / double(v.size() - 1)) : 0.0;
                s.points.push_back(SeriesPoint{n, mean, sd});
            }
            result.sweep.push_back(std::move(s));
        } else if (b == "activation" || b == "gradient") {
            auto rank = baseline_ranking(model, ids, b == "gradient", std::max(sweep, 1), progress);
            result.sweep.push_back(prefix_series(b, model, ids, rank, sweep, progress));
        } else {
            throw Error("search", "baselines", "unknown baseline '" + b + "' (expected random, activation, gradient)");
        }
    }
}

}  // namespace achilles::detail
