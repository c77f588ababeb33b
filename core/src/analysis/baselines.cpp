// SPDX-License-Identifier: GPL-3.0-or-later
// Baselines and the phase-transition sweep. Every series is log10 PPL against one unit, the
// number of unique channels masked (at every position), so "ours" and the baselines compare like
// with like: masking u channels of ours' first-seen order, of a baseline's channel order, or of a
// random draw. The sweep spans u = 0..U, U being where ours reached epsilon in stage 2 (or the
// stage-2 cap), unless --sweep sets U.
#include "analysis/search_internal.h"
#include "achilles/error.h"
#include <c10/core/GradMode.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

namespace achilles::detail {

namespace {

// Per-site scores of every entry ([T, C]) from one clean pass: |a|, |dNLL/da| or |dNLL/da|*|a|.
std::vector<SiteScores> site_scores(const Transformer& model, const at::Tensor& ids, BaselineScore score,
                                    Progress& progress) {
    const int L = model.config().num_hidden_layers;
    std::vector<at::Tensor> saved(static_cast<size_t>(L) * kNumModules), act(saved.size());
    auto idx = [](int l, Module m) { return static_cast<size_t>(l) * kNumModules + static_cast<size_t>(m); };
    if (score == BaselineScore::activation) {
        c10::NoGradGuard ng;
        Hooks h;
        h.site = [&](int l, Module m, at::Tensor& out) {
            progress.check();
            if (l >= 0 && l < L) saved[idx(l, m)] = out.select(0, 0).to(at::kFloat).abs();
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
            throw Error("search", "baselines", "the gradient baselines need autograd through the model forward");
        loss.backward();
        for (auto& t : saved) {
            if (!t.defined()) continue;
            at::Tensor g = t.grad();
            at::Tensor a = t.select(0, 0).detach().to(at::kFloat);
            at::Tensor gs = g.defined() ? g.select(0, 0).to(at::kFloat).detach() : at::zeros_like(a);
            t = score == BaselineScore::gradient ? gs.abs() : (gs * a).abs();
        }
    }
    std::vector<SiteScores> sites;
    for (int l = 0; l < L; ++l)
        for (Module m : kAllModules)
            if (saved[idx(l, m)].defined()) sites.push_back({l, m, saved[idx(l, m)]});
    return sites;
}

// First-seen channel order of a ranking.
std::vector<Neuron> channel_order(const std::vector<RankedEntry>& ranking) {
    std::vector<Neuron> order;
    std::set<Neuron> seen;
    for (const auto& e : ranking)
        if (seen.insert(e.neuron).second) order.push_back(e.neuron);
    return order;
}

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double sd_of(const std::vector<double>& v) {
    if (v.size() < 2) return 0.0;
    const double m = mean_of(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / double(v.size() - 1));
}

// A seeded random permutation prefix of pool (partial Fisher-Yates with splitmix64 draws).
void shuffle_prefix(std::vector<Neuron>& pool, size_t take, uint64_t key) {
    take = std::min(take, pool.size());
    for (size_t i = 0; i < take; ++i) {
        const uint64_t span = pool.size() - i;
        const uint64_t j = i + splitmix64(key + i) % span;
        std::swap(pool[i], pool[static_cast<size_t>(j)]);
    }
}

struct SweepContext {
    const Transformer& model;
    const at::Tensor& ids;
    const std::vector<int>& grid;
    double ppl_orig;
    Progress& progress;

    // log10 PPL with the first u channels of order masked, for every u of the grid; NaN for u past
    // the order's end (a series that has no more channels to offer stops there, never goes flat).
    std::vector<double> log10_curve(const std::vector<Neuron>& order, const std::string& what, double done,
                                    double share) const {
        std::vector<double> out;
        out.reserve(grid.size());
        std::map<size_t, double> cache;
        for (size_t i = 0; i < grid.size(); ++i) {
            const size_t u = static_cast<size_t>(grid[i]);
            if (u > order.size()) {
                out.push_back(std::numeric_limits<double>::quiet_NaN());
                continue;
            }
            auto it = cache.find(u);
            double ppl = 0;
            if (it != cache.end()) ppl = it->second;
            else if (u == 0) ppl = ppl_orig;
            else {
                std::vector<Neuron> sel(order.begin(), order.begin() + static_cast<ptrdiff_t>(u));
                ppl = cache[u] = score_sequence(model, ids, mask_of(sel), progress).ppl;
            }
            out.push_back(std::log10(ppl));
            progress.report("sweep", done + share * double(i + 1) / double(grid.size()),
                            what + ": " + std::to_string(grid[i]) + " channels");
        }
        return out;
    }
};

}  // namespace

std::vector<RankedEntry> baseline_ranking(const Transformer& model, const at::Tensor& ids, BaselineScore score,
                                          int64_t M, Progress& progress) {
    return select_top(site_scores(model, ids, score, progress), M, true);
}

std::vector<Neuron> baseline_channels(const Transformer& model, const at::Tensor& ids, BaselineScore score,
                                      int64_t U, Progress& progress) {
    std::vector<SiteScores> sites = site_scores(model, ids, score, progress);
    for (SiteScores& s : sites) s.scores = std::get<0>(s.scores.max(0));  // a channel scores its largest entry
    std::vector<Neuron> out;
    for (const RankedEntry& e : select_top(sites, U, false)) out.push_back(e.neuron);
    return out;
}

std::vector<int> sweep_grid(int U) {
    std::vector<int> g;
    if (U <= 64) {
        for (int u = 0; u <= U; ++u) g.push_back(u);
        return g;
    }
    constexpr int kPoints = 48;  // evenly spaced, 0 and U included
    for (int i = 0; i <= kPoints; ++i) {
        const int u = static_cast<int>(std::llround(double(U) * i / kPoints));
        if (g.empty() || g.back() != u) g.push_back(u);
    }
    return g;
}

int sweep_extent(const SearchResult& r, const SearchOptions& o) {
    if (o.sweep > 0) return o.sweep;
    if (r.faithful.reached) return static_cast<int>(r.faithful.neurons.size());
    int u = 0;
    for (const CurvePoint& p : r.curve) u = std::max(u, p.unique_channels);
    return u > 0 ? u : 50;
}

std::vector<Neuron> matched_draw(const std::vector<Neuron>& ours, const ModelShape& shape, int U, uint64_t seed,
                                 int run) {
    const size_t n = std::min(ours.size(), static_cast<size_t>(std::max(U, 0)));
    const std::set<Neuron> excluded(ours.begin(), ours.begin() + static_cast<ptrdiff_t>(n));
    const uint64_t key = sample_key(seed ^ 0x4D41544348ULL, static_cast<uint64_t>(run));
    std::map<std::pair<int, Module>, std::vector<int>> free;  // site -> its free channels, shuffled
    std::vector<Neuron> drawn;
    for (size_t i = 0; i < n; ++i) {
        const auto site = std::make_pair(ours[i].layer, ours[i].module);
        auto it = free.find(site);
        if (it == free.end()) {
            std::vector<Neuron> pool;
            for (int c = 0; c < shape.module_width(site.second); ++c)
                if (!excluded.count(Neuron{site.first, site.second, c})) pool.push_back(Neuron{site.first, site.second, c});
            shuffle_prefix(pool, pool.size(), splitmix64(key ^ (uint64_t(site.first) << 8 | uint64_t(site.second))));
            std::vector<int> ch;
            for (const Neuron& x : pool) ch.push_back(x.channel);
            it = free.emplace(site, std::move(ch)).first;
        }
        if (it->second.empty()) continue;  // ours took the whole site: nothing left to match it with
        drawn.push_back(Neuron{site.first, site.second, it->second.back()});
        it->second.pop_back();
    }
    return drawn;
}

void run_baselines_and_sweep(const Transformer& model, const at::Tensor& ids, const std::vector<RankedEntry>& ranking,
                             const SearchOptions& o, double ppl_orig, SearchResult& result, Progress& progress) {
    const int U = sweep_extent(result, o);
    const std::vector<int> grid = sweep_grid(U);
    const SweepContext cx{model, ids, grid, ppl_orig, progress};
    const ModelShape shape = model.shape();
    const std::vector<Neuron> ours = channel_order(ranking);
    const double share = 1.0 / double(1 + o.baselines.size());
    double done = 0;
    auto series = [&](const std::string& name, const std::vector<std::vector<double>>& runs) {
        Series s;
        s.name = name;
        for (size_t i = 0; i < grid.size(); ++i) {
            std::vector<double> v;
            for (const auto& run : runs)
                if (!std::isnan(run[i])) v.push_back(run[i]);
            if (v.size() < runs.size()) break;  // past the channels this series can offer
            s.points.push_back(SeriesPoint{grid[i], mean_of(v), sd_of(v)});
        }
        if (s.points.size() < grid.size())
            progress.log(name + ": stops at " + std::to_string(s.points.empty() ? 0 : s.points.back().channels) +
                         " channels, the most it can offer (sweep to " + std::to_string(grid.back()) + ")");
        result.sweep.push_back(std::move(s));
        done += share;
    };
    result.sweep.clear();
    series("ours", {cx.log10_curve(ours, "ours", done, share)});
    const int runs = std::max(1, o.random_runs);
    for (const std::string& b : o.baselines) {
        if (b == "random") {
            // Population: every channel of the 9 hooked sites of every layer (the one ours draws from).
            std::vector<Neuron> all;
            for (int l = 0; l < shape.layers; ++l)
                for (Module m : kAllModules)
                    for (int c = 0; c < shape.module_width(m); ++c) all.push_back(Neuron{l, m, c});
            std::vector<std::vector<double>> vals;
            for (int r = 0; r < runs; ++r) {
                std::vector<Neuron> pool = all;
                shuffle_prefix(pool, static_cast<size_t>(U), sample_key(o.seed ^ 0x52414E444F4DULL, static_cast<uint64_t>(r)));
                pool.resize(std::min(pool.size(), static_cast<size_t>(U)));
                vals.push_back(cx.log10_curve(pool, "random run " + std::to_string(r + 1), done + share * r / runs,
                                              share / runs));
            }
            series("random", vals);
        } else if (b == "random-matched") {
            std::vector<std::vector<double>> vals;
            for (int r = 0; r < runs; ++r)
                vals.push_back(cx.log10_curve(matched_draw(ours, shape, U, o.seed, r),
                                              "random-matched run " + std::to_string(r + 1), done + share * r / runs,
                                              share / runs));
            series("random-matched", vals);
        } else if (b == "activation" || b == "gradient" || b == "attribution") {
            const BaselineScore sc = b == "activation" ? BaselineScore::activation
                                   : b == "gradient"   ? BaselineScore::gradient
                                                       : BaselineScore::attribution;
            series(b, {cx.log10_curve(baseline_channels(model, ids, sc, U, progress), b, done, share)});
        } else {
            throw Error("search", "baselines",
                        "unknown baseline '" + b + "' (expected random, random-matched, activation, gradient, attribution)");
        }
    }
}

}  // namespace achilles::detail
