// SPDX-License-Identifier: GPL-3.0-or-later
// The decoder forward with HF transformers semantics for the registered families (model/family.h),
// split into attention, MLP and norm blocks with named hook sites, KV cache and layer-wise
// multi-device placement. Optional parts (biases, q/k norms, sandwich norms, fused projections)
// follow the tensors the weight table loaded.
#include "model/transformer.h"
#include "achilles/error.h"
#include "model/arch.h"
#include "model/attention_kernel.h"
#include "model/placement.h"
#include "model/threads.h"
#include <torch/cuda.h>
#include <torch/version.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <algorithm>
#include <cmath>
#include <dlfcn.h>
#include <tuple>
#include <map>
#include <numbers>
#include <set>

namespace achilles {

struct Transformer::Impl {
    ModelConfig cfg;
    const FamilyDescriptor* family = nullptr;
    ModelWeights w;
    at::ScalarType dtype = at::kFloat;
    std::vector<std::string> warnings;
    std::string device_summary;
    int64_t H = 0, NH = 0, NKV = 0, D = 0, I = 0, V = 0, rot = 0;
    double scale = 1.0;
    double eps = 1e-6;
    std::vector<int> windows;  // attention window per layer (0: full causal), the one sliding rule
    // RoPE
    std::vector<double> inv_short, inv_long;  // inv_long used by longrope beyond orig_max
    double attn_factor = 1.0;
    int64_t orig_max = 0;
    bool longrope = false, dynamic = false;
    enum class Act { silu, gelu, gelu_tanh } act = Act::silu;

    void init_common();
    std::vector<double> inv_freq_for(int64_t seq_len) const;
    at::Tensor norm(const at::Tensor& x, const at::Tensor& w) const;
    at::Tensor activation(const at::Tensor& x) const;

    // ---- the forward, block by block; each block calls the hook sites it owns, in forward order
    struct Pass;  // one forward's tables, hooks and cache
    // input_layernorm output -> o_proj output. Sites q_proj, k_proj, v_proj (before RoPE), o_proj.
    at::Tensor attention(Pass& pass, int layer, const at::Tensor& x) const;
    // Adds the attention output to the residual h and returns the MLP input.
    // Site post_attention_layernorm.
    at::Tensor attention_residual(Pass& pass, int layer, at::Tensor& h, const at::Tensor& o) const;
    // MLP input -> down_proj output. Sites gate_proj, up_proj, act_fn, down_proj.
    at::Tensor mlp(Pass& pass, int layer, const at::Tensor& x) const;
    // Adds the MLP output to the residual h (gemma2: after post_feedforward_layernorm).
    void mlp_residual(int layer, at::Tensor& h, const at::Tensor& d) const;
    // Final norm, lm_head and final soft-capping: float32 logits.
    at::Tensor head(at::Tensor h) const;
};

namespace {

at::Tensor rotate_half(const at::Tensor& x) {
    const int64_t h = x.size(-1) / 2;
    return at::cat({x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rot) {
    // x [B, heads, T, D]; cos/sin [T, rot]
    const int64_t D = x.size(-1);
    if (rot == D) return x * cos + rotate_half(x) * sin;
    at::Tensor xr = x.narrow(-1, 0, rot), xp = x.narrow(-1, rot, D - rot);
    return at::cat({xr * cos + rotate_half(xr) * sin, xp}, -1);
}

at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep) {
    if (n_rep == 1) return x;
    const auto B = x.size(0), KV = x.size(1), S = x.size(2), D = x.size(3);
    return x.unsqueeze(2).expand({B, KV, n_rep, S, D}).reshape({B, KV * n_rep, S, D});
}

// Softmax attention through model/attention_kernel.h: q [B, NH, T, D], k and v [B, NKV, S, D]
// (float32, CPU), row t attending keys lo[t] <= key < hi[t]; returns [B, T, NH * D]. No score
// tensor, no repeat_kv copies, the output written straight in [B, T, heads, D] order.
at::Tensor fused_attention_cpu(at::Tensor q, at::Tensor k, at::Tensor v, const std::vector<int64_t>& lo,
                               const std::vector<int64_t>& hi, double scale) {
    if (q.stride(-1) != 1) q = q.contiguous();
    if (k.stride(-1) != 1) k = k.contiguous();
    if (v.stride(-1) != 1) v = v.contiguous();
    const int64_t B = q.size(0), NH = q.size(1), T = q.size(2), D = q.size(3), NKV = k.size(1);
    at::Tensor out = at::empty({B, T, NH, D}, q.options());
    detail::AttentionArgs a;
    a.B = B; a.NH = NH; a.NKV = NKV; a.T = T; a.S = k.size(2); a.D = D;
    a.scale = static_cast<float>(scale);
    a.q = q.data_ptr<float>(); a.k = k.data_ptr<float>(); a.v = v.data_ptr<float>(); a.out = out.data_ptr<float>();
    for (int i = 0; i < 3; ++i) {
        a.q_stride[i] = q.stride(i);
        a.k_stride[i] = k.stride(i);
        a.v_stride[i] = v.stride(i);
    }
    a.out_stride[0] = T * NH * D; a.out_stride[1] = D; a.out_stride[2] = NH * D;
    a.lo = lo.data(); a.hi = hi.data();
    at::parallel_for(0, B * NKV, 1, [&](int64_t begin, int64_t end) { detail::attention_f32(a, begin, end); });
    return out.view({B, T, NH * D});
}

at::Tensor lin(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

}  // namespace

void Transformer::Impl::init_common() {
    family = &family_of(cfg);
    H = cfg.hidden_size;
    NH = cfg.num_attention_heads;
    NKV = cfg.num_key_value_heads;
    D = cfg.head_dim > 0 ? cfg.head_dim : (NH > 0 ? H / NH : 0);
    I = cfg.intermediate_size;
    V = cfg.vocab_size;
    eps = cfg.rms_norm_eps;
    const std::string src = cfg.source_path.empty() ? "config.json" : cfg.source_path;
    if (H <= 0 || NH <= 0 || NKV <= 0 || D <= 0 || I <= 0 || V <= 0 || cfg.num_hidden_layers <= 0)
        throw Error(src, "hidden_size", "model sizes must be positive");
    if (NH % NKV != 0)
        throw Error(src, "num_key_value_heads", "num_attention_heads must be a multiple of num_key_value_heads");
    // query_pre_attn_scalar is set only by the soft-capping families (gemma2); 0 means head_dim.
    scale = 1.0 / std::sqrt(cfg.query_pre_attn_scalar > 0 ? cfg.query_pre_attn_scalar : double(D));
    const std::string& an = family->forced_activation.empty() ? cfg.hidden_act : family->forced_activation;
    if (an == "silu" || an == "swish" || an.empty()) {
        act = Act::silu;
    } else if (an == "gelu_pytorch_tanh" || an == "gelu_new" || an == "gelu_fast") {
        act = Act::gelu_tanh;
    } else if (an == "gelu") {
        act = Act::gelu;
    } else {
        throw Error(src, "hidden_act", "unsupported activation '" + an + "'");
    }
    if (!cfg.layer_types.empty() && int(cfg.layer_types.size()) != cfg.num_hidden_layers)
        throw Error(src, "layer_types", "must have one entry per layer");
    windows = layer_windows(*family, cfg);
    // RoPE
    rot = int64_t(std::floor(double(D) * (cfg.partial_rotary_factor > 0 ? cfg.partial_rotary_factor : 1.0)));
    rot -= rot % 2;
    if (rot <= 0 || rot > D) throw Error(src, "partial_rotary_factor", "gives a rotary dimension out of range");
    const int64_t half = rot / 2;
    std::vector<double> base(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i) base[size_t(i)] = 1.0 / std::pow(cfg.rope_theta, double(2 * i) / double(rot));
    const RopeScaling& rs = cfg.rope_scaling;
    inv_short = base;
    const std::string& type = rs.type;
    if (type.empty() || type == "default" || type == "none") {
    } else if (type == "linear") {
        if (!(rs.factor > 0)) throw Error(src, "rope_scaling.factor", "must be positive");
        for (auto& f : inv_short) f /= rs.factor;
    } else if (type == "llama3") {
        const double factor = rs.factor, lo = rs.low_freq_factor, hi = rs.high_freq_factor;
        const double old = double(rs.original_max_position_embeddings);
        if (!(factor > 0) || !(old > 0) || hi == lo)
            throw Error(src, "rope_scaling", "llama3 rope_scaling needs factor, low/high_freq_factor and original_max_position_embeddings");
        const double lo_wl = old / lo, hi_wl = old / hi;
        for (auto& f : inv_short) {
            const double wl = 2 * std::numbers::pi / f;
            double g = wl > lo_wl ? f / factor : f;
            const double smooth = (old / wl - lo) / (hi - lo);
            const double smoothed = (1 - smooth) * g / factor + smooth * g;
            const bool medium = !(wl < hi_wl) && !(wl > lo_wl);
            f = medium ? smoothed : g;
        }
    } else if (type == "dynamic") {
        dynamic = true;
    } else if (type == "longrope" || type == "su") {
        longrope = true;
        orig_max = rs.original_max_position_embeddings > 0 ? rs.original_max_position_embeddings
                                                            : cfg.max_position_embeddings;
        if (int64_t(rs.short_factor.size()) != half || int64_t(rs.long_factor.size()) != half)
            throw Error(src, "rope_scaling.short_factor",
                        "longrope short_factor and long_factor need " + std::to_string(half) + " entries");
        double factor = rs.factor;
        if (rs.original_max_position_embeddings > 0 && cfg.max_position_embeddings > orig_max)
            factor = double(cfg.max_position_embeddings) / double(orig_max);
        if (rs.attention_factor) attn_factor = *rs.attention_factor;
        else attn_factor = factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(double(orig_max)));
        inv_long.resize(size_t(half));
        for (int64_t i = 0; i < half; ++i) {
            const double b = std::pow(cfg.rope_theta, double(2 * i) / double(rot));
            inv_short[size_t(i)] = 1.0 / (rs.short_factor[size_t(i)] * b);
            inv_long[size_t(i)] = 1.0 / (rs.long_factor[size_t(i)] * b);
        }
    } else {
        throw Error(src, "rope_scaling.type", "unsupported rope_scaling type '" + type + "'");
    }
}

std::vector<double> Transformer::Impl::inv_freq_for(int64_t seq_len) const {
    if (longrope) return seq_len > orig_max ? inv_long : inv_short;
    if (dynamic && seq_len > cfg.max_position_embeddings) {
        const double f = cfg.rope_scaling.factor;
        const double b = cfg.rope_theta * std::pow(f * double(seq_len) / double(cfg.max_position_embeddings) - (f - 1),
                                                   double(rot) / double(rot - 2));
        std::vector<double> out(inv_short.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = 1.0 / std::pow(b, double(2 * i) / double(rot));
        return out;
    }
    return inv_short;
}

at::Tensor Transformer::Impl::norm(const at::Tensor& x, const at::Tensor& w) const {
    // HF RMSNorm: statistics in float32.
    const at::Tensor xf = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
    const at::Tensor n = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
    if (family->norm == NormStyle::rms_one_plus) {  // gemma: (x * (1 + w.float())).type_as(x)
        const at::Tensor out = n * (w.to(at::kFloat) + 1.0);
        return out.scalar_type() == x.scalar_type() ? out : out.to(x.scalar_type());
    }
    return w * (n.scalar_type() == x.scalar_type() ? n : n.to(x.scalar_type()));
}

at::Tensor Transformer::Impl::activation(const at::Tensor& x) const {
    switch (act) {
        case Act::silu: return at::silu(x);
        case Act::gelu: return at::gelu(x);
        case Act::gelu_tanh: return at::gelu(x, "tanh");
    }
    return x;
}

namespace {

uint64_t tensor_bytes(const std::vector<int64_t>& shape, at::ScalarType t) {
    uint64_t n = 1;
    for (auto s : shape) n *= uint64_t(s);
    return n * at::elementSize(t);
}

// Free memory of a CUDA device through the CUDA runtime, when it can be found; 0 if unknown.
uint64_t cuda_free_bytes(int device) {
    using GetDev = int (*)(int*);
    using SetDev = int (*)(int);
    using MemInfo = int (*)(size_t*, size_t*);
    // The runtime libtorch_cuda already loaded comes first (a pip wheel's libcudart.so.13 lives in
    // site-packages/nvidia/*/lib, found through libtorch's RUNPATH, not the default search path).
    static void* lib = [] {
        const char* names[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"};
        for (const char* n : names)
            if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) return h;
        for (const char* n : names)
            if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return h;
        return static_cast<void*>(nullptr);
    }();
    if (!lib) return 0;
    auto get = reinterpret_cast<GetDev>(dlsym(lib, "cudaGetDevice"));
    auto set = reinterpret_cast<SetDev>(dlsym(lib, "cudaSetDevice"));
    auto info = reinterpret_cast<MemInfo>(dlsym(lib, "cudaMemGetInfo"));
    if (!get || !set || !info) return 0;
    int prev = 0;
    get(&prev);
    size_t free = 0, total = 0;
    if (set(device) != 0) return 0;
    const int rc = info(&free, &total);
    set(prev);
    return rc == 0 ? uint64_t(free) : 0;
}

}  // namespace

Transformer::Transformer(const Checkpoint& ckpt, const LoadOptions& opt, std::vector<std::string>& warnings,
                         Progress* progress)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.cfg = ckpt.config;
    if (m.cfg.source_path.empty()) m.cfg.source_path = ckpt.dir + "/config.json";
    m.init_common();
    // Devices: one device, or a layer-wise plan over several CUDA devices.
    std::vector<at::Device> devs;
    std::vector<std::string> dev_names = opt.devices;
    if (dev_names.size() == 1 && dev_names[0] == "auto") {
        dev_names.clear();
        const int n = int(torch::cuda::device_count());
        if (n == 0) throw Error("options", "devices", "'auto' placement needs CUDA devices, none is visible");
        for (int i = 0; i < n; ++i) dev_names.push_back("cuda:" + std::to_string(i));
    }
    for (const auto& d : dev_names) devs.push_back(parse_device(d));
    if (devs.empty()) devs.push_back(parse_device(opt.device));
    // Layer-wise placement is meant for CUDA devices; a list of "cpu" entries is accepted too
    // (it exercises the same plan and activation hand-over on machines without GPUs).
    for (const auto& d : devs)
        if (devs.size() > 1 && d.type() != devs[0].type())
            throw Error("options", "devices", "layer-wise placement needs devices of one kind (all cuda:N)");
    m.dtype = compute_dtype(opt.dtype, devs[0], checkpoint_dtype(ckpt));
    const int L = m.cfg.num_hidden_layers;
    std::vector<at::Device> layer_dev(size_t(L), devs[0]);
    at::Device embed_dev = devs[0], head_dev = devs[0];
    m.device_summary = devs[0].str();
    if (devs.size() > 1) {
        ModelWeights probe;
        std::vector<TensorSlot> slots =
            arch_tensor_slots(m.cfg, probe, [&](const std::string& n) { return ckpt.tensors.count(n) > 0; });
        std::vector<uint64_t> layer_bytes(size_t(L), 0);
        uint64_t embed_bytes = 0, head_bytes = 0;
        for (const auto& s : slots) {
            const uint64_t b = tensor_bytes(s.shape, m.dtype);
            if (s.layer == -1) embed_bytes += b;
            else if (s.layer == -2) head_bytes += b;
            else layer_bytes[size_t(s.layer)] += b;
        }
        if (m.cfg.tie_word_embeddings) head_bytes += embed_bytes;  // tied head is copied when split
        std::vector<uint64_t> free;
        for (const auto& d : devs) {
            uint64_t f = d.is_cuda() ? cuda_free_bytes(d.index()) : 0;
            free.push_back(f ? f : uint64_t(1) << 62);  // unknown: spread evenly
        }
        bool unknown = false;
        for (auto f : free) unknown |= f == (uint64_t(1) << 62);
        if (unknown) {  // spread in proportion to an equal share each
            uint64_t total = embed_bytes + head_bytes;
            for (auto b : layer_bytes) total += b;
            for (auto& f : free) f = total / devs.size() * 2 + (uint64_t(1) << 30);
        }
        PlacementPlan plan = plan_placement(free, layer_bytes, embed_bytes, head_bytes);
        embed_dev = devs[size_t(plan.embed_device)];
        head_dev = devs[size_t(plan.head_device)];
        for (int i = 0; i < L; ++i) layer_dev[size_t(i)] = devs[size_t(plan.layer_device[size_t(i)])];
        m.device_summary = placement_summary(plan, dev_names);
    }
    std::function<void(double)> on_progress;
    if (progress)
        on_progress = [progress](double f) {
            progress->report("load", 0.2 + 0.6 * f, "weights");
            progress->check();
        };
    load_weights(ckpt, m.dtype, layer_dev, embed_dev, head_dev, m.w, warnings, on_progress);
    m.warnings = warnings;
}

Transformer::Transformer(const ModelConfig& config, const std::map<std::string, at::Tensor>& weights)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.cfg = config;
    if (m.cfg.source_path.empty()) m.cfg.source_path = "config";
    m.init_common();
    bind_weights(m.cfg, weights, m.w, m.warnings);
    m.dtype = m.w.embed.scalar_type();
    m.device_summary = m.w.embed.device().str();
}

Transformer::~Transformer() = default;

const ModelConfig& Transformer::config() const { return impl_->cfg; }
at::Device Transformer::device() const { return impl_->w.embed_device; }
at::Device Transformer::head_device() const { return impl_->w.head_device; }
at::ScalarType Transformer::dtype() const { return impl_->dtype; }
std::string Transformer::device_summary() const { return impl_->device_summary; }
const std::vector<std::string>& Transformer::warnings() const { return impl_->warnings; }

int64_t Transformer::parameter_count() const {
    const Impl& m = *impl_;
    int64_t n = m.w.embed.numel() + m.w.final_norm.numel();
    if (!m.cfg.tie_word_embeddings) n += m.w.lm_head.numel();
    for (const auto& L : m.w.layers)
        for (const at::Tensor* t : {&L.input_norm, &L.post_attn_norm, &L.pre_ff_norm, &L.post_ff_norm, &L.q_w, &L.q_b,
                                    &L.k_w, &L.k_b, &L.v_w, &L.v_b, &L.o_w, &L.o_b, &L.qkv_w, &L.q_norm, &L.k_norm,
                                    &L.gate_w, &L.gate_b, &L.up_w, &L.up_b, &L.down_w, &L.down_b, &L.gate_up_w})
            if (t->defined()) n += t->numel();
    return n;
}

ModelShape Transformer::shape() const {
    const Impl& m = *impl_;
    ModelShape s;
    s.layers = m.cfg.num_hidden_layers;
    auto set = [&](Module mod, int64_t w) { s.width[size_t(mod)] = int(w); };
    set(Module::q_proj, m.NH * m.D);
    set(Module::k_proj, m.NKV * m.D);
    set(Module::v_proj, m.NKV * m.D);
    set(Module::o_proj, m.H);
    set(Module::gate_proj, m.I);
    set(Module::up_proj, m.I);
    set(Module::act_fn, m.I);
    set(Module::down_proj, m.H);
    set(Module::post_attention_layernorm, m.H);
    return s;
}

at::Tensor Transformer::embed(const at::Tensor& ids) const {
    const Impl& m = *impl_;
    if (ids.dim() != 2) throw Error("forward", "ids", "expected a [batch, tokens] tensor of token ids");
    if (ids.numel() > 0 && ids.device().is_cpu()) {  // checked on the host (no device sync)
        const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
        if (lo < 0 || hi >= m.V)
            throw Error("forward", "ids", "token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary [0, " +
                                              std::to_string(m.V) + ")");
    }
    at::Tensor h = at::embedding(m.w.embed, ids.to(m.w.embed_device, at::kLong));
    if (m.family->embed_scale)  // HF: hidden * torch.tensor(hidden_size ** 0.5, dtype=hidden.dtype)
        h = h * at::scalar_tensor(std::sqrt(double(m.H)), h.options());
    return h;
}

at::Tensor Transformer::forward(const at::Tensor& ids, const Hooks* hooks, KVCache* cache) const {
    return forward_embeds(embed(ids), hooks, cache);
}

// ---------------------------------------------------------------------------------------------
// The forward pass. Hook sites, in order per layer: q_proj, k_proj, v_proj, o_proj,
// post_attention_layernorm, gate_proj, up_proj, act_fn, down_proj; then the residual hook.

// One forward: batch geometry, RoPE and mask tables per device, hooks and the KV cache.
struct Transformer::Impl::Pass {
    const Impl& m;
    const Hooks* hooks;
    KVCache* cache;
    int64_t B = 0, T = 0, past = 0, S = 0;
    bool site_hooks = false, linear_inputs = false;
    at::Tensor cos_cpu, sin_cpu;
    std::map<int, at::Tensor> mask_cpu;  // window -> mask (true = masked), undefined when none is
    std::map<int, std::pair<std::vector<int64_t>, std::vector<int64_t>>> ranges_cpu;  // window -> key ranges
    struct DevTables {
        at::Tensor cos, sin;
        std::map<int, at::Tensor> masks;
    };
    std::map<std::string, DevTables> per_dev;
    // Per layer, set by use_layer().
    const LayerWeights* L = nullptr;
    DevTables* tb = nullptr;
    const at::Tensor* mask = nullptr;

    Pass(const Impl& impl, const Hooks* h, KVCache* c, int64_t batch, int64_t tokens)
        : m(impl), hooks(h), cache(c), B(batch), T(tokens) {
        past = cache ? cache->length : 0;
        S = past + T;
        site_hooks = hooks && hooks->site;
        linear_inputs = hooks && hooks->linear_input;
        // RoPE tables for positions past..S-1 (angles in float64, then the compute dtype).
        const std::vector<double> inv = m.inv_freq_for(S);
        const int64_t half = int64_t(inv.size());
        at::Tensor ang = at::empty({T, half}, at::TensorOptions().dtype(at::kDouble));
        double* a = ang.data_ptr<double>();
        for (int64_t t = 0; t < T; ++t)
            for (int64_t i = 0; i < half; ++i) a[t * half + i] = double(past + t) * inv[size_t(i)];
        at::Tensor emb = at::cat({ang, ang}, -1);
        cos_cpu = (emb.cos() * m.attn_factor).to(m.dtype);
        sin_cpu = (emb.sin() * m.attn_factor).to(m.dtype);
    }

    void site(int layer, Module mod, at::Tensor& t) const {
        if (site_hooks) hooks->site(layer, mod, t);
    }

    // The attention rule, as one range of keys per query row (lo <= key < hi): row t is position
    // past + t and sees keys past + t - window < key <= past + t (window 0: every earlier key).
    // The fused CPU attention reads these ranges; host_mask() is built from them.
    const std::pair<std::vector<int64_t>, std::vector<int64_t>>& key_ranges(int window) {
        auto [it, fresh] = ranges_cpu.try_emplace(window);
        if (fresh) {
            it->second.first.resize(size_t(T));
            it->second.second.resize(size_t(T));
            for (int64_t t = 0; t < T; ++t) {
                const int64_t q = past + t;
                it->second.first[size_t(t)] = window > 0 ? std::max<int64_t>(0, q - window + 1) : 0;
                it->second.second[size_t(t)] = q + 1;
            }
        }
        return it->second;
    }

    // The same rule as a [T, S] mask on the host (true = masked); undefined when nothing is masked.
    const at::Tensor& host_mask(int window) {
        auto it = mask_cpu.find(window);
        if (it != mask_cpu.end()) return it->second;
        const auto& [lo, hi] = key_ranges(window);
        const auto opt = at::TensorOptions().dtype(at::kLong);
        at::Tensor k = at::arange(0, S, opt).unsqueeze(0);
        at::Tensor l = at::from_blob(const_cast<int64_t*>(lo.data()), {T, 1}, opt).clone();
        at::Tensor h = at::from_blob(const_cast<int64_t*>(hi.data()), {T, 1}, opt).clone();
        at::Tensor mk = (k < l).logical_or(k >= h);
        if (!mk.any().item<bool>()) mk = at::Tensor();
        return mask_cpu[window] = mk;
    }

    // Moves h to the layer's device and selects its tables and mask.
    void use_layer(int l, at::Tensor& h) {
        L = &m.w.layers[size_t(l)];
        if (h.device() != L->device) h = h.to(L->device);
        auto [it, fresh] = per_dev.try_emplace(L->device.str());
        if (fresh) {
            it->second.cos = L->device.is_cpu() ? cos_cpu : cos_cpu.to(L->device);
            it->second.sin = L->device.is_cpu() ? sin_cpu : sin_cpu.to(L->device);
        }
        tb = &it->second;
        const int window = m.windows[size_t(l)];
        auto mit = tb->masks.find(window);
        if (mit == tb->masks.end()) {
            at::Tensor mk = host_mask(window);
            mit = tb->masks.emplace(window, mk.defined() && !L->device.is_cpu() ? mk.to(L->device) : mk).first;
        }
        mask = &mit->second;
    }
};

at::Tensor Transformer::Impl::attention(Pass& pass, int l, const at::Tensor& x) const {
    const LayerWeights& L = *pass.L;
    const int64_t B = pass.B, T = pass.T;
    at::Tensor q, k, v;
    if (L.qkv_w.defined()) {  // fused (phi3): the sites see slices of the fused output
        if (pass.linear_inputs) {
            for (Module m : {Module::q_proj, Module::k_proj, Module::v_proj}) pass.hooks->linear_input(l, m, x);
        }
        at::Tensor qkv = at::linear(x, L.qkv_w);
        q = qkv.narrow(-1, 0, NH * D);
        k = qkv.narrow(-1, NH * D, NKV * D);
        v = qkv.narrow(-1, (NH + NKV) * D, NKV * D);
    } else {
        if (pass.linear_inputs) {
            for (Module m : {Module::q_proj, Module::k_proj, Module::v_proj}) pass.hooks->linear_input(l, m, x);
        }
        q = lin(x, L.q_w, L.q_b);
        k = lin(x, L.k_w, L.k_b);
        v = lin(x, L.v_w, L.v_b);
    }
    pass.site(l, Module::q_proj, q);
    pass.site(l, Module::k_proj, k);
    pass.site(l, Module::v_proj, v);
    q = q.reshape({B, T, NH, D});
    k = k.reshape({B, T, NKV, D});
    v = v.reshape({B, T, NKV, D}).transpose(1, 2);
    if (L.q_norm.defined()) {  // qwen3: RMSNorm per head before RoPE
        q = norm(q, L.q_norm);
        k = norm(k, L.k_norm);
    }
    q = apply_rope(q.transpose(1, 2), pass.tb->cos, pass.tb->sin, rot);
    k = apply_rope(k.transpose(1, 2), pass.tb->cos, pass.tb->sin, rot);
    if (KVCache* cache = pass.cache) {
        if (pass.past > 0) {
            k = at::cat({cache->k[size_t(l)], k}, 2);
            v = at::cat({cache->v[size_t(l)], v}, 2);
        }
        cache->k[size_t(l)] = k;
        cache->v[size_t(l)] = v;
    }
    const double softcap = cfg.attn_logit_softcapping;
    const bool want_probs = pass.hooks && pass.hooks->attention_probs;
    at::Tensor attn;  // [B, T, NH * D]
    if (softcap <= 0 && !want_probs && q.device().is_cpu() && q.scalar_type() == at::kFloat &&
        !(q.requires_grad() || k.requires_grad() || v.requires_grad())) {
        // Fused on the CPU (model/attention_kernel.h). Not differentiable: training and gradients
        // take the ATen path below.
        const auto& [lo, hi] = pass.key_ranges(windows[size_t(l)]);
        attn = fused_attention_cpu(q, k, v, lo, hi, scale);
    } else {
        const int64_t n_rep = NH / NKV;
        at::Tensor kk = repeat_kv(k, n_rep), vv = repeat_kv(v, n_rep);
        const at::Tensor& mask = *pass.mask;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
        if (softcap <= 0 && !want_probs) {  // ATen's fused attention (libtorch >= 2.1 has the scale argument)
            c10::optional<at::Tensor> allowed;
            if (mask.defined()) allowed = mask.logical_not();
            attn = at::scaled_dot_product_attention(q, kk, vv, allowed, 0.0, false, scale);
        } else
#endif
        {
            at::Tensor s = at::matmul(q, kk.transpose(-2, -1)) * scale;
            if (softcap > 0) s = at::tanh(s / softcap) * softcap;
            if (mask.defined()) s = s.masked_fill(mask, -std::numeric_limits<double>::infinity());
            at::Tensor p = at::softmax(s, -1, at::kFloat);
            if (want_probs) pass.hooks->attention_probs(l, p);
            if (p.scalar_type() != q.scalar_type()) p = p.to(q.scalar_type());
            attn = at::matmul(p, vv);
        }
        attn = attn.transpose(1, 2).reshape({B, T, NH * D});
    }
    if (pass.linear_inputs) pass.hooks->linear_input(l, Module::o_proj, attn);
    at::Tensor o = lin(attn, L.o_w, L.o_b);
    pass.site(l, Module::o_proj, o);
    return o;
}

at::Tensor Transformer::Impl::attention_residual(Pass& pass, int l, at::Tensor& h, const at::Tensor& o) const {
    const LayerWeights& L = *pass.L;
    if (L.pre_ff_norm.defined()) {  // sandwich norms (gemma2): post_attention_layernorm on the attention output
        at::Tensor a = norm(o, L.post_attn_norm);
        pass.site(l, Module::post_attention_layernorm, a);
        h = h + a;
        return norm(h, L.pre_ff_norm);
    }
    h = h + o;
    at::Tensor x = norm(h, L.post_attn_norm);
    pass.site(l, Module::post_attention_layernorm, x);
    return x;
}

at::Tensor Transformer::Impl::mlp(Pass& pass, int l, const at::Tensor& x) const {
    const LayerWeights& L = *pass.L;
    at::Tensor gate, up;
    if (pass.linear_inputs) {
        pass.hooks->linear_input(l, Module::gate_proj, x);
        pass.hooks->linear_input(l, Module::up_proj, x);
    }
    if (L.gate_up_w.defined()) {  // fused (phi3)
        at::Tensor gu = at::linear(x, L.gate_up_w);
        gate = gu.narrow(-1, 0, I);
        up = gu.narrow(-1, I, I);
    } else {
        gate = lin(x, L.gate_w, L.gate_b);
        up = lin(x, L.up_w, L.up_b);
    }
    pass.site(l, Module::gate_proj, gate);
    pass.site(l, Module::up_proj, up);
    at::Tensor g = activation(gate);
    pass.site(l, Module::act_fn, g);  // mlp.act_fn's output, as the paper hooks it
    at::Tensor gu = g * up;
    if (pass.linear_inputs) pass.hooks->linear_input(l, Module::down_proj, gu);
    at::Tensor d = lin(gu, L.down_w, L.down_b);
    pass.site(l, Module::down_proj, d);
    return d;
}

void Transformer::Impl::mlp_residual(int l, at::Tensor& h, const at::Tensor& d) const {
    const LayerWeights& L = w.layers[size_t(l)];
    h = L.post_ff_norm.defined() ? h + norm(d, L.post_ff_norm) : h + d;
}

at::Tensor Transformer::Impl::head(at::Tensor h) const {
    if (h.device() != w.head_device) h = h.to(w.head_device);
    h = norm(h, w.final_norm);
    at::Tensor logits = at::linear(h, w.lm_head);
    if (cfg.final_logit_softcapping > 0)
        logits = at::tanh(logits / cfg.final_logit_softcapping) * cfg.final_logit_softcapping;
    return logits.scalar_type() == at::kFloat ? logits : logits.to(at::kFloat);
}

at::Tensor Transformer::head_logits(const at::Tensor& residual) const { return impl_->head(residual); }

at::Tensor Transformer::linear_bias(int layer, Module matrix) const {
    const Impl& m = *impl_;
    if (layer < 0 || layer >= m.cfg.num_hidden_layers)
        throw Error("weights", "layer", "layer " + std::to_string(layer) + " is out of range");
    const LayerWeights& L = m.w.layers[size_t(layer)];
    switch (matrix) {
        case Module::q_proj: return L.q_b;
        case Module::k_proj: return L.k_b;
        case Module::v_proj: return L.v_b;
        case Module::o_proj: return L.o_b;
        case Module::gate_proj: return L.gate_b;
        case Module::up_proj: return L.up_b;
        case Module::down_proj: return L.down_b;
        default: return at::Tensor();
    }
}

at::Tensor Transformer::linear_weight(int layer, Module matrix) const {
    const Impl& m = *impl_;
    if (layer < 0 || layer >= m.cfg.num_hidden_layers)
        throw Error("weights", "layer", "layer " + std::to_string(layer) + " is out of range");
    const LayerWeights& L = m.w.layers[size_t(layer)];
    switch (matrix) {
        case Module::q_proj: return L.qkv_w.defined() ? L.qkv_w.narrow(0, 0, m.NH * m.D) : L.q_w;
        case Module::k_proj: return L.qkv_w.defined() ? L.qkv_w.narrow(0, m.NH * m.D, m.NKV * m.D) : L.k_w;
        case Module::v_proj: return L.qkv_w.defined() ? L.qkv_w.narrow(0, (m.NH + m.NKV) * m.D, m.NKV * m.D) : L.v_w;
        case Module::o_proj: return L.o_w;
        case Module::gate_proj: return L.gate_up_w.defined() ? L.gate_up_w.narrow(0, 0, m.I) : L.gate_w;
        case Module::up_proj: return L.gate_up_w.defined() ? L.gate_up_w.narrow(0, m.I, m.I) : L.up_w;
        case Module::down_proj: return L.down_w;
        default: break;
    }
    throw Error("weights", "module", std::string(module_name(matrix)) + " has no weight matrix");
}

at::Tensor Transformer::forward_embeds(at::Tensor h, const Hooks* hooks, KVCache* cache) const {
    const Impl& m = *impl_;
    if (h.dim() != 3 || h.size(2) != m.H) throw Error("forward", "embeds", "expected [batch, tokens, hidden] embeddings");
    const int64_t B = h.size(0);
    const int nl = m.cfg.num_hidden_layers;
    if (cache) {
        if (cache->k.size() != size_t(nl)) {
            cache->k.assign(size_t(nl), at::Tensor());
            cache->v.assign(size_t(nl), at::Tensor());
        }
        if (cache->length > 0 && cache->k[0].defined() && cache->k[0].size(0) != B)
            throw Error("forward", "cache", "batch size differs from the cached batch");
    }
    if (hooks && hooks->begin_forward) hooks->begin_forward(cache ? cache->length : 0);
    if (h.device() != m.w.embed_device) h = h.to(m.w.embed_device);
    if (h.scalar_type() != m.dtype) h = h.to(m.dtype);
    // One thread where the products are tiny, the process's counts where they are large
    // (model/threads.h); the hooks (stage 1's accumulation, masks) run under the same policy.
    keep_freed_memory();
    WorkThreads threads(forward_gemm_flops(B * h.size(1), m.H, m.I, hooks && hooks->skip_head ? 0 : m.V));
    if (hooks && hooks->embeddings) hooks->embeddings(h);

    Impl::Pass pass(m, hooks, cache, B, h.size(1));
    for (int l = 0; l < nl; ++l) {
        pass.use_layer(l, h);
        at::Tensor o = m.attention(pass, l, m.norm(h, pass.L->input_norm));
        at::Tensor x = m.attention_residual(pass, l, h, o);
        m.mlp_residual(l, h, m.mlp(pass, l, x));
        if (hooks && hooks->residual) hooks->residual(l, h);
    }
    if (cache) cache->length = pass.S;
    if (hooks && hooks->skip_head) return at::Tensor();
    return m.head(std::move(h));
}

at::Tensor next_token_nll(const at::Tensor& logits, const at::Tensor& ids) {
    // logits [1,T,V] float32; ids [1,T]. nll[t-1] = -log p(ids[t] | ids[<t]) for t = 1..T-1.
    const int64_t T = logits.size(1);
    if (T < 2) throw Error("perplexity", "ids", "at least 2 tokens are needed");
    // logsumexp - logit of the target: no [T, V] log-softmax buffer.
    at::Tensor lg = logits.narrow(1, 0, T - 1);
    if (lg.scalar_type() != at::kFloat) lg = lg.to(at::kFloat);
    at::Tensor tgt = ids.to(lg.device(), at::kLong).narrow(1, 1, T - 1).unsqueeze(-1);
    return (at::logsumexp(lg, -1) - lg.gather(-1, tgt).squeeze(-1)).squeeze(0);
}

// ---------------------------------------------------------------------------------------------
// Hooks: masks and composition.

Hooks make_mask_hooks(const MaskSpec& mask) {
    if (mask.empty()) return {};
    // Per site: the channels zeroed at every position (one index_fill, the paper's fast path),
    // position-limited zeros, and entries of the other modes, applied in order after the zeros.
    struct Moded {
        int64_t channel;
        std::vector<int> positions;  // empty: every position
        Ablation mode;
        double factor, lo, hi;
    };
    struct Group {
        at::Tensor all;                                        // channels zeroed at every position
        std::vector<std::pair<int64_t, std::vector<int>>> at;  // channel, positions (zero)
        std::vector<Moded> moded;
        std::map<std::string, at::Tensor> on_device;
    };
    struct State {
        std::map<std::pair<int, int>, Group> groups;
        int64_t offset = 0;
    };
    auto st = std::make_shared<State>();
    std::map<std::pair<int, int>, std::set<int64_t>> full;
    for (const auto& e : mask) {
        auto key = std::make_pair(e.neuron.layer, int(e.neuron.module));
        Group& g = st->groups[key];
        if (e.mode != Ablation::zero) {
            if (e.needs_stats())
                throw Error("mask spec", "mode", to_string(e.neuron) + ": the " + std::string(ablation_name(e.mode)) +
                                                     " ablation has no statistics (calibrate it on a clean run first)");
            g.moded.push_back({e.neuron.channel, e.positions, e.mode, e.factor, e.lo.value_or(0), e.hi.value_or(0)});
        } else if (e.positions.empty()) {
            full[key].insert(e.neuron.channel);
        } else {
            g.at.emplace_back(e.neuron.channel, e.positions);
        }
    }
    for (auto& [key, chans] : full) {
        std::vector<int64_t> v(chans.begin(), chans.end());
        st->groups[key].all = at::tensor(v, at::TensorOptions().dtype(at::kLong));
    }
    Hooks h;
    h.begin_forward = [st](int64_t first) { st->offset = first; };
    h.site = [st](int layer, Module mod, at::Tensor& out) {
        auto it = st->groups.find({layer, int(mod)});
        if (it == st->groups.end()) return;
        Group& g = it->second;
        if (g.all.defined()) {
            at::Tensor idx = g.all;
            if (!out.device().is_cpu()) {
                auto [dit, fresh] = g.on_device.try_emplace(out.device().str());
                if (fresh) dit->second = g.all.to(out.device());
                idx = dit->second;
            }
            out = out.index_fill(-1, idx, 0);
        }
        const int64_t T = out.size(-2), C = out.size(-1);
        if (!g.at.empty()) {
            at::Tensor zero = at::zeros({T, C}, at::TensorOptions().dtype(at::kBool));
            bool any = false;
            for (const auto& [ch, positions] : g.at)
                for (int p : positions) {
                    const int64_t t = int64_t(p) - st->offset;
                    if (t >= 0 && t < T && ch >= 0 && ch < C) {
                        zero[t][ch] = true;
                        any = true;
                    }
                }
            if (any) out = out.masked_fill(zero.to(out.device()), 0);
        }
        if (!g.moded.empty()) {
            out = out.clone();  // never write into a view of a fused output or the caller's tensor
            auto apply = [](at::Tensor v, const Moded& e) {
                switch (e.mode) {
                    case Ablation::mean: v.fill_(e.lo); break;
                    case Ablation::scale: v.mul_(e.factor); break;
                    case Ablation::clamp: v.clamp_(e.lo, e.hi); break;
                    case Ablation::zero: v.zero_(); break;
                }
            };
            for (const Moded& e : g.moded) {
                if (e.channel < 0 || e.channel >= C) continue;
                at::Tensor col = out.select(-1, e.channel);  // [B, T]
                if (e.positions.empty()) {
                    apply(col, e);
                    continue;
                }
                for (int p : e.positions) {
                    const int64_t t = int64_t(p) - st->offset;
                    if (t >= 0 && t < T) apply(col.select(-1, t), e);
                }
            }
        }
    };
    return h;
}

namespace {
// numpy.quantile's default (linear) on sorted values.
double quantile_sorted(const std::vector<double>& v, double q) {
    if (v.empty()) return 0;
    const double pos = q * double(v.size() - 1);
    const size_t lo = size_t(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    const double frac = pos - double(lo);
    return v[lo] + (v[hi] - v[lo]) * frac;
}
}  // namespace

MaskSpec resolve_mask_stats(const Transformer& model, const at::Tensor& ids, MaskSpec mask) {
    return resolve_mask_stats(model, std::vector<at::Tensor>{ids}, std::move(mask));
}

MaskSpec resolve_mask_stats(const Transformer& model, const std::vector<at::Tensor>& samples, MaskSpec mask,
                            Progress* progress) {
    if (!mask_needs_stats(mask)) return mask;
    // One clean forward recording the channels that need statistics (all positions).
    std::map<std::pair<int, int>, std::set<int64_t>> want;
    for (const auto& e : mask)
        if (e.needs_stats()) want[{e.neuron.layer, int(e.neuron.module)}].insert(e.neuron.channel);
    std::map<std::tuple<int, int, int64_t>, std::vector<double>> values;
    Hooks rec;
    rec.site = [&](int layer, Module mod, at::Tensor& out) {
        auto it = want.find({layer, int(mod)});
        if (it == want.end()) return;
        for (int64_t ch : it->second) {
            if (ch < 0 || ch >= out.size(-1)) continue;
            at::Tensor col = out.select(-1, ch).reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
            const double* p = col.data_ptr<double>();
            std::vector<double>& v = values[{layer, int(mod), ch}];
            v.insert(v.end(), p, p + col.numel());
        }
    };
    for (size_t i = 0; i < samples.size(); ++i) {
        if (progress) progress->check();
        {
            c10::InferenceMode guard;
            model.forward(samples[i], &rec);
        }
        if (progress)
            progress->report("calibrate", double(i + 1) / double(samples.size()),
                             "calibration sample " + std::to_string(i + 1) + " of " + std::to_string(samples.size()));
    }
    for (auto& e : mask) {
        if (!e.needs_stats()) continue;
        auto it = values.find({e.neuron.layer, int(e.neuron.module), e.neuron.channel});
        if (it == values.end() || it->second.empty())
            throw Error("mask spec", "channel", to_string(e.neuron) + ": no clean values to calibrate on");
        std::vector<double> v = it->second;
        if (e.mode == Ablation::mean) {
            double s = 0;
            for (double x : v) s += x;
            e.lo = e.hi = s / double(v.size());
        } else {
            std::sort(v.begin(), v.end());
            e.lo = quantile_sorted(v, 1.0 - e.percentile / 100.0);
            e.hi = quantile_sorted(v, e.percentile / 100.0);
        }
    }
    return mask;
}

Hooks make_weight_edit_hooks(const Transformer& model, const std::vector<WeightEdit>& edits) {
    if (edits.empty()) return {};
    // Each edited row is recomputed whole, x . W'[row] (+ bias), with W' the row with its edited
    // columns scaled: no cancellation against the unedited output (a super weight's term can be
    // 10^4 times what is left without it).
    struct Row {
        int64_t row;
        at::Tensor weights;  // [in], the edited row, in the weight's dtype
        at::Tensor bias;     // scalar or undefined
    };
    struct State {
        std::map<std::pair<int, int>, std::vector<Row>> rows;
        std::map<std::pair<int, int>, at::Tensor> input;  // this forward's input of each edited linear
    };
    auto st = std::make_shared<State>();
    c10::NoGradGuard no_grad;
    for (const auto& e : edits) {
        at::Tensor w = model.linear_weight(e.layer, e.matrix);
        if (e.row < 0 || e.row >= w.size(0) || e.col < 0 || e.col >= w.size(1))
            throw Error("weight edit", e.row >= w.size(0) || e.row < 0 ? "row" : "col",
                        to_string(e) + " is outside the " + std::to_string(w.size(0)) + "x" + std::to_string(w.size(1)) +
                            " matrix");
        auto& rows = st->rows[{e.layer, int(e.matrix)}];
        auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.row == e.row; });
        if (it == rows.end()) {
            Row r{e.row, w.select(0, e.row).clone(), at::Tensor()};
            at::Tensor b = model.linear_bias(e.layer, e.matrix);
            if (b.defined()) r.bias = b.select(0, e.row).clone();
            rows.push_back(std::move(r));
            it = rows.end() - 1;
        }
        at::Tensor el = it->weights.select(0, e.col);
        el.mul_(e.factor);  // in the weight's dtype, as editing the checkpoint would
    }
    Hooks h;
    h.linear_input = [st](int layer, Module m, const at::Tensor& x) {
        auto key = std::make_pair(layer, int(m));
        if (st->rows.count(key)) st->input[key] = x;
    };
    h.site = [st](int layer, Module m, at::Tensor& out) {
        auto key = std::make_pair(layer, int(m));
        auto it = st->rows.find(key);
        if (it == st->rows.end()) return;
        const at::Tensor& x = st->input.at(key);
        out = out.clone();
        for (const Row& r : it->second) {
            at::Tensor w = r.weights.device() == x.device() && r.weights.scalar_type() == x.scalar_type()
                               ? r.weights
                               : r.weights.to(x.device(), x.scalar_type());
            at::Tensor v = at::matmul(x, w);
            if (r.bias.defined()) v = v + r.bias.to(v.device(), v.scalar_type());
            out.select(-1, r.row).copy_(v);
        }
        st->input.erase(key);
    };
    return h;
}

Hooks compose(Hooks a, Hooks b) {
    const bool skip_head = a.skip_head || b.skip_head;  // either caller reads the sites only
    if (a.empty() && !a.begin_forward) {
        b.skip_head = skip_head;
        return b;
    }
    if (b.empty() && !b.begin_forward) {
        a.skip_head = skip_head;
        return a;
    }
    Hooks h;
    h.skip_head = skip_head;
    if (a.site || b.site)
        h.site = [sa = a.site, sb = b.site](int layer, Module m, at::Tensor& t) {
            if (sa) sa(layer, m, t);
            if (sb) sb(layer, m, t);
        };
    if (a.embeddings || b.embeddings)
        h.embeddings = [ea = a.embeddings, eb = b.embeddings](at::Tensor& t) {
            if (ea) ea(t);
            if (eb) eb(t);
        };
    if (a.residual || b.residual)
        h.residual = [ra = a.residual, rb = b.residual](int layer, at::Tensor& t) {
            if (ra) ra(layer, t);
            if (rb) rb(layer, t);
        };
    if (a.attention_probs || b.attention_probs)
        h.attention_probs = [pa = a.attention_probs, pb = b.attention_probs](int layer, const at::Tensor& p) {
            if (pa) pa(layer, p);
            if (pb) pb(layer, p);
        };
    if (a.linear_input || b.linear_input)
        h.linear_input = [xa = a.linear_input, xb = b.linear_input](int layer, Module m, const at::Tensor& x) {
            if (xa) xa(layer, m, x);
            if (xb) xb(layer, m, x);
        };
    if (a.begin_forward || b.begin_forward)
        h.begin_forward = [fa = a.begin_forward, fb = b.begin_forward](int64_t p) {
            if (fa) fa(p);
            if (fb) fb(p);
        };
    return h;
}

}  // namespace achilles
