// SPDX-License-Identifier: GPL-3.0-or-later
// KV-cached decoding: greedy and sampled, per-token log-probabilities and alternatives.
#include "achilles/error.h"
#include "model/transformer.h"
#include <algorithm>
#include <c10/core/InferenceMode.h>
#include <cmath>
#include <numeric>

namespace achilles {

namespace {

// splitmix64-seeded xoshiro256** : small, portable, deterministic across platforms.
class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (auto& x : s_) {
            seed += 0x9E3779B97F4A7C15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            x = z ^ (z >> 31);
        }
    }
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t next() {
        const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return r;
    }
    uint64_t s_[4];
};

int argmax(const std::vector<double>& v) {
    return int(std::max_element(v.begin(), v.end()) - v.begin());
}

int sample(const std::vector<double>& logits, const GenerateOptions& opt, Rng& rng) {
    const size_t n = logits.size();
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[size_t(a)] > logits[size_t(b)]; });
    size_t keep = n;
    if (opt.top_k > 0) keep = std::min(keep, size_t(opt.top_k));
    std::vector<double> p(keep);
    const double mx = logits[size_t(order[0])] / opt.temperature;
    double z = 0;
    for (size_t i = 0; i < keep; ++i) z += p[i] = std::exp(logits[size_t(order[i])] / opt.temperature - mx);
    for (auto& x : p) x /= z;
    if (opt.top_p < 1.0) {  // smallest prefix whose mass reaches top_p (at least one token)
        double cum = 0;
        size_t k = 0;
        while (k < keep && (k == 0 || cum < opt.top_p)) cum += p[k++];
        keep = k;
        double zz = 0;
        for (size_t i = 0; i < keep; ++i) zz += p[i];
        for (size_t i = 0; i < keep; ++i) p[i] /= zz;
    }
    const double u = rng.uniform();
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
        cum += p[i];
        if (u < cum) return order[i];
    }
    return order[keep - 1];
}

}  // namespace

GenerateResult generate_tokens(const Transformer& model, const Tokenizer* tok, const std::vector<int>& eos_ids,
                               const std::vector<int>& prompt, const GenerateOptions& opt, const Hooks* hooks,
                               Progress& progress, const std::function<void(const TokenStep&)>& on_token) {
    const int V = model.config().vocab_size;
    if (prompt.empty()) throw Error("generate", "prompt", "the prompt has no tokens");
    for (int id : prompt)
        if (id < 0 || id >= V)
            throw Error("generate", "prompt", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                  std::to_string(V) + ")");
    if (opt.max_new < 0) throw Error("generate", "max_new", "must be >= 0");
    if (!opt.greedy) {
        if (!(opt.temperature > 0) || !std::isfinite(opt.temperature))
            throw Error("generate", "temperature", "must be a positive number");
        if (!(opt.top_p > 0 && opt.top_p <= 1)) throw Error("generate", "top_p", "must be in (0, 1]");
        if (opt.top_k < 0) throw Error("generate", "top_k", "must be >= 0");
    }
    if (opt.alternatives < 0) throw Error("generate", "alternatives", "must be >= 0");

    c10::InferenceMode guard;
    GenerateResult res;
    res.prompt_ids = prompt;
    Rng rng(opt.seed);
    KVCache cache;
    std::vector<int64_t> p64(prompt.begin(), prompt.end());
    progress.check();
    at::Tensor ids = at::tensor(p64, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
    at::Tensor logits = model.forward(ids, hooks, &cache);
    std::vector<int> gen;
    std::string prev_text;
    for (int step = 0; step < opt.max_new; ++step) {
        progress.check();
        at::Tensor last = logits.select(1, logits.size(1) - 1).select(0, 0).to(at::kCPU, at::kDouble).contiguous();
        std::vector<double> lv(last.data_ptr<double>(), last.data_ptr<double>() + last.numel());
        // log_softmax of the raw logits
        const double mx = *std::max_element(lv.begin(), lv.end());
        double z = 0;
        for (double x : lv) z += std::exp(x - mx);
        const double lz = mx + std::log(z);
        const int id = opt.greedy ? argmax(lv) : sample(lv, opt, rng);
        TokenStep ts;
        ts.id = id;
        ts.logprob = lv[size_t(id)] - lz;
        if (opt.alternatives > 0) {
            std::vector<int> order(lv.size());
            std::iota(order.begin(), order.end(), 0);
            const size_t k = std::min(order.size(), size_t(opt.alternatives));
            std::partial_sort(order.begin(), order.begin() + long(k), order.end(),
                              [&](int a, int b) { return lv[size_t(a)] > lv[size_t(b)] || (lv[size_t(a)] == lv[size_t(b)] && a < b); });
            for (size_t i = 0; i < k; ++i) {
                TokenAlternative alt;
                alt.id = order[i];
                alt.logprob = lv[size_t(order[i])] - lz;
                if (tok) alt.text = tok->decode({order[i]});
                ts.alternatives.push_back(std::move(alt));
            }
        }
        gen.push_back(id);
        if (tok) {
            std::string full = tok->decode(gen, true);
            ts.text = full.compare(0, prev_text.size(), prev_text) == 0 ? full.substr(prev_text.size()) : tok->decode({id}, true);
            prev_text = std::move(full);
        }
        res.steps.push_back(ts);
        if (on_token) on_token(ts);
        if (opt.stop_at_eos && std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end()) {
            res.stopped_at_eos = true;
            break;
        }
        if (step + 1 < opt.max_new) {
            const RopeScaling& rs = model.config().rope_scaling;
            const int64_t orig = rs.original_max_position_embeddings;
            if (rs.type == "longrope" && orig > 0 && cache.length <= orig && cache.length + 1 > orig) {
                // As HF Phi3 does: once the sequence crosses original_max_position_embeddings the
                // long factors apply to every position, so the cache is recomputed once.
                std::vector<int64_t> all(prompt.begin(), prompt.end());
                all.insert(all.end(), gen.begin(), gen.end());
                cache = KVCache{};
                logits = model.forward(at::tensor(all, at::TensorOptions().dtype(at::kLong)).unsqueeze(0), hooks, &cache);
            } else {
                at::Tensor next = at::full({1, 1}, int64_t(id), at::TensorOptions().dtype(at::kLong));
                logits = model.forward(next, hooks, &cache);
            }
        }
    }
    if (tok) res.text = tok->decode(gen, true);
    return res;
}

}  // namespace achilles
