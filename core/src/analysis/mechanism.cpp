// SPDX-License-Identifier: GPL-3.0-or-later
// Mechanism analyses on one probe: massive activations, attention sinks, the logit lens and
// super-weight tracing (achilles/mechanism.h). Each is one or a few forwards with recording hooks
// composed after the mask's hooks, so a recorder sees what the masked model computes.
#include "achilles/mechanism.h"
#include "achilles/error.h"
#include "achilles/search.h"
#include "model/engine_internal.h"
#include "model/transformer.h"
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace achilles {

std::string_view massive_site_name(MassiveSite s) {
    switch (s) {
        case MassiveSite::residual: return "residual";
        case MassiveSite::down_proj: return "down_proj";
        case MassiveSite::down_proj_input: return "down_proj_input";
    }
    return "residual";
}

namespace {

const Transformer& model_of(const Engine& e) { return EngineAccess::model(e); }

void check_probe(const Engine& engine, const std::vector<int>& ids, size_t min_tokens, const char* what) {
    if (ids.size() < min_tokens)
        throw Error(what, "ids", "needs at least " + std::to_string(min_tokens) + " tokens, got " + std::to_string(ids.size()));
    const int V = engine.info().vocab;
    for (int id : ids)
        if (id < 0 || id >= V)
            throw Error(what, "ids", "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
}

// The mask's hooks (statistics of mean/clamp entries measured on the probe), then `rec`, with a
// cancellation check at every site.
Hooks with_mask(const Transformer& model, const at::Tensor& ids, const MaskSpec& mask, Hooks rec, Progress& progress) {
    Hooks h = compose(make_mask_hooks(mask_needs_stats(mask) ? resolve_mask_stats(model, ids, mask) : mask), std::move(rec));
    auto inner = h.site;
    h.site = [&progress, inner](int l, Module m, at::Tensor& out) {
        progress.check();
        if (inner) inner(l, m, out);
    };
    return h;
}

// [1,T,C] (any dtype/device) -> host float64 [T,C], contiguous.
at::Tensor host2d(const at::Tensor& t) {
    at::Tensor x = t.detach();
    if (x.dim() == 3) x = x.select(0, 0);
    return x.to(at::kCPU, at::kDouble).contiguous();
}

double ppl_of(const at::Tensor& logits, const at::Tensor& ids) {
    at::Tensor nll = next_token_nll(logits, ids).to(at::kCPU, at::kDouble);
    return std::exp(nll.mean().item<double>());
}

std::string thousands(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    std::string s = buf, out;
    const size_t start = s[0] == '-' ? 1 : 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i > start && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

std::string fmt(double v, int prec = 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    return buf;
}

// Statistics of one (site, layer) tensor and the entries meeting the rule.
MassiveLayer layer_stats(const at::Tensor& t2d, int layer, const MassiveOptions& opt, MassiveSite site,
                         std::vector<MassiveHit>& hits) {
    MassiveLayer L;
    L.layer = layer;
    const int64_t T = t2d.size(0), C = t2d.size(1);
    const double* a = t2d.data_ptr<double>();
    const int64_t n = T * C;
    std::vector<double> absv(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) absv[size_t(i)] = std::abs(a[i]);
    {
        std::vector<double> tmp = absv;
        const size_t mid = tmp.size() / 2;
        std::nth_element(tmp.begin(), tmp.begin() + long(mid), tmp.end());
        double med = tmp[mid];
        if (tmp.size() % 2 == 0) {  // numpy: the mean of the two middle values
            const double lower = *std::max_element(tmp.begin(), tmp.begin() + long(mid));
            med = (lower + med) / 2;
        }
        L.median_abs = med;
    }
    // top-k by |a| descending, ties by (token, channel) ascending = by flat index ascending
    const int k = int(std::min<int64_t>(opt.top_k, n));
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
    auto better = [&](int64_t x, int64_t y) { return absv[size_t(x)] > absv[size_t(y)] || (absv[size_t(x)] == absv[size_t(y)] && x < y); };
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
    for (int i = 0; i < k; ++i) {
        const int64_t f = idx[size_t(i)];
        L.top.push_back({int(f / C), int(f % C), a[f]});
    }
    L.token_max_abs.resize(size_t(T));
    L.token_max_channel.resize(size_t(T));
    for (int64_t t = 0; t < T; ++t) {
        double best = -1;
        int bc = 0;
        for (int64_t c = 0; c < C; ++c)
            if (absv[size_t(t * C + c)] > best) {
                best = absv[size_t(t * C + c)];
                bc = int(c);
            }
        L.token_max_abs[size_t(t)] = best;
        L.token_max_channel[size_t(t)] = bc;
    }
    const double bar = opt.ratio * L.median_abs;
    for (int64_t i = 0; i < n; ++i)
        if (absv[size_t(i)] > opt.abs_threshold && absv[size_t(i)] > bar) {
            MassiveHit h;
            h.site = site;
            h.layer = layer;
            h.token = int(i / C);
            h.channel = int(i % C);
            h.value = a[i];
            h.ratio = L.median_abs > 0 ? absv[size_t(i)] / L.median_abs : INFINITY;
            hits.push_back(h);
        }
    return L;
}

bool in_set(const std::set<Neuron>& s, int layer, Module m, int ch) { return s.count(Neuron{layer, m, ch}) > 0; }

bool hit_is_critical(const MassiveHit& h, const std::set<Neuron>& crit) {
    switch (h.site) {
        case MassiveSite::down_proj: return in_set(crit, h.layer, Module::down_proj, h.channel);
        case MassiveSite::down_proj_input:
            return in_set(crit, h.layer, Module::act_fn, h.channel) || in_set(crit, h.layer, Module::gate_proj, h.channel) ||
                   in_set(crit, h.layer, Module::up_proj, h.channel);
        case MassiveSite::residual:
            for (int l = 0; l <= h.layer; ++l)
                if (in_set(crit, l, Module::down_proj, h.channel) || in_set(crit, l, Module::o_proj, h.channel) ||
                    in_set(crit, l, Module::post_attention_layernorm, h.channel))
                    return true;
            return false;
    }
    return false;
}

}  // namespace

namespace {

// One forward (under `mask`, which may be empty) recording every site's statistics and hits.
// `probe`, when given, receives the value of each of its entries in this forward (masked_value).
void record_massive(const Transformer& model, const at::Tensor& t, const MaskSpec& mask, const MassiveOptions& opt, int nl,
                    std::vector<std::vector<MassiveLayer>>& sites, std::vector<MassiveHit>& hits,
                    std::vector<MassiveHit>* probe, double p0, double p1, Progress& progress) {
    sites.assign(kNumMassiveSites, std::vector<MassiveLayer>(size_t(nl)));
    auto read_probe = [&](MassiveSite s, int l, const at::Tensor& a2d) {
        if (!probe) return;
        const int64_t C = a2d.size(1);
        const double* a = a2d.data_ptr<double>();
        for (auto& h : *probe)
            if (h.site == s && h.layer == l) h.masked_value = a[int64_t(h.token) * C + h.channel];
    };
    std::map<int, at::Tensor> act, up;
    Hooks rec;
    rec.site = [&](int l, Module m, at::Tensor& out) {
        if (m == Module::act_fn) act[l] = out;
        else if (m == Module::up_proj) up[l] = out;
        else if (m == Module::down_proj) {
            at::Tensor o = host2d(out);
            sites[1][size_t(l)] = layer_stats(o, l, opt, MassiveSite::down_proj, hits);
            read_probe(MassiveSite::down_proj, l, o);
            at::Tensor x = host2d(act.at(l) * up.at(l));
            sites[2][size_t(l)] = layer_stats(x, l, opt, MassiveSite::down_proj_input, hits);
            read_probe(MassiveSite::down_proj_input, l, x);
            act.erase(l);
            up.erase(l);
        }
    };
    rec.residual = [&](int l, at::Tensor& h) {
        at::Tensor x = host2d(h);
        sites[0][size_t(l)] = layer_stats(x, l, opt, MassiveSite::residual, hits);
        read_probe(MassiveSite::residual, l, x);
        progress.report("massive", p0 + (p1 - p0) * double(l + 1) / nl, "layer " + std::to_string(l));
    };
    {
        c10::InferenceMode guard;
        Hooks hooks = with_mask(model, t, mask, std::move(rec), progress);
        model.forward(t, &hooks);
    }
    progress.check();
    std::sort(hits.begin(), hits.end(), [](const MassiveHit& a, const MassiveHit& b) {
        return std::tie(a.site, a.layer, a.token, a.channel) < std::tie(b.site, b.layer, b.token, b.channel);
    });
}

// Persist ranges and critical flags of sorted hits.
void finish_hits(std::vector<MassiveHit>& hits, int nl, const std::set<Neuron>& crit) {
    std::set<std::tuple<int, int, int, int>> present;
    for (const auto& h : hits) present.insert({int(h.site), h.layer, h.token, h.channel});
    for (auto& h : hits) {
        int a = h.layer, b = h.layer;
        while (a > 0 && present.count({int(h.site), a - 1, h.token, h.channel})) --a;
        while (b + 1 < nl && present.count({int(h.site), b + 1, h.token, h.channel})) ++b;
        h.persist_first = a;
        h.persist_last = b;
        h.critical = hit_is_critical(h, crit);
    }
}

std::string massive_summary(const std::vector<std::vector<MassiveLayer>>& sites, const std::vector<MassiveHit>& hits,
                            const MassiveOptions& opt, bool with_critical) {
    const std::string rule = "|a| > " + fmt(opt.abs_threshold) + " and > " + thousands(opt.ratio) + "x its layer's median |a|";
    if (hits.empty()) {
        double best = -1, best_ratio = 0;
        std::string where;
        for (int s = 0; s < kNumMassiveSites; ++s)
            for (const auto& L : sites[size_t(s)])
                if (!L.top.empty() && std::abs(L.top[0].value) > best) {
                    best = std::abs(L.top[0].value);
                    best_ratio = L.median_abs > 0 ? best / L.median_abs : 0;
                    where = "L" + std::to_string(L.layer) + " " + std::string(massive_site_name(MassiveSite(s))) + " ch " +
                            std::to_string(L.top[0].channel) + " at token " + std::to_string(L.top[0].token);
                }
        return "No massive activations: no entry of the residual stream, down_proj's output or its input meets " + rule +
               ". The largest is " + fmt(best) + " (" + where + ", " + fmt(best_ratio, 3) + "x the median).";
    }
    const MassiveHit* top = &hits[0];
    std::set<int> tokens;
    int ncrit = 0;
    for (const auto& h : hits) {
        if (std::abs(h.value) > std::abs(top->value)) top = &h;
        tokens.insert(h.token);
        ncrit += h.critical;
    }
    std::string toks;
    int shown = 0;
    for (int tk : tokens) {
        if (shown++ == 6) {
            toks += ", ...";
            break;
        }
        toks += (toks.empty() ? "" : ", ") + std::to_string(tk);
    }
    return std::to_string(hits.size()) + " entries meet " + rule + ", at token" + (tokens.size() > 1 ? "s " : " ") + toks +
           ". The largest: L" + std::to_string(top->layer) + " " + std::string(massive_site_name(top->site)) + " ch " +
           std::to_string(top->channel) + " at token " + std::to_string(top->token) + ", " + fmt(std::abs(top->value)) + " (" +
           thousands(top->ratio) + "x the median)." +
           (with_critical ? " " + std::to_string(ncrit) + " of them are in the critical set." : "");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
MassiveReport massive_activations(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask,
                                  const MassiveOptions& opt, const std::vector<Neuron>& critical, Progress& progress) {
    validate_mask(mask, engine.info().shape);
    check_probe(engine, ids, 1, "massive activations");
    if (opt.top_k < 1 || opt.top_k > 1000) throw Error("options", "top_k", "must be in [1, 1000]");
    if (!(opt.abs_threshold >= 0) || !std::isfinite(opt.abs_threshold))
        throw Error("options", "abs_threshold", "must be a finite number >= 0");
    if (!(opt.ratio >= 1) || !std::isfinite(opt.ratio)) throw Error("options", "ratio", "must be a finite number >= 1");
    const Transformer& model = model_of(engine);
    const int nl = engine.info().layers;
    MassiveReport r;
    r.ids = ids;
    r.options = opt;
    r.mask = mask;
    at::Tensor t = ids_tensor(model, ids);
    const bool two = !mask.empty();
    record_massive(model, t, {}, opt, nl, r.sites, r.hits, nullptr, 0, two ? 0.5 : 1, progress);
    const std::set<Neuron> crit(critical.begin(), critical.end());
    finish_hits(r.hits, nl, crit);
    if (two) {
        MassiveMaskedRun m;
        record_massive(model, t, mask, opt, nl, m.sites, m.hits, &r.hits, 0.5, 1, progress);
        finish_hits(m.hits, nl, crit);
        m.summary = "Masked (" + mask_spec_to_inline(mask) + "): " + massive_summary(m.sites, m.hits, opt, !critical.empty());
        r.masked = std::move(m);
    }
    r.summary = massive_summary(r.sites, r.hits, opt, !critical.empty());
    if (two && !r.hits.empty()) {
        // How much of the clean spike is left under the mask.
        const MassiveHit* top = &r.hits[0];
        for (const auto& h : r.hits)
            if (std::abs(h.value) > std::abs(top->value)) top = &h;
        const size_t nm = r.masked->hits.size();
        r.summary += " Under the mask that entry is " + fmt(top->masked_value) + "; " + std::to_string(nm) +
                     (nm == 1 ? " entry meets" : " entries meet") + " the rule.";
    }
    std::set<std::tuple<int, int, int>> noted;
    for (const auto& h : r.hits) {
        if (!h.critical || h.site == MassiveSite::residual) continue;
        if (!noted.insert({int(h.site), h.layer, h.channel}).second) continue;
        const MassiveHit* best = &h;
        for (const auto& o : r.hits)
            if (o.site == h.site && o.layer == h.layer && o.channel == h.channel && std::abs(o.value) > std::abs(best->value))
                best = &o;
        r.notes.push_back("L" + std::to_string(h.layer) + " " + std::string(massive_site_name(h.site)) + " ch " +
                          std::to_string(h.channel) + " is " + thousands(best->ratio) + "x the median at token " +
                          std::to_string(best->token) + " and is in the critical set");
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
SinkReport attention_sinks(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask,
                           std::optional<std::pair<int, int>> pattern, Progress& progress) {
    validate_mask(mask, engine.info().shape);
    check_probe(engine, ids, 2, "attention sinks");
    const ModelInfo& info = engine.info();
    if (pattern && (pattern->first < 0 || pattern->first >= info.layers || pattern->second < 0 || pattern->second >= info.heads))
        throw Error("options", "pattern", "head " + std::to_string(pattern->first) + "." + std::to_string(pattern->second) +
                                              " is out of range (" + std::to_string(info.layers) + " layers x " +
                                              std::to_string(info.heads) + " heads)");
    const Transformer& model = model_of(engine);
    SinkReport r;
    r.ids = ids;
    r.layers = info.layers;
    r.heads = info.heads;
    r.mask = mask;
    r.pattern_head = pattern;
    at::Tensor t = ids_tensor(model, ids);
    const int64_t T = int64_t(ids.size());
    auto run = [&](const MaskSpec& m, std::vector<std::vector<double>>& mass, std::vector<std::vector<double>>& pat) {
        mass.assign(size_t(info.layers), std::vector<double>(size_t(info.heads), 0.0));
        Hooks rec;
        rec.attention_probs = [&](int l, const at::Tensor& p) {
            // p [1, heads, T, S]; queries 1..T-1 onto key 0, in float64
            at::Tensor col = p.select(0, 0).narrow(1, 1, T - 1).select(2, 0).to(at::kCPU, at::kDouble).mean(1).contiguous();
            const double* c = col.data_ptr<double>();
            for (int h = 0; h < info.heads; ++h) mass[size_t(l)][size_t(h)] = c[h];
            if (pattern && pattern->first == l) {
                at::Tensor ph = p.select(0, 0).select(0, pattern->second).to(at::kCPU, at::kDouble).contiguous();
                const double* q = ph.data_ptr<double>();
                const int64_t S = ph.size(1);
                pat.assign(size_t(T), std::vector<double>(size_t(S)));
                for (int64_t i = 0; i < T; ++i)
                    for (int64_t j = 0; j < S; ++j) pat[size_t(i)][size_t(j)] = q[i * S + j];
            }
            progress.report("sinks", double(l + 1) / info.layers, "layer " + std::to_string(l));
        };
        c10::InferenceMode guard;
        Hooks hooks = with_mask(model, t, m, std::move(rec), progress);
        model.forward(t, &hooks);
    };
    run({}, r.clean_mass, r.clean_pattern);
    if (!mask.empty()) run(mask, r.masked_mass, r.masked_pattern);
    progress.check();
    return r;
}

// ---------------------------------------------------------------------------------------------
LensReport logit_lens(const Engine& engine, const std::vector<int>& ids, const MaskSpec& mask, int position, int top_k,
                      Progress& progress) {
    validate_mask(mask, engine.info().shape);
    check_probe(engine, ids, 2, "logit lens");
    const int T = int(ids.size());
    if (position < 0) position = T - 2;
    if (position > T - 2)
        throw Error("options", "position", "must be in [0, " + std::to_string(T - 2) + "] (a position with a next token), got " +
                                               std::to_string(position));
    const int V = engine.info().vocab;
    if (top_k < 1 || top_k > std::min(V, 1000)) throw Error("options", "top", "must be in [1, " + std::to_string(std::min(V, 1000)) + "]");
    const Transformer& model = model_of(engine);
    const Tokenizer* tok = engine.tokenizer();
    LensReport r;
    r.ids = ids;
    r.position = position;
    r.true_next = ids[size_t(position + 1)];
    r.top_k = top_k;
    r.mask = mask;
    at::Tensor t = ids_tensor(model, ids);
    const int nl = engine.info().layers;
    auto run = [&](const MaskSpec& m) {
        LensRun out;
        Hooks rec;
        rec.residual = [&](int l, at::Tensor& h) {
            at::Tensor logits = model.head_logits(h).select(0, 0);  // [T, V] float32
            // ranks of the true next token at every position: 1 + #(logit > logit of the target)
            at::Tensor tgt = t.select(0, 0).narrow(0, 1, T - 1).to(logits.device()).unsqueeze(1);
            at::Tensor lg = logits.narrow(0, 0, T - 1);
            at::Tensor ranks = (lg > lg.gather(1, tgt)).sum(1).to(at::kCPU, at::kLong).contiguous();
            const int64_t* rk = ranks.data_ptr<int64_t>();
            std::vector<int> row(size_t(T - 1));
            for (int i = 0; i < T - 1; ++i) row[size_t(i)] = int(rk[i]) + 1;
            out.true_rank_all.push_back(std::move(row));
            // the chosen position: probabilities in float64
            at::Tensor p = at::softmax(logits.select(0, position).to(at::kCPU, at::kDouble), 0).contiguous();
            const double* pp = p.data_ptr<double>();
            LensLayer L;
            L.layer = l;
            std::vector<int> order(static_cast<size_t>(V));
            for (int i = 0; i < V; ++i) order[size_t(i)] = i;
            std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                              [&](int a, int b) { return pp[a] > pp[b] || (pp[a] == pp[b] && a < b); });
            for (int i = 0; i < top_k; ++i) {
                LensToken lt{order[size_t(i)], pp[order[size_t(i)]], {}};
                if (tok) lt.text = tok->decode({lt.id});
                L.top.push_back(std::move(lt));
            }
            L.true_rank = out.true_rank_all.back()[size_t(position)];
            L.true_prob = pp[r.true_next];
            out.layers.push_back(std::move(L));
            progress.report("lens", double(l + 1) / nl, "layer " + std::to_string(l));
        };
        c10::InferenceMode guard;
        Hooks hooks = with_mask(model, t, m, std::move(rec), progress);
        model.forward(t, &hooks);
        return out;
    };
    r.clean = run({});
    if (!mask.empty()) r.masked = run(mask);
    progress.check();
    return r;
}

// ---------------------------------------------------------------------------------------------
TraceReport trace_super_weights(const Engine& engine, const std::vector<int>& ids, const Neuron& neuron, int token,
                                int top_k, double scale, Progress& progress) {
    const ModelInfo& info = engine.info();
    validate_mask({MaskEntry{neuron, {}}}, info.shape);
    check_probe(engine, ids, 2, "super-weight trace");
    if (neuron.module != Module::down_proj && neuron.module != Module::act_fn)
        throw Error("options", "neuron", to_string(neuron) + ": tracing follows a down_proj or act_fn channel");
    const int T = int(ids.size());
    if (token >= T) throw Error("options", "token", "must be < " + std::to_string(T) + " (the probe's length)");
    if (top_k < 1 || top_k > 100000) throw Error("options", "top", "must be in [1, 100000]");
    if (!std::isfinite(scale) || std::abs(scale) > 1e6) throw Error("options", "scale", "must be a finite number in [-1e6, 1e6]");
    const Transformer& model = model_of(engine);
    const int l = neuron.layer;
    const int c = neuron.channel;
    at::Tensor t = ids_tensor(model, ids);
    TraceReport r;
    r.ids = ids;
    r.neuron = neuron;
    r.scale = scale;
    r.matrix = neuron.module == Module::down_proj ? Module::down_proj : Module::gate_proj;
    // One forward: the neuron's values [T], its matrix's input [T, in] and the residual after the layer.
    struct Seen {
        at::Tensor value, input, residual;  // host float64: [T], [T, in], [T, H]
    };
    // `before`: weight-edit hooks, ahead of the mask's.
    auto forward = [&](const MaskSpec& m, Seen& s, const Hooks* before) {
        Hooks rec;
        rec.linear_input = [&](int layer, Module mod, const at::Tensor& x) {
            if (layer == l && mod == r.matrix) s.input = host2d(x);  // the traced row's input
        };
        rec.site = [&](int layer, Module mod, at::Tensor& out) {
            if (layer == l && mod == neuron.module) s.value = host2d(out).select(1, c).clone();
        };
        rec.residual = [&](int layer, at::Tensor& h) {
            if (layer == l) s.residual = host2d(h);
        };
        c10::InferenceMode guard;
        Hooks hooks = with_mask(model, t, m, std::move(rec), progress);
        if (before) hooks = compose(*before, std::move(hooks));
        at::Tensor logits = model.forward(t, &hooks);
        return ppl_of(logits, t);
    };
    Seen clean;
    r.ppl_clean = forward({}, clean, nullptr);
    const double* v = clean.value.data_ptr<double>();
    if (token < 0) {
        token = 0;
        for (int i = 1; i < T; ++i)
            if (std::abs(v[i]) > std::abs(v[token])) token = i;
    }
    r.token = token;
    r.value = v[token];
    // contributions W[c, j] * x_j at the token
    at::Tensor w = model.linear_weight(l, r.matrix).select(0, c).to(at::kCPU, at::kDouble).contiguous();
    at::Tensor x = clean.input.select(0, token).contiguous();
    const double* wp = w.data_ptr<double>();
    const double* xp = x.data_ptr<double>();
    const int n = int(w.numel());
    std::vector<int> order(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) order[size_t(j)] = j;
    auto contrib = [&](int j) { return std::abs(wp[j] * xp[j]); };
    const int k = std::min(top_k, n);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) { return contrib(a) > contrib(b) || (contrib(a) == contrib(b) && a < b); });
    for (int i = 0; i < k; ++i) {
        const int j = order[size_t(i)];
        r.weights.push_back({c, j, wp[j], xp[j], wp[j] * xp[j]});
    }
    auto resid_max = [&](const Seen& s) { return s.residual.select(0, token).abs().max().item<double>(); };
    r.residual_clean = resid_max(clean);
    progress.check();
    {
        Seen edited;
        const Hooks edit = make_weight_edit_hooks(model, {WeightEdit{l, r.matrix, c, r.weights[0].col, scale}});
        r.ppl_weight = forward({}, edited, &edit);
        r.value_weight = edited.value.data_ptr<double>()[token];
        r.residual_weight = resid_max(edited);
    }
    progress.check();
    {
        Seen masked;
        r.ppl_channel = forward({MaskEntry{neuron, {}}}, masked, nullptr);
        r.residual_channel = resid_max(masked);
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
CurveRerun rerun_curve(const Engine& engine, const SearchResult& result, const MaskEntry& how, Progress& progress) {
    if (!(result.model == engine.info().fingerprint))
        throw Error(result.model.path, "model", "the result was computed on another model (fingerprints differ)");
    if (result.curve.empty()) throw Error("result", "curve", "the result has no stage-2 curve to re-run");
    check_probe(engine, result.ids, 2, "curve");
    CurveRerun r;
    r.how = how;
    r.ids = result.ids;
    r.ppl_orig = engine.perplexity(result.ids, {}, progress).ppl;
    const double lo = std::log10(r.ppl_orig);
    for (size_t i = 0; i < result.curve.size(); ++i) {
        const int n = result.curve[i].n;
        MaskSpec mask;
        for (const Neuron& ch : prefix_channels(result.ranking, n)) {
            MaskEntry e = how;
            e.neuron = ch;
            e.lo.reset();
            e.hi.reset();
            mask.push_back(std::move(e));
        }
        validate_mask(mask, engine.info().shape);
        CurvePoint p;
        p.n = n;
        p.unique_channels = int(mask.size());
        p.ppl = engine.perplexity(result.ids, mask, progress).ppl;
        p.delta = std::log10(p.ppl) - lo;
        if (!r.reached_n && p.delta >= result.options.epsilon) r.reached_n = n;
        r.points.push_back(p);
        progress.report("curve", double(i + 1) / double(result.curve.size()), "n = " + std::to_string(n));
    }
    return r;
}

}  // namespace achilles
