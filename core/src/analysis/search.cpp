// SPDX-License-Identifier: GPL-3.0-or-later
// The paper's two-stage critical-neuron search (faithful mode) plus the fast options:
// running-sum stage 1 with batched noisy passes and on-device top-M, stage 2 without duplicate
// forwards, channel modes, bisection, minimal sets and dataset evaluation.
#include "analysis/search_internal.h"
#include "achilles/error.h"
#include "achilles/version.h"
#include <c10/core/GradMode.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <cmath>
#include <numbers>
#include <set>
#include <string>

namespace achilles {

namespace detail {

double now_s() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t sample_key(uint64_t seed, uint64_t k) { return splitmix64(seed ^ splitmix64(k)); }

void fill_normal(uint64_t key, double* out, int64_t count) {
    constexpr double kInv53 = 1.0 / 9007199254740992.0;  // 2^-53
    const double two_pi = 2.0 * std::numbers::pi;
    for (int64_t j = 0; j < count; j += 2) {
        const uint64_t p = static_cast<uint64_t>(j / 2);
        const uint64_t a = splitmix64(key + 2 * p);
        const uint64_t b = splitmix64(key + 2 * p + 1);
        const double u1 = static_cast<double>((a >> 11) + 1) * kInv53;
        const double u2 = static_cast<double>(b >> 11) * kInv53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[j] = r * std::cos(two_pi * u2);
        if (j + 1 < count) out[j + 1] = r * std::sin(two_pi * u2);
    }
}

at::Tensor noise_block(uint64_t seed, int64_t first, int64_t count, int64_t T, int64_t H) {
    at::Tensor t = at::empty({count, T, H}, at::TensorOptions().dtype(at::kDouble));
    double* d = t.data_ptr<double>();
    for (int64_t k = 0; k < count; ++k)
        fill_normal(sample_key(seed, static_cast<uint64_t>(first + k)), d + k * T * H, T * H);
    return t;
}

namespace {
// Host fast path of "indices i with flat[i] >= the M-th largest value" for a contiguous float32
// tensor with n > M entries: one read pass with a size-M min-heap (the M largest values seen,
// with multiplicity, so its top ends as the M-th largest: exactly topk(flat, M).min()), then one
// pass collecting the indices. No N-sized temporaries (topk copies (value, index) pairs of every
// entry). Returns false, leaving sel alone, when an entry is not finite (the caller's nan_to_num
// path handles that).
bool host_select(const at::Tensor& flat, int64_t M, at::Tensor& sel) {
    if (!flat.device().is_cpu() || flat.scalar_type() != at::kFloat || !flat.is_contiguous()) return false;
    const float* p = flat.data_ptr<float>();
    const int64_t n = flat.numel();
    std::vector<float> heap;
    heap.reserve(static_cast<size_t>(M));
    for (int64_t i = 0; i < n; ++i) {
        const float v = p[i];
        if (!std::isfinite(v)) return false;
        if (static_cast<int64_t>(heap.size()) < M) {
            heap.push_back(v);
            std::push_heap(heap.begin(), heap.end(), std::greater<float>());
        } else if (v > heap.front()) {
            std::pop_heap(heap.begin(), heap.end(), std::greater<float>());
            heap.back() = v;
            std::push_heap(heap.begin(), heap.end(), std::greater<float>());
        }
    }
    const float thr = heap.front();
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(M) + 16);
    for (int64_t i = 0; i < n; ++i)
        if (p[i] >= thr) keep.push_back(i);
    sel = at::tensor(keep, at::TensorOptions().dtype(at::kLong));
    return true;
}
}  // namespace

std::vector<RankedEntry> select_top(const std::vector<SiteScores>& sites, int64_t M, bool per_position) {
    // Per site: keep the entries >= the site's M-th largest value (all ties kept), in index order.
    std::vector<at::Tensor> vals, idx, site_of;
    // Sites may live on several devices (layer-wise placement): merge on the first one's.
    const at::Device dev = sites.empty() ? at::Device(at::kCPU) : sites.front().scores.device();
    for (size_t s = 0; s < sites.size(); ++s) {
        at::Tensor flat = sites[s].scores.reshape({-1}).to(dev, at::kFloat);
        const int64_t n = flat.numel();
        if (n == 0) continue;
        at::Tensor sel;
        if (n > M && host_select(flat, M, sel)) {
            // all finite: same selection as below, without its N-sized temporaries
        } else if (n > M) {
            flat = at::nan_to_num(flat, 0.0);  // NaN -> 0, +-inf -> the largest finite values
            at::Tensor thr = std::get<0>(at::topk(flat, M, 0, true, false)).min();
            sel = at::nonzero(flat >= thr).squeeze(1);
        } else {
            flat = at::nan_to_num(flat, 0.0);
            sel = at::arange(n, at::TensorOptions().dtype(at::kLong).device(flat.device()));
        }
        vals.push_back(flat.index_select(0, sel));
        idx.push_back(sel);
        site_of.push_back(at::full({sel.numel()}, static_cast<int64_t>(s),
                                   at::TensorOptions().dtype(at::kLong).device(flat.device())));
    }
    if (vals.empty()) return {};
    at::Tensor v = at::cat(vals), ix = at::cat(idx), so = at::cat(site_of);
    if (v.numel() > M) {
        at::Tensor thr = std::get<0>(at::topk(v, M, 0, true, false)).min();
        at::Tensor keep = at::nonzero(v >= thr).squeeze(1);
        v = v.index_select(0, keep);
        ix = ix.index_select(0, keep);
        so = so.index_select(0, keep);
    }
    // Stable descending sort: ties keep (layer, module, position, channel) order.
    auto [sv, order] = at::sort(v, /*stable=*/true, 0, /*descending=*/true);
    const int64_t k = std::min<int64_t>(M, sv.numel());
    order = order.slice(0, 0, k);
    at::Tensor vc = sv.slice(0, 0, k).to(at::kDouble).cpu().contiguous();
    at::Tensor ic = ix.index_select(0, order).cpu().contiguous();
    at::Tensor sc = so.index_select(0, order).cpu().contiguous();
    std::vector<RankedEntry> out(static_cast<size_t>(k));
    const double* pv = vc.data_ptr<double>();
    const int64_t* pi = ic.data_ptr<int64_t>();
    const int64_t* ps = sc.data_ptr<int64_t>();
    for (int64_t i = 0; i < k; ++i) {
        const SiteScores& site = sites[static_cast<size_t>(ps[i])];
        RankedEntry& e = out[static_cast<size_t>(i)];
        e.neuron.layer = site.layer;
        e.neuron.module = site.module;
        e.importance = pv[i];
        if (per_position) {
            const int64_t C = site.scores.size(-1);
            e.position = static_cast<int>(pi[i] / C);
            e.neuron.channel = static_cast<int>(pi[i] % C);
        } else {
            e.position = -1;
            e.neuron.channel = static_cast<int>(pi[i]);
        }
    }
    return out;
}

// acc += sum over the batch of |out - clean|, in one pass over memory on the CPU.
void accumulate_abs_diff(at::Tensor& acc, const at::Tensor& out, const at::Tensor& clean) {
    if (out.device().is_cpu() && out.scalar_type() == at::kFloat && out.is_contiguous() && acc.is_contiguous() &&
        clean.is_contiguous()) {
        const int64_t n = acc.numel();
        const int64_t b = out.numel() / std::max<int64_t>(1, n);
        float* a = acc.data_ptr<float>();
        const float* o = out.data_ptr<float>();
        const float* c = clean.data_ptr<float>();
        at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
            for (int64_t k = 0; k < b; ++k) {
                const float* ok = o + k * n;
                for (int64_t i = begin; i < end; ++i) a[i] += std::fabs(ok[i] - c[i]);
            }
        });
        return;
    }
    at::Tensor d = out.to(at::kFloat).sub(clean.unsqueeze(0));
    d.abs_();
    acc.add_(d.size(0) == 1 ? d.select(0, 0) : d.sum(0));
}

int auto_stage1_batch(const Transformer& model, int64_t T, int K) {
    const ModelConfig& c = model.config();
    const double H = c.hidden_size, I = c.intermediate_size, NH = c.num_attention_heads;
    const double NKV = c.num_key_value_heads > 0 ? c.num_key_value_heads : NH;
    const double D = c.head_dim > 0 ? c.head_dim : H / std::max(1.0, NH);
    // Bytes one noisy sample keeps alive in a batched forward: the layer's activations (q/k/v and
    // their RoPE copies, the MLP's three intermediate-wide tensors, the residual stream and norms),
    // the attention scores and probabilities, and the float64 noise and perturbed embeddings.
    const double elt = double(at::elementSize(model.dtype()));
    const double per = elt * double(T) * (2.0 * (NH + 2 * NKV) * D + 4.0 * I + 8.0 * H + 2.0 * NH * double(T)) +
                       24.0 * double(T) * H;
    double budget = model.device().is_cuda() ? 2048.0 * 1048576.0 : 256.0 * 1048576.0;
    if (const char* e = std::getenv("ACHILLES_STAGE1_BATCH_MB"); e && *e) {
        char* end = nullptr;
        const double mb = std::strtod(e, &end);
        if (end != e && mb > 0) budget = mb * 1048576.0;
    }
    double b = std::floor(budget / std::max(1.0, per));
    // On the CPU no single tensor of the batch may pass 32 MiB: glibc serves blocks above its mmap
    // threshold (64 MiB here, see threads.h) with fresh pages on every allocation, and a batch whose
    // attention scores were 83 MB (stories260K, 215 tokens, 56 samples) spent more time in page
    // faults than in arithmetic (470k minor faults; stage 1 3x slower than at batch 1).
    if (!model.device().is_cuda()) {
        const double largest = elt * double(T) * std::max({NH * double(T), I, H});
        b = std::min(b, std::floor(32.0 * 1048576.0 / std::max(1.0, largest)));
    }
    return static_cast<int>(std::clamp<double>(b, 1.0, double(std::max(1, K))));
}

std::vector<RankedEntry> stage1(const Transformer& model, const std::vector<int>& ids,
                                const SearchOptions& o, Progress& progress, Stage1Stats* stats) {
    c10::NoGradGuard ng;
    const int L = model.config().num_hidden_layers;
    const int64_t T = static_cast<int64_t>(ids.size());
    at::Tensor idt = ids_tensor(model, ids);
    const size_t nsites = static_cast<size_t>(L) * kNumModules;
    std::vector<at::Tensor> clean(nsites), acc(nsites);
    auto site_index = [](int l, Module m) { return static_cast<size_t>(l) * kNumModules + static_cast<size_t>(m); };
    const int64_t H = model.config().hidden_size;
    NoiseSource source(o, T, H);  // a --noise file is checked before any forward

    progress.report("stage1", 0.0, "clean pass");
    const double t_clean = now_s();
    {
        Hooks rec;
        rec.skip_head = true;  // stage 1 reads the sites only
        rec.site = [&](int l, Module m, at::Tensor& out) {
            progress.check();
            if (l < 0 || l >= L) return;
            clean[site_index(l, m)] = out.select(0, 0).to(at::kFloat).clone();
        };
        model.forward(idt, &rec);
    }
    int64_t N = 0;
    for (size_t s = 0; s < nsites; ++s)
        if (clean[s].defined()) {
            N += clean[s].numel();
            acc[s] = at::zeros_like(clean[s]);
        }
    if (stats) { stats->total_entries = N; stats->forwards = 1; stats->clean_s = now_s() - t_clean; }
    const double t_noisy = now_s();

    const int K = o.samples;
    // --batch, or as many samples per forward as the memory budget allows (results do not depend
    // on it: the noise of sample k depends on (seed, k) only, and each sample's rows are computed
    // as they would be alone).
    const int B = o.batch > 0 ? o.batch : auto_stage1_batch(model, T, K);
    if (stats) stats->batch = B;
    for (int done = 0; done < K;) {
        progress.check();
        const int b = std::min(B, K - done);
        at::Tensor noise = source.next(b);
        Hooks hk;
        hk.skip_head = true;
        hk.embeddings = [&](at::Tensor& e) {
            // e: [b,T,H] scaled embeddings (gemma: x sqrt(H)); noise added in float64.
            at::Tensor n = noise.to(e.device());
            e = (e.to(at::kDouble) + o.alpha * n).to(e.scalar_type());
        };
        hk.site = [&](int l, Module m, at::Tensor& out) {
            progress.check();
            if (l < 0 || l >= L) return;
            const size_t s = site_index(l, m);
            if (!acc[s].defined()) return;
            accumulate_abs_diff(acc[s], out, clean[s]);
        };
        model.forward(idt.expand({b, T}).contiguous(), &hk);
        done += b;
        if (stats) stats->forwards += 1;
        progress.report("stage1", double(done) / K, "noisy passes " + std::to_string(done) + "/" + std::to_string(K));
    }
    clean.clear();
    if (stats) stats->noisy_s = now_s() - t_noisy;
    const double t_rank = now_s();

    std::vector<SiteScores> sites;
    const bool per_position = o.mode == SearchMode::paper;
    for (int l = 0; l < L; ++l)
        for (Module m : kAllModules) {
            at::Tensor& a = acc[site_index(l, m)];
            if (!a.defined()) continue;
            at::Tensor imp = a.div_(static_cast<double>(K));  // in place: no second N-sized buffer
            if (o.mode == SearchMode::channel_max) imp = std::get<0>(imp.max(0));
            else if (o.mode == SearchMode::channel_mean) imp = imp.mean(0);
            sites.push_back({l, m, imp});
        }
    auto ranking = select_top(sites, std::max(1, o.top), per_position);
    if (stats) {
        stats->total_entries = N;
        stats->rank_s = now_s() - t_rank;
    }
    return ranking;
}

PrefixEvaluator::PrefixEvaluator(const Transformer& m, at::Tensor i, const std::vector<RankedEntry>& r)
    : model(m), ids(std::move(i)), ranking(r) {
    std::set<Neuron> seen;
    unique_at.push_back(0);
    for (const auto& e : ranking) {
        if (seen.insert(e.neuron).second) order.push_back(e.neuron);
        unique_at.push_back(static_cast<int>(order.size()));
    }
}

double PrefixEvaluator::ppl(int n, Progress& p) {
    const int u = unique(n);
    auto it = ppl_by_unique.find(u);
    if (it != ppl_by_unique.end()) return it->second;
    std::vector<Neuron> ch(order.begin(), order.begin() + u);
    double v = score_sequence(model, ids, mask_of(ch), p).ppl;
    ++evaluations;
    ppl_by_unique[u] = v;
    return v;
}

}  // namespace detail

using namespace detail;

std::vector<Neuron> prefix_channels(const std::vector<RankedEntry>& ranking, int n) {
    std::vector<Neuron> out;
    std::set<Neuron> seen;
    const size_t lim = std::min(ranking.size(), static_cast<size_t>(std::max(0, n)));
    for (size_t i = 0; i < lim; ++i)
        if (seen.insert(ranking[i].neuron).second) out.push_back(ranking[i].neuron);
    return out;
}

MaskSpec mask_of(const std::vector<Neuron>& neurons) {
    MaskSpec m;
    m.reserve(neurons.size());
    for (const auto& n : neurons) m.push_back(MaskEntry{n, {}});
    return m;
}

namespace {

void check_ids(const Engine& engine, const std::vector<int>& ids) {
    if (ids.size() < 2)
        throw Error("search", "text", "the text must give at least 2 tokens (got " + std::to_string(ids.size()) + ")");
    const int V = engine.info().vocab;
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || (V > 0 && ids[i] >= V))
            throw Error("search", "ids", "token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                                             " is outside the vocabulary (size " + std::to_string(V) + ")");
}

double dlog(double ppl, double ppl0) { return std::log10(ppl) - std::log10(ppl0); }

CriticalSet make_set(const std::string& name, int n, std::vector<Neuron> neurons, double ppl, double ppl0,
                     double eps, int evals) {
    CriticalSet c;
    c.name = name;
    c.n = n;
    c.neurons = std::move(neurons);
    c.ppl = ppl;
    c.delta = dlog(ppl, ppl0);
    c.reached = c.delta >= eps;
    c.evaluations = evals;
    return c;
}

}  // namespace

std::vector<RankedEntry> rank_entries(const Engine& engine, const std::vector<int>& ids,
                                      const SearchOptions& options, Progress& progress, int64_t* total_entries) {
    validate(options);
    check_ids(engine, ids);
    Stage1Stats st;
    auto r = stage1(EngineAccess::model(engine), ids, options, progress, &st);
    if (total_entries) *total_entries = st.total_entries;
    return r;
}

SearchResult run_search(const Engine& engine, const std::string& text, const std::vector<int>& ids,
                        const SearchOptions& o, Progress& progress, const SearchObserver& observer) {
    validate(o);
    check_ids(engine, ids);
    const Transformer& model = EngineAccess::model(engine);
    const double t_start = now_s();

    SearchResult r;
    r.model = engine.info().fingerprint;
    r.model_type = engine.info().model_type;
    r.text = text;
    r.ids = ids;
    r.options = o;
    r.layers = engine.info().layers;
    r.libtorch_version = libtorch_version();
    r.app_version = app_version();

    // ---- Stage 1
    double t0 = now_s();
    Stage1Stats st;
    r.ranking = stage1(model, ids, o, progress, &st);
    r.total_entries = st.total_entries;
    r.timings["stage1"] = now_s() - t0;
    if (observer.on_ranking) observer.on_ranking(r.ranking);
    if (static_cast<size_t>(o.step) > r.ranking.size())
        throw Error("search", "step", "delta n = " + std::to_string(o.step) + " is beyond the ranking (" +
                                          std::to_string(r.ranking.size()) + " entries)");

    // ---- Stage 2
    t0 = now_s();
    at::Tensor idt = ids_tensor(model, ids);
    r.ppl_orig = score_sequence(model, idt, {}, progress).ppl;
    PrefixEvaluator ev(model, idt, r.ranking);
    const int max_n = static_cast<int>(r.ranking.size());
    const double eps = o.epsilon;

    if (o.strategy == SearchStrategy::linear) {
        int steps = 0;
        int last_n = 0;
        double last_ppl = r.ppl_orig;
        bool reached = false;
        for (int s = 1; s <= o.max_steps; ++s) {
            const int n = s * o.step;
            if (n > max_n) break;
            progress.check();
            const double ppl = ev.ppl(n, progress);
            CurvePoint cp{n, ev.unique(n), ppl, dlog(ppl, r.ppl_orig)};
            r.curve.push_back(cp);
            if (observer.on_curve_point) observer.on_curve_point(cp);
            steps = s;
            last_n = n;
            last_ppl = ppl;
            progress.report("stage2", double(s) / o.max_steps,
                            "n=" + std::to_string(n) + " delta=" + std::to_string(cp.delta));
            if (cp.delta >= eps) { reached = true; break; }
        }
        r.forwards_linear = ev.evaluations + 1;
        r.forwards_literal = steps + 1;
        r.faithful = make_set("faithful", last_n, prefix_channels(r.ranking, last_n), last_ppl, r.ppl_orig, eps,
                              r.forwards_linear);
        r.faithful.reached = reached;
        r.timings["stage2"] = now_s() - t0;
    } else {
        // Exponential then binary search over multiples of step; counts its own evaluations.
        const int cap_steps = std::min(o.max_steps, max_n / o.step);
        std::map<int, double> seen;  // step index -> ppl
        auto eval_step = [&](int s) {
            const int n = s * o.step;
            auto it = seen.find(s);
            if (it != seen.end()) return it->second;
            const double ppl = ev.ppl(n, progress);
            seen[s] = ppl;
            CurvePoint cp{n, ev.unique(n), ppl, dlog(ppl, r.ppl_orig)};
            if (observer.on_curve_point) observer.on_curve_point(cp);
            progress.report("stage2", std::min(1.0, double(seen.size()) / (2.0 * std::log2(cap_steps + 1) + 2)),
                            "bisect n=" + std::to_string(n));
            return ppl;
        };
        int lo = 0, hi = -1;
        for (int s = 1;; s *= 2) {
            const int ss = std::min(s, cap_steps);
            if (ss < 1) break;
            if (dlog(eval_step(ss), r.ppl_orig) >= eps) { hi = ss; break; }
            lo = ss;
            if (ss == cap_steps) break;
        }
        if (hi > 0) {
            while (hi - lo > 1) {
                const int mid = lo + (hi - lo) / 2;
                if (dlog(eval_step(mid), r.ppl_orig) >= eps) hi = mid; else lo = mid;
            }
            if (hi > 1) eval_step(hi - 1);  // linear check below n*: must stay under epsilon
        }
        for (auto& [s, ppl] : seen) r.curve.push_back(CurvePoint{s * o.step, ev.unique(s * o.step), ppl, dlog(ppl, r.ppl_orig)});
        const int evals = ev.evaluations + 1;
        const int ns = hi > 0 ? hi : lo;
        const int n_star = ns * o.step;
        const double ppl = ns > 0 ? seen[ns] : r.ppl_orig;
        CriticalSet b = make_set("bisected", n_star, prefix_channels(r.ranking, n_star), ppl, r.ppl_orig, eps, evals);
        r.bisected = b;
        r.faithful = b;
        r.faithful.name = "faithful";
        r.forwards_linear = evals;
        r.forwards_literal = ns + 1;
        r.timings["bisect"] = now_s() - t0;
    }

    // ---- Minimal critical set: only meaningful for a set that reaches epsilon. Otherwise there
    // is nothing to minimise, and reporting the unreached set as "minimal" would mislead.
    const bool base_reached = r.bisected ? r.bisected->reached : r.faithful.reached;
    if (o.minimize && !base_reached)
        progress.log("minimize skipped: epsilon was not reached, so there is no critical set to shrink");
    if (o.minimize && base_reached) {
        t0 = now_s();
        const CriticalSet& base = r.bisected ? *r.bisected : r.faithful;
        std::vector<Neuron> set = base.neurons;
        int evals = 0;
        double cur_ppl = base.ppl;
        if (base.reached) {
            for (int i = static_cast<int>(set.size()) - 1; i >= 0; --i) {
                if (set.size() <= 1) break;
                std::vector<Neuron> trial = set;
                trial.erase(trial.begin() + i);
                const double ppl = score_sequence(model, idt, mask_of(trial), progress).ppl;
                ++evals;
                progress.report("minimize", double(set.size() - static_cast<size_t>(i)) / double(base.neurons.size()),
                                "trying without " + to_string(set[static_cast<size_t>(i)]));
                if (dlog(ppl, r.ppl_orig) >= eps) { set = std::move(trial); cur_ppl = ppl; }
            }
            cur_ppl = score_sequence(model, idt, mask_of(set), progress).ppl;  // verification
            ++evals;
        }
        r.minimal = make_set("minimal", 0, set, cur_ppl, r.ppl_orig, eps, evals);
        r.timings["minimize"] = now_s() - t0;
    }

    // ---- Baselines and the phase-transition sweep
    if (o.sweep > 0 || !o.baselines.empty()) {
        t0 = now_s();
        run_baselines_and_sweep(model, idt, r.ranking, o, r.ppl_orig, r, progress);
        r.timings["baselines"] = now_s() - t0;
    }

    // ---- Dataset evaluation of each critical set
    if (!o.eval_dataset.empty()) {
        t0 = now_s();
        auto texts = load_dataset_texts(o.eval_dataset, o.eval_max_samples);
        DatasetPpl orig = dataset_perplexity(engine, texts, {}, o.max_tokens, progress);
        std::vector<const CriticalSet*> sets{&r.faithful};
        if (r.minimal) sets.push_back(&*r.minimal);
        for (const CriticalSet* c : sets) {
            DatasetPpl m = dataset_perplexity(engine, texts, mask_of(c->neurons), o.max_tokens, progress);
            DatasetEval de;
            de.set = c->name;
            de.dataset = o.eval_dataset;
            de.samples = orig.samples;
            de.tokens = orig.tokens;
            de.ppl_orig = orig.ppl;
            de.ppl_masked = m.ppl;
            r.evaluations.push_back(de);
        }
        r.timings["eval"] = now_s() - t0;
    }
    r.timings["total"] = now_s() - t_start;
    progress.report("done", 1.0, "search finished");
    return r;
}

}  // namespace achilles
