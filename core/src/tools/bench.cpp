// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli bench: forward GFLOP/s against a GEMM peak, loading RSS against weight bytes,
// stage-1 overhead against bare forwards, stage-1 memory against N and K, bisect against linear.
#include "achilles/bench.h"
#include "analysis/search_internal.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "model/arch.h"
#include "model/threads.h"
#include "achilles/engine.h"
#include <cstdio>
#include <sys/wait.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <torch/cuda.h>
#include <c10/core/GradMode.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <array>
#include <dlfcn.h>
#include <map>
#include <thread>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <malloc.h>
#include <sys/resource.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace achilles {

namespace {

using detail::now_s;

struct Shape {
    int hidden = 896, inter = 4864, layers = 24, heads = 14, kv = 2, vocab = 151936;
};

// Where the device rows run: the device, the compute dtype, and a host sync for timing.
struct Target {
    at::Device device{at::kCPU};
    at::ScalarType dtype = at::kFloat;
    bool cuda() const { return device.is_cuda(); }
    void sync() const {
        if (device.is_cuda()) torch::cuda::synchronize(device.index());
    }
    at::TensorOptions opts() const { return at::TensorOptions().dtype(dtype).device(device); }
};

Target target_of(const BenchOptions& o) {
    Target t;
    t.device = parse_device(o.device);
    if (t.device.is_cuda() && (!at::hasCUDA() || int64_t(torch::cuda::device_count()) <= t.device.index()))
        throw Error("bench", "device", "'" + o.device + "' requested but this libtorch has no CUDA support or no such GPU");
    const at::ScalarType asked = parse_dtype_option(o.dtype);
    t.dtype = asked != at::ScalarType::Undefined ? asked : (t.device.is_cuda() ? at::kBFloat16 : at::kFloat);
    return t;
}

std::map<std::string, at::Tensor> to_target(std::map<std::string, at::Tensor> w, const Target& t) {
    if (!t.cuda() && t.dtype == at::kFloat) return w;
    for (auto& [k, v] : w) v = v.to(t.device, t.dtype);
    return w;
}

// Llama-3-8B-shaped random weights generated on the target device (no host copy of 16 GB).
std::map<std::string, at::Tensor> llama8b_weights(int layers, const Target& t) {
    const int64_t H = 4096, I = 14336, NH = 32, KV = 8, D = 128, V = 128256;
    auto rnd = [&](std::vector<int64_t> shape) { return at::randn(shape, t.opts()).mul_(0.02); };
    std::map<std::string, at::Tensor> w;
    w["model.embed_tokens.weight"] = rnd({V, H});
    w["lm_head.weight"] = rnd({V, H});
    w["model.norm.weight"] = at::ones({H}, t.opts());
    for (int l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        w[p + "input_layernorm.weight"] = at::ones({H}, t.opts());
        w[p + "post_attention_layernorm.weight"] = at::ones({H}, t.opts());
        w[p + "self_attn.q_proj.weight"] = rnd({NH * D, H});
        w[p + "self_attn.k_proj.weight"] = rnd({KV * D, H});
        w[p + "self_attn.v_proj.weight"] = rnd({KV * D, H});
        w[p + "self_attn.o_proj.weight"] = rnd({H, NH * D});
        w[p + "mlp.gate_proj.weight"] = rnd({I, H});
        w[p + "mlp.up_proj.weight"] = rnd({I, H});
        w[p + "mlp.down_proj.weight"] = rnd({H, I});
    }
    return w;
}

std::string llama8b_config_json(int layers) {
    return "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
           "\"intermediate_size\":14336,\"num_hidden_layers\":" + std::to_string(layers) +
           ",\"num_attention_heads\":32,\"num_key_value_heads\":8,\"vocab_size\":128256,\"rms_norm_eps\":1e-5,"
           "\"rope_theta\":500000.0,\"max_position_embeddings\":131072,\"tie_word_embeddings\":false,"
           "\"hidden_act\":\"silu\",\"bos_token_id\":128000,\"eos_token_id\":128001,\"torch_dtype\":\"bfloat16\","
           "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
           "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}";
}

std::string qwen_config_json(const Shape& s) {
    std::ostringstream j;
    j << "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":" << s.hidden
      << ",\"intermediate_size\":" << s.inter << ",\"num_hidden_layers\":" << s.layers
      << ",\"num_attention_heads\":" << s.heads << ",\"num_key_value_heads\":" << s.kv
      << ",\"vocab_size\":" << s.vocab
      << ",\"rms_norm_eps\":1e-6,\"rope_theta\":1000000.0,\"max_position_embeddings\":32768,"
         "\"tie_word_embeddings\":true,\"hidden_act\":\"silu\",\"bos_token_id\":151643,\"eos_token_id\":151643,"
         "\"torch_dtype\":\"float32\",\"use_sliding_window\":false}";
    return j.str();
}

std::map<std::string, at::Tensor> random_weights(const Shape& s, uint64_t seed) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto rnd = [&](std::vector<int64_t> shape, double scale) {
        return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).mul_(scale);
    };
    const int64_t hd = s.hidden / s.heads;
    std::map<std::string, at::Tensor> w;
    w["model.embed_tokens.weight"] = rnd({s.vocab, s.hidden}, 0.02);
    w["model.norm.weight"] = at::ones({s.hidden});
    for (int l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        w[p + "input_layernorm.weight"] = at::ones({s.hidden});
        w[p + "post_attention_layernorm.weight"] = at::ones({s.hidden});
        w[p + "self_attn.q_proj.weight"] = rnd({s.heads * hd, s.hidden}, 0.02);
        w[p + "self_attn.q_proj.bias"] = rnd({s.heads * hd}, 0.02);
        w[p + "self_attn.k_proj.weight"] = rnd({s.kv * hd, s.hidden}, 0.02);
        w[p + "self_attn.k_proj.bias"] = rnd({s.kv * hd}, 0.02);
        w[p + "self_attn.v_proj.weight"] = rnd({s.kv * hd, s.hidden}, 0.02);
        w[p + "self_attn.v_proj.bias"] = rnd({s.kv * hd}, 0.02);
        w[p + "self_attn.o_proj.weight"] = rnd({s.hidden, s.heads * hd}, 0.02);
        w[p + "mlp.gate_proj.weight"] = rnd({s.inter, s.hidden}, 0.02);
        w[p + "mlp.up_proj.weight"] = rnd({s.inter, s.hidden}, 0.02);
        w[p + "mlp.down_proj.weight"] = rnd({s.hidden, s.inter}, 0.02);
    }
    return w;
}

double forward_flops(const Shape& s, int64_t T) {
    const double hd = double(s.hidden) / s.heads;
    const double per_layer = double(s.hidden) * s.heads * hd * 2 + 2.0 * s.hidden * s.kv * hd + 3.0 * s.hidden * s.inter;
    double f = 2.0 * T * (per_layer * s.layers + double(s.vocab) * s.hidden);
    f += s.layers * 4.0 * double(T) * T * s.heads * hd;  // QK^T and AV (full, not causal-halved)
    return f;
}

double cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

long status_kib(const char* key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const size_t n = std::strlen(key);
    while (std::getline(in, line))
        if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n + 1);
    return -1;
}
bool reset_hwm() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}

BenchRow row(std::string name, double value, std::string unit, std::string detail) {
    BenchRow r;
    r.name = std::move(name);
    r.value = value;
    r.unit = std::move(unit);
    r.detail = std::move(detail);
    return r;
}
BenchRow target_row(std::string name, double value, double target, bool higher, std::string detail) {
    BenchRow r = row(std::move(name), value, "ratio", std::move(detail));
    r.has_target = true;
    r.target = target;
    r.higher_is_better = higher;
    r.pass = higher ? value >= target : value <= target;
    return r;
}

std::string fmt(double v, int prec = 3) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(prec);
    o << v;
    return o.str();
}

// Median / best / worst of a list of measurements (best = largest).
struct Stats { double median = 0, best = 0, worst = 0; };
Stats stats_of(std::vector<double> v) {
    Stats st;
    if (v.empty()) return st;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    st.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    st.worst = v.front();
    st.best = v.back();
    return st;
}

// OpenBLAS's own thread pool (libtorch's at::set_num_threads does not reach it), found at run
// time so that another BLAS simply leaves it alone.
using BlasSet = void (*)(int);
using BlasGet = int (*)();
using BlasConfig = char* (*)();
BlasSet blas_set() { return reinterpret_cast<BlasSet>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
BlasGet blas_get() { return reinterpret_cast<BlasGet>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }
std::string blas_description() {
    auto cfg = reinterpret_cast<BlasConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    auto get = blas_get();
    if (!cfg || !get) return "BLAS: not OpenBLAS (its threads not controlled)";
    return std::string("BLAS: ") + cfg() + ", " + std::to_string(get()) + " BLAS threads";
}

// libtorch's intra-op (OpenMP) thread count to pair with n BLAS threads. libgomp's default wait
// policy keeps idle workers spinning after every element-wise op; on a machine with as many
// cores as threads they then starve OpenBLAS's own spinning pool (measured here: a 2-thread
// forward 4x slower than a 1-thread one). So the OpenMP pool stays at 1 thread unless the process
// runs with OMP_WAIT_POLICY=passive (read by libgomp at start-up, so it cannot be set later).
int aten_threads_for(int n) {
    const char* p = std::getenv("OMP_WAIT_POLICY");
    const bool passive = p && (std::string(p) == "passive" || std::string(p) == "PASSIVE");
    return passive ? n : 1;
}

// Sets libtorch's and OpenBLAS's thread counts for a scope, restoring both afterwards.
struct ThreadScope {
    int at_prev, blas_prev = -1;
    explicit ThreadScope(int n) : at_prev(at::get_num_threads()) {
        at::set_num_threads(aten_threads_for(n));
        if (auto g = blas_get()) blas_prev = g();
        if (auto f = blas_set()) f(n);
    }
    ~ThreadScope() {
        at::set_num_threads(at_prev);
        if (auto f = blas_set(); f && blas_prev > 0) f(blas_prev);
    }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
};

std::vector<int> parse_threads(const std::string& spec) {
    std::vector<int> out;
    if (spec.empty()) {
        // libtorch's default (physical cores as cpuinfo sees them) can be 1 where the machine has
        // more cores; the second row uses every core the process may run on.
        const int n = std::max<int>(at::get_num_threads(), static_cast<int>(std::thread::hardware_concurrency()));
        out.push_back(1);
        if (n > 1) out.push_back(n);
        return out;
    }
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != 0 || v < 1 || v > 1024)
            throw Error("bench", "threads", "'" + item + "' is not a thread count (comma list of integers >= 1)");
        out.push_back(static_cast<int>(v));
    }
    if (out.empty()) throw Error("bench", "threads", "no thread count given");
    return out;
}

// User and system CPU seconds of the process (all threads).
struct CpuTimes { double user = 0, sys = 0; };
CpuTimes cpu_times() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return {double(u.ru_utime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec),
            double(u.ru_stime.tv_sec) + 1e-6 * double(u.ru_stime.tv_usec)};
}

// ../shared/models/stories260K beside the source tree (ACHILLES_SHARED overrides); "" if absent.
std::string stories260k_dir() {
    namespace fs = std::filesystem;
    std::string base;
    if (const char* e = std::getenv("ACHILLES_SHARED"); e && *e) base = e;
#ifdef ACHILLES_SOURCE_DIR
    else base = std::string(ACHILLES_SOURCE_DIR) + "/../shared";
#endif
    if (base.empty()) return "";
    fs::path p = fs::path(base) / "models" / "stories260K";
    std::error_code ec;
    return fs::is_regular_file(p / "config.json", ec) ? p.string() : "";
}
std::string embedded_dir() {
    try {
        return default_model_dir();
    } catch (const Error&) {
        return "";
    }
}

// The probe of the small-model rows: the embedded model's probe story (a fixed text if absent).
std::string probe_text() {
    const std::string d = embedded_dir();
    if (!d.empty()) {
        std::ifstream in(std::filesystem::path(d) / "probe-story.txt");
        std::stringstream ss;
        ss << in.rdbuf();
        if (!ss.str().empty()) return ss.str();
    }
    return "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with "
           "her friends. One day, she saw a big red ball under a tree. She ran to get it and laughed. Her mom "
           "said it was time to go home, but Lily wanted to stay and play with the ball a little longer.";
}

// Matrix-product FLOPs of one forward of a Llama-shaped model over T tokens (as forward_flops).
double model_flops(const ModelConfig& c, int64_t T, bool head) {
    const double H = c.hidden_size, I = c.intermediate_size, NH = c.num_attention_heads;
    const double KV = c.num_key_value_heads > 0 ? c.num_key_value_heads : NH;
    const double D = c.head_dim > 0 ? c.head_dim : H / NH;
    const double per_layer = H * NH * D * 2 + 2.0 * H * KV * D + 3.0 * H * I;
    double f = 2.0 * double(T) * per_layer * c.num_hidden_layers + c.num_hidden_layers * 4.0 * double(T) * T * NH * D;
    if (head) f += 2.0 * double(T) * c.vocab_size * H;
    return f;
}

// Runs argv with extra environment, stdout to /dev/null, stderr captured; wall seconds.
double run_child(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::string* err,
                 int* status) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    const double t0 = now_s();
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (FILE* n = std::fopen("/dev/null", "w")) dup2(fileno(n), 1);
        for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        if (err) err->append(buf, size_t(n));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    if (status) *status = st;
    return now_s() - t0;
}

// Time-stamp counter ticks per second (what LD_DEBUG=statistics counts in), over 50 ms.
double tsc_hz() {
#if defined(__x86_64__)
    const double t0 = now_s();
    const unsigned long long c0 = __rdtsc();
    while (now_s() - t0 < 0.05) {}
    return double(__rdtsc() - c0) / (now_s() - t0);
#else
    return 0;
#endif
}

}  // namespace

std::vector<BenchRow> run_bench(const BenchOptions& opt, Progress& progress) {
    std::vector<BenchRow> rows;
    c10::NoGradGuard ng;
    Shape s;
    s.layers = opt.quick ? std::min(opt.layers, 2) : opt.layers;
    if (s.layers < 1) throw Error("bench", "layers", "must be at least 1");
    const int64_t T = opt.tokens;
    if (T < 2) throw Error("bench", "tokens", "must be at least 2");
    const int K = opt.quick ? std::min(opt.samples, 2) : opt.samples;
    if (K < 1) throw Error("bench", "samples", "must be at least 1");
    const std::vector<int> thread_list = parse_threads(opt.threads);  // bad lists fail before any work
    const Target tg = target_of(opt);
    // On a GPU the default parts are the device rows (the memory, load and bisect rows measure the
    // host); the Llama-3-8B-shaped row runs by default only there (16 GB of bf16 weights).
    const std::string only = !opt.only.empty() ? opt.only : (tg.cuda() ? "forward,stage1,llama8b" : "");
    auto want = [&](const char* part) {
        if (only.empty()) return std::string(part) != "llama8b";
        return ("," + only + ",").find(std::string(",") + part + ",") != std::string::npos;
    };
    const std::string on = tg.device.str() + " " + dtype_label(tg.dtype);

    // ---- (a) forward GFLOP/s against a GEMM peak
    //
    // Definitions (also printed in the rows' details):
    //  * forward GFLOP/s = forward_flops() / wall time of one model.forward() on 115 random ids
    //    (matmul FLOPs only: 2*T*params of every projection and the lm_head, plus QK^T and AV
    //    counted in full, not causal-halved).
    //  * GEMM peak = the best *sustained* at::mm rate over a fixed set of shapes: the model's own
    //    projections at T tokens (q/o, k/v, gate/up, down, lm_head; weight layout as a linear layer
    //    uses it) and one 1024^3 square product. Each shape is timed as a block of back-to-back
    //    calls (>= ~0.1 s or 2 calls) and its rate is FLOPs / block time; the peak of a round is
    //    the best of these rates.
    //  * A round = one forward, then the forward's GEMMs alone, then the GEMM peak probe, so all
    //    three see the same machine load. The ratio of a round is forward / peak of that round;
    //    the row reports the median over the rounds, with the best and worst in the detail.
    //  * Threads: at::set_num_threads() sets only libtorch's OpenMP pool; Debian's libtorch calls
    //    the system BLAS (OpenBLAS, pthreads), which keeps its own pool. Both are set to the same
    //    count for each thread row and restored afterwards.
    if (want("forward") || want("stage1")) {
    progress.report("bench", 0.02, "generating random Qwen2.5-0.5B-shaped weights");
    ModelConfig cfg = parse_config(qwen_config_json(s), "bench (Qwen2.5-0.5B shape)");
    const auto weights = to_target(random_weights(s, opt.seed), tg);
    Transformer model(cfg, weights);
    std::vector<int> ids(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) ids[static_cast<size_t>(i)] = static_cast<int>(detail::splitmix64(opt.seed + i) % s.vocab);
    at::Tensor idt = ids_tensor(model, ids);
    progress.check();
    const int rounds = opt.rounds > 0 ? opt.rounds : (opt.quick ? 2 : 7);
    if (want("forward")) {
    const int64_t hd = s.hidden / s.heads;
    struct GemmShape { int64_t m, k, n; const char* what; };
    const std::vector<GemmShape> shapes = {
        {T, s.hidden, s.heads * hd, "q/o"}, {T, s.hidden, s.kv * hd, "k/v"}, {T, s.hidden, s.inter, "gate/up"},
        {T, s.inter, s.hidden, "down"},     {T, s.hidden, s.vocab, "lm_head"}, {1024, 1024, 1024, "square"}};
    std::vector<at::Tensor> ga, gb;
    for (const auto& g : shapes) {
        ga.push_back(at::randn({g.m, g.k}, tg.opts()));
        gb.push_back(at::randn({g.n, g.k}, tg.opts()).t());  // weight layout, as a linear layer uses it
    }
    // The forward's GEMMs alone (same weights, same shapes, bias included): what the forward
    // would take with zero overhead outside the matrix products.
    std::vector<std::array<at::Tensor, 2>> lin_w;  // weight, bias
    for (int l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
            auto b = weights.find(p + n + ".bias");
            lin_w.push_back({weights.at(p + n + ".weight"), b == weights.end() ? at::Tensor() : b->second});
        }
    }
    lin_w.push_back({weights.at("model.embed_tokens.weight"), at::Tensor()});  // tied lm_head
    const at::Tensor xh = at::randn({1, T, s.hidden}, tg.opts()), xi = at::randn({1, T, s.inter}, tg.opts());
    const at::Tensor qh = at::randn({1, s.heads, T, hd}, tg.opts());
    auto gemms_alone = [&] {
        for (const auto& [w, b] : lin_w) {
            const at::Tensor& x = w.size(1) == s.hidden ? xh : xi;
            at::Tensor y = b.defined() ? at::linear(x, w, b) : at::linear(x, w);
        }
        // attention products, as the forward counts them: [heads,T,hd] x [heads,hd,T] and back
        for (int l = 0; l < s.layers; ++l) {
            at::Tensor p = at::matmul(qh, qh.transpose(-2, -1));
            at::Tensor o = at::matmul(p, qh);
        }
    };
    const double flops = forward_flops(s, T);
    int done_rounds = 0;
    for (size_t ti = 0; ti < thread_list.size(); ++ti) {
        const int nt = thread_list[ti];
        ThreadScope scope(nt);
        // Warm-up at this thread count; size each GEMM block to ~0.1 s.
        model.forward(idt);
        gemms_alone();
        tg.sync();
        std::vector<int> reps(shapes.size(), 2);
        for (size_t k = 0; k < shapes.size(); ++k) {
            at::mm(ga[k], gb[k]);
            tg.sync();
            const double t0 = now_s();
            at::mm(ga[k], gb[k]);
            tg.sync();
            const double one = std::max(1e-6, now_s() - t0);
            reps[k] = std::clamp(static_cast<int>(std::ceil(0.1 / one)), 2, tg.cuda() ? 20000 : 200);
        }
        std::vector<double> fwd_g, peak_g, ratio, overhead, fwd_ms;
        std::map<std::string, int> peak_wins;
        for (int r = 0; r < rounds; ++r) {
            progress.check();
            double t0 = now_s();
            model.forward(idt);
            tg.sync();
            const double tf = now_s() - t0;
            t0 = now_s();
            gemms_alone();
            tg.sync();
            const double tgm = now_s() - t0;
            double peak = 0;
            std::string best;
            for (size_t k = 0; k < shapes.size(); ++k) {
                const auto& g = shapes[k];
                t0 = now_s();
                for (int i = 0; i < reps[k]; ++i) at::Tensor c = at::mm(ga[k], gb[k]);
                tg.sync();
                const double rate = 2.0 * g.m * g.k * g.n * reps[k] / (now_s() - t0) / 1e9;
                if (rate > peak) {
                    peak = rate;
                    best = std::string(g.what) + " " + std::to_string(g.m) + "x" + std::to_string(g.k) + "x" +
                           std::to_string(g.n);
                }
            }
            ++peak_wins[best];
            fwd_g.push_back(flops / tf / 1e9);
            fwd_ms.push_back(tf * 1000);
            peak_g.push_back(peak);
            ratio.push_back(flops / tf / 1e9 / peak);
            overhead.push_back(tf / tgm);
            ++done_rounds;
            progress.report("bench", 0.03 + 0.22 * done_rounds / double(rounds * thread_list.size()),
                            "forward and GEMM rounds (" + std::to_string(nt) + " threads)");
        }
        std::string winner;
        int wins = 0;
        for (const auto& [k, v] : peak_wins)
            if (v > wins) { winner = k; wins = v; }
        const std::string tag = tg.cuda() ? " (" + on + ")"
                                          : " (BLAS " + std::to_string(nt) + ", ATen " + std::to_string(aten_threads_for(nt)) + ")";
        const Stats sf = stats_of(fwd_g), sp = stats_of(peak_g), sr = stats_of(ratio), so = stats_of(overhead),
                    sm = stats_of(fwd_ms);
        rows.push_back(row("forward GFLOP/s" + tag, sf.median, "GFLOP/s",
                           "median of " + std::to_string(rounds) + " rounds, best " + fmt(sf.best, 1) + ", worst " +
                               fmt(sf.worst, 1) + "; " + fmt(sm.median, 1) + " ms per forward (best " +
                               fmt(sm.worst, 1) + "); " + std::to_string(s.layers) + " layers, " +
                               std::to_string(T) + " tokens, " + fmt(flops / 1e9, 1) + " GFLOP"));
        rows.push_back(row("GEMM peak GFLOP/s" + tag, sp.median, "GFLOP/s",
                           "median, best " + fmt(sp.best, 1) + ", worst " + fmt(sp.worst, 1) +
                               "; best sustained at::mm over the model's projections at " + std::to_string(T) +
                               " tokens and 1024^3, most often " + winner + " (" + std::to_string(wins) + "/" +
                               std::to_string(rounds) + ")"));
        rows.push_back(row("forward time / its GEMMs alone" + tag, so.median, "ratio",
                           "median, best " + fmt(so.worst, 3) + ", worst " + fmt(so.best, 3) +
                               "; 1.0 = no time outside the matrix products"));
        rows.push_back(target_row("forward / GEMM peak" + tag, sr.median, 0.60, true,
                                  "median of per-round ratios, best " + fmt(sr.best, 3) + ", worst " +
                                      fmt(sr.worst, 3) + "; target >= 0.60; " + blas_description()));
    }
    ga.clear();
    gb.clear();
    }
    progress.report("bench", 0.25, "forward done");

    // ---- (c) stage-1 wall time against (K+1) bare forwards of the same shape
    // Interleaved: each repetition times K+1 bare forwards and then one stage 1, back to back; the
    // row is the median of the per-repetition ratios (best and worst in the detail).
    if (want("stage1")) {
        ThreadScope scope(thread_list.back());
        SearchOptions so;
        so.samples = K;
        so.top = 1000;
        so.batch = 1;
        std::vector<double> wall, cpu;
        double last_bare = 0, last_s1 = 0;
        detail::Stage1Stats st;
        model.forward(idt);
        tg.sync();
        const int reps = opt.quick ? 1 : 3;
        for (int rep = 0; rep < reps; ++rep) {
            double t0 = now_s(), c0 = cpu_s();
            for (int i = 0; i < K + 1; ++i) {
                progress.check();
                model.forward(idt);
            }
            tg.sync();
            const double bare = now_s() - t0, cbare = cpu_s() - c0;
            t0 = now_s();
            c0 = cpu_s();
            detail::stage1(model, ids, so, progress, &st);
            tg.sync();
            const double s1 = now_s() - t0, cs1 = cpu_s() - c0;
            wall.push_back(s1 / bare);
            cpu.push_back(cs1 / cbare);
            last_bare = bare;
            last_s1 = s1;
            progress.report("bench", 0.25 + 0.2 * (rep + 1) / reps, "stage-1 overhead");
        }
        const Stats sw = stats_of(wall), sc = stats_of(cpu);
        const int nt = thread_list.back();
        rows.push_back(target_row(std::string("stage-1 / (K+1) bare forwards") + (tg.cuda() ? " (" + on + ")" : ""), sw.median, 1.10, false,
                                  "wall, median of " + std::to_string(reps) + " interleaved reps (best " +
                                      fmt(sw.worst, 3) + ", worst " + fmt(sw.best, 3) + "), K=" + std::to_string(K) +
                                      ", BLAS " + std::to_string(nt) + " / ATen " + std::to_string(aten_threads_for(nt)) + " threads, last " + fmt(last_s1, 2) + " s vs " +
                                      fmt(last_bare, 2) + " s, N=" + std::to_string(st.total_entries) + "; last stage 1: clean pass " +
                                      fmt(st.clean_s, 2) + " s, noisy passes " + fmt(st.noisy_s, 2) + " s, top-M " +
                                      fmt(st.rank_s, 2) + " s"));
        rows.push_back(target_row("stage-1 / (K+1) bare forwards (CPU time)", sc.median, 1.10, false,
                                  "process CPU seconds, less sensitive to other load; median (best " +
                                      fmt(sc.worst, 3) + ", worst " + fmt(sc.best, 3) + ")"));
    }
    progress.report("bench", 0.45, "stage-1 overhead done");
    }  // outer: the random model is freed here

    // ---- the batched stage 1 at a Llama-3-8B shape (random weights on the device), T tokens,
    // K samples, against the matrix-product peak in the same dtype measured in this run.
    if (want("llama8b")) {
        const int L8 = opt.quick ? std::min(opt.llama8b_layers, 1) : opt.llama8b_layers;
        const int K8 = opt.quick ? std::min(opt.llama8b_samples, 2) : opt.llama8b_samples;
        if (L8 < 1 || K8 < 1 || opt.llama8b_batch < 1)
            throw Error("bench", "llama8b", "layers, samples and batch must be at least 1");
        progress.report("bench", 0.46, "generating Llama-3-8B-shaped weights on " + on);
        ModelConfig c8 = parse_config(llama8b_config_json(L8), "bench (Llama-3-8B shape)");
        Transformer m8(c8, llama8b_weights(L8, tg));
        Shape s8{4096, 14336, L8, 32, 8, 128256};
        std::vector<int> ids8(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) ids8[static_cast<size_t>(i)] = static_cast<int>(detail::splitmix64(opt.seed + 7 * i) % 128256);
        // The peak: sustained at::mm in the compute dtype over 8192^3 (2048^3 on the CPU) and the
        // model's widest projection at batch*T rows.
        const int64_t sq = tg.cuda() ? 8192 : 2048;
        const int64_t rows_b = int64_t(std::min(opt.llama8b_batch, K8)) * T;
        struct G { int64_t m, k, n; };
        double peak = 0;
        for (const G g : {G{sq, sq, sq}, G{rows_b, 4096, 14336}, G{rows_b, 14336, 4096}}) {
            at::Tensor a = at::randn({g.m, g.k}, tg.opts()), b = at::randn({g.n, g.k}, tg.opts()).t();
            at::mm(a, b);
            tg.sync();
            double t0 = now_s();
            at::mm(a, b);
            tg.sync();
            const int reps = std::clamp(static_cast<int>(std::ceil(0.2 / std::max(1e-6, now_s() - t0))), 2, 5000);
            t0 = now_s();
            for (int i = 0; i < reps; ++i) at::Tensor c = at::mm(a, b);
            tg.sync();
            peak = std::max(peak, 2.0 * g.m * g.k * g.n * reps / (now_s() - t0) / 1e9);
        }
        SearchOptions so;
        so.samples = K8;
        so.batch = opt.llama8b_batch;
        so.top = 100000;
        m8.forward(ids_tensor(m8, ids8));  // warm-up
        tg.sync();
        detail::Stage1Stats st;
        const double t0 = now_s();
        detail::stage1(m8, ids8, so, progress, &st);
        tg.sync();
        const double secs = now_s() - t0;
        const double flops = (K8 + 1) * forward_flops(s8, T);
        const std::string shape = std::to_string(L8) + " layers, " + std::to_string(T) + " tokens, K=" + std::to_string(K8) +
                                  ", batch " + std::to_string(so.batch) + ", " + on + ", N=" + std::to_string(st.total_entries);
        rows.push_back(row("llama8b batched stage 1", secs, "s",
                           shape + "; clean " + fmt(st.clean_s, 2) + " s, noisy " + fmt(st.noisy_s, 2) + " s, top-M " +
                               fmt(st.rank_s, 2) + " s"));
        rows.push_back(row("llama8b matrix-product peak", peak, "GFLOP/s",
                           "best sustained at::mm in " + dtype_label(tg.dtype) + " over " + std::to_string(sq) + "^3 and the " +
                               "MLP projections at " + std::to_string(rows_b) + " rows"));
        rows.push_back(row("llama8b stage 1 / matrix-product peak", flops / secs / 1e9 / peak, "ratio",
                           "(K+1) forwards' matmul FLOPs " + fmt(flops / 1e12, 2) + " TFLOP in " + fmt(secs, 2) + " s = " +
                               fmt(flops / secs / 1e12, 1) + " TFLOP/s"));
    }

    // ---- stage-1 peak memory against N and K (a 2-layer model keeps it quick)
    if (want("memory")) {
        Shape sm = s;
        sm.layers = 2;
        sm.vocab = 8192;
        ModelConfig c2 = parse_config(qwen_config_json(sm), "bench (2-layer)");
        Transformer small(c2, random_weights(sm, opt.seed + 1));
        const int K1 = opt.quick ? 2 : 4, K2 = 4 * K1;
        auto peak_mib = [&](int64_t t, int k, int64_t* n_out) {
            std::vector<int> id2(static_cast<size_t>(t));
            for (int64_t i = 0; i < t; ++i) id2[static_cast<size_t>(i)] = static_cast<int>(i % sm.vocab);
            SearchOptions so;
            so.samples = k;
            so.top = 1000;
            detail::Stage1Stats warm;
            detail::stage1(small, id2, so, progress, &warm);  // steady state: allocator warmed up
            malloc_trim(0);
            const long base = status_kib("VmRSS:");
            if (!reset_hwm()) return -1.0;
            detail::Stage1Stats st;
            detail::stage1(small, id2, so, progress, &st);
            *n_out = st.total_entries;
            return double(status_kib("VmHWM:") - base) / 1024.0;
        };
        int64_t n1 = 0, n2 = 0, n3 = 0;
        const int64_t T1 = opt.quick ? 128 : 256;
        const double m_a = peak_mib(T1, K1, &n1);
        const double m_b = peak_mib(T1, K2, &n2);
        const double m_c = peak_mib(2 * T1, K1, &n3);
        if (m_a < 0) {
            rows.push_back(row("stage-1 peak memory", 0, "MiB", "n/a: /proc/self/clear_refs not writable"));
        } else {
            rows.push_back(row("stage-1 peak MiB (N, K)", m_a, "MiB",
                               "N=" + std::to_string(n1) + ", K=" + std::to_string(K1)));
            rows.push_back(row("stage-1 peak MiB (N, 4K)", m_b, "MiB",
                               "N=" + std::to_string(n2) + ", K=" + std::to_string(K2) + "; O(K*N) buffers would add " +
                                   fmt(double(K2 - K1) * double(n1) * 4 / 1048576.0, 1) + " MiB"));
            rows.push_back(row("stage-1 peak MiB (2N, K)", m_c, "MiB",
                               "N=" + std::to_string(n3) + ", K=" + std::to_string(K1)));
            rows.push_back(target_row("stage-1 peak memory 4K / K", m_b / std::max(1e-9, m_a), 1.10, false,
                                      "O(N): independent of K (target <= 1.10)"));
        }
    }
    progress.report("bench", 0.6, "stage-1 memory done");

    // ---- (b) peak RSS of loading a checkpoint against its weight bytes
    if (want("load")) {
        Shape sb = s;
        sb.layers = opt.quick ? 2 : 4;
        sb.vocab = 32000;
        namespace fs = std::filesystem;
        fs::path dir = fs::path(opt.scratch.empty() ? fs::temp_directory_path().string() : opt.scratch) /
                       ("achilles-bench-" + std::to_string(::getpid()));
        fs::create_directories(dir);
        size_t wbytes = 0;
        {
            auto w = random_weights(sb, opt.seed + 2);
            std::vector<TensorData> td;
            for (auto& [name, t] : w) {
                TensorData d;
                d.name = name;
                d.dtype = DType::F32;
                d.shape = t.sizes().vec();
                d.bytes.resize(static_cast<size_t>(t.numel()) * 4);
                std::memcpy(d.bytes.data(), t.contiguous().data_ptr<float>(), d.bytes.size());
                wbytes += d.bytes.size();
                td.push_back(std::move(d));
            }
            w.clear();
            write_safetensors((dir / "model.safetensors").string(), td);
            std::ofstream(dir / "config.json") << qwen_config_json(sb);
        }
        progress.check();
        const long base = status_kib("VmRSS:");
        if (!reset_hwm()) {
            rows.push_back(row("load peak RSS / weight bytes", 0, "ratio", "n/a: /proc/self/clear_refs not writable"));
        } else {
            LoadOptions lo;
            lo.path = dir.string();
            {
                auto eng = Engine::load(lo, progress);
                const long hwm_load = status_kib("VmHWM:");
                // Weights may be mapped lazily: one 2-token forward touches every page.
                (void)eng->perplexity({1, 2}, {}, progress);
                const long hwm = status_kib("VmHWM:");
                const double ratio = double(hwm - base) * 1024.0 / double(wbytes);
                rows.push_back(target_row("load+first forward peak RSS / weight bytes", ratio, 1.10, false,
                                          fmt(double(hwm - base) / 1024.0, 1) + " MiB peak (" +
                                              fmt(double(hwm_load - base) / 1024.0, 1) + " MiB after load alone) for " +
                                              fmt(double(wbytes) / 1048576.0, 1) + " MiB of weights"));
            }
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    progress.report("bench", 0.75, "loading done");

    // ---- perplexity evaluations: bisect against linear on a real model
    if (want("bisect")) {
        std::string path = opt.model;
        if (path.empty()) {
            try {
                path = default_model_dir();
            } catch (const Error&) {
                path.clear();
            }
        }
        if (path.empty()) {
            rows.push_back(row("bisect evaluations", 0, "count", "skipped: no model (pass --model)"));
        } else {
            LoadOptions lo;
            lo.path = path;
            auto eng = Engine::load(lo, progress);
            const std::string text =
                "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with "
                "her friends. One day, she saw a big red ball under a tree. She ran to get it and laughed.";
            std::vector<int> pid = eng->encode_for_ppl(text, 512);
            SearchOptions so;
            so.samples = opt.quick ? 4 : 20;
            so.max_steps = 1000;
            so.top = 20000;
            SearchResult lin = run_search(*eng, text, pid, so, progress);
            std::string note;
            if (!lin.faithful.reached && !lin.curve.empty()) {
                // epsilon = 3 is out of reach for this model: use half the largest delta seen.
                double mx = 0;
                for (const auto& p : lin.curve) mx = std::max(mx, p.delta);
                if (mx > 0) {
                    so.epsilon = mx / 2;
                    note = ", epsilon 3 not reached; epsilon set to " + fmt(so.epsilon, 3);
                    lin = run_search(*eng, text, pid, so, progress);
                }
            }
            so.strategy = SearchStrategy::bisect;
            SearchResult bis = run_search(*eng, text, pid, so, progress);
            const int nstar = lin.faithful.n;
            const int bound = nstar > 0 ? 2 * static_cast<int>(std::ceil(std::log2(double(nstar)))) + 2 : 0;
            bool monotone = true;
            for (size_t i = 1; i < lin.curve.size(); ++i) monotone = monotone && lin.curve[i].delta >= lin.curve[i - 1].delta;
            rows.push_back(row("linear: evaluations", lin.forwards_linear, "count",
                               "n*=" + std::to_string(nstar) + (lin.faithful.reached ? "" : " (epsilon not reached)") +
                                   ", literal loop " + std::to_string(lin.forwards_literal) + " forwards" + note +
                                   ", model " + path));
            BenchRow br = row("bisect: evaluations", bis.bisected ? bis.bisected->evaluations : 0, "count",
                              "n*=" + std::to_string(bis.bisected ? bis.bisected->n : 0) +
                                  (monotone ? "" : " (linear curve not monotone)") + ", bound 2*ceil(log2 n*)+2 = " +
                                  std::to_string(bound));
            if (lin.faithful.reached) {
                br.has_target = true;
                br.target = bound;
                br.pass = br.value <= bound && bis.bisected && (!monotone || bis.bisected->n == nstar);
            }
            rows.push_back(br);
        }
    }
    // ---- the small-model path (issue 10): stories260K (else the embedded model), 115 tokens.
    const std::string small_dir = !stories260k_dir().empty() ? stories260k_dir() : embedded_dir();
    const std::string small_name = small_dir.empty() ? "" : std::filesystem::path(small_dir).filename().string();
    const int Ks = opt.quick ? 10 : 100;
    if (want("small")) {
        if (small_dir.empty()) {
            rows.push_back(row("small-model stage 1", 0, "s", "skipped: neither ../shared stories260K nor the embedded model"));
        } else {
            LoadOptions lo;
            lo.path = small_dir;
            auto eng = Engine::load(lo, progress);
            const Transformer& m = EngineAccess::model(*eng);
            const std::vector<int> ids = eng->encode_for_ppl(probe_text(), 115);
            const int64_t Ts = int64_t(ids.size());
            SearchOptions so;
            so.samples = Ks;
            so.top = 100000;
            struct Run { double wall = 0, user = 0, sys = 0; int batch = 0; };
            auto run1 = [&](int batch, double threshold) {
                so.batch = batch;
                set_small_work_flops(threshold);
                detail::Stage1Stats st;
                detail::stage1(m, ids, so, progress, &st);  // warm-up (allocator, thread pools)
                std::vector<Run> runs;
                for (int r = 0; r < (opt.quick ? 1 : 3); ++r) {
                    const CpuTimes c0 = cpu_times();
                    const double t0 = now_s();
                    detail::stage1(m, ids, so, progress, &st);
                    const CpuTimes c1 = cpu_times();
                    runs.push_back({now_s() - t0, c1.user - c0.user, c1.sys - c0.sys, st.batch});
                }
                set_small_work_flops(-1);
                std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.wall < b.wall; });
                return runs[runs.size() / 2];
            };
            const Run on = run1(0, -1), off = run1(0, 0), b1 = run1(1, -1);
            // The GEMM peak in the same run, at the thread count the policy gave stage 1's products.
            const int64_t rows_b = int64_t(on.batch) * Ts;
            const ModelConfig& c = m.config();
            WorkThreads wt(forward_gemm_flops(rows_b, c.hidden_size, c.intermediate_size, 0));
            double peak = 0;
            std::string best;
            struct G { int64_t m, k, n; const char* what; };
            for (const G g : {G{rows_b, c.hidden_size, c.intermediate_size, "gate/up"},
                              G{rows_b, c.intermediate_size, c.hidden_size, "down"}, G{1024, 1024, 1024, "square"}}) {
                at::Tensor a = at::randn({g.m, g.k}), b = at::randn({g.n, g.k}).t();
                at::mm(a, b);
                double t0 = now_s();
                at::mm(a, b);
                const int reps = std::clamp(static_cast<int>(std::ceil(0.1 / std::max(1e-6, now_s() - t0))), 2, 2000);
                t0 = now_s();
                for (int i = 0; i < reps; ++i) at::Tensor cc = at::mm(a, b);
                const double rate = 2.0 * g.m * g.k * g.n * reps / (now_s() - t0) / 1e9;
                if (rate > peak) { peak = rate; best = g.what; }
            }
            const double fl = (Ks + 1) * model_flops(c, Ts, false);
            const std::string thr = "BLAS " + std::to_string(blas_threads_now()) + " / OpenMP " +
                                    std::to_string(omp_threads_now()) + " threads under the policy at " +
                                    std::to_string(rows_b) + " rows";
            rows.push_back(target_row("stage 1 / GEMM peak (" + small_name + ")", fl / on.wall / 1e9 / peak, 0.30, true,
                                      fmt(fl / 1e9, 2) + " GFLOP (K+1 forwards, no lm_head) in " + fmt(on.wall, 3) +
                                          " s = " + fmt(fl / on.wall / 1e9, 1) + " GFLOP/s; peak " + fmt(peak, 1) +
                                          " GFLOP/s (" + best + ", same run); K=" + std::to_string(Ks) + ", T=" +
                                          std::to_string(Ts) + ", auto batch " + std::to_string(on.batch) + "; " + thr));
            rows.push_back(target_row("stage 1 system / CPU time (" + small_name + ")", on.sys / std::max(1e-9, on.user + on.sys),
                                      0.10, false,
                                      "thread policy on: user " + fmt(on.user, 3) + " s, sys " + fmt(on.sys, 3) +
                                          " s; policy off (the process's thread counts): user " + fmt(off.user, 3) + " s, sys " +
                                          fmt(off.sys, 3) + " s = " + fmt(off.sys / std::max(1e-9, off.user + off.sys), 3)));
            rows.push_back(row("stage 1 wall, policy on / off (" + small_name + ")", on.wall / std::max(1e-9, off.wall), "ratio",
                               fmt(on.wall, 3) + " s vs " + fmt(off.wall, 3) + " s"));
            rows.push_back(row("stage 1 wall, auto batch / batch 1 (" + small_name + ")", on.wall / std::max(1e-9, b1.wall), "ratio",
                               fmt(on.wall, 3) + " s (batch " + std::to_string(on.batch) + ") vs " + fmt(b1.wall, 3) + " s"));
        }
    }
    progress.report("bench", 0.8, "small-model rows done");

    // ---- toggle latency: what the GUI does when a neuron is toggled (Workbench::evaluateMask):
    // tokenize the probe, validate the mask, Engine::perplexity under it.
    if (want("toggle")) {
        for (const std::string& dir : {embedded_dir(), stories260k_dir()}) {
            if (dir.empty()) continue;
            const std::string name = dir == embedded_dir() ? "embedded model" : "stories260K";
            LoadOptions lo;
            lo.path = dir;
            auto eng = Engine::load(lo, progress);
            const ModelShape shape = eng->info().shape;
            const std::string text = probe_text();
            (void)eng->perplexity(eng->encode_for_ppl(text, 512), {}, progress);  // warm-up
            std::vector<double> ms;
            int T = 0;
            MaskSpec mask;
            for (int i = 0; i < (opt.quick ? 5 : 21); ++i) {
                // toggle one more channel on (layer i % L, down_proj)
                Neuron n;
                n.layer = i % shape.layers;
                n.module = Module::down_proj;
                n.channel = (7 * i) % shape.module_width(Module::down_proj);
                mask.push_back(MaskEntry{n, {}});
                const double t0 = now_s();
                const std::vector<int> ids = eng->encode_for_ppl(text, 512);
                validate_mask(mask, shape);
                (void)eng->perplexity(ids, mask, progress);
                ms.push_back((now_s() - t0) * 1000);
                T = int(ids.size());
            }
            const Stats s = stats_of(ms);
            BenchRow r = target_row("toggle -> perplexity ms (" + name + ")", s.median, 20, false,
                                    "median of " + std::to_string(ms.size()) + " toggles (best " + fmt(s.worst, 2) +
                                        ", worst " + fmt(s.best, 2) + " ms), " + std::to_string(T) +
                                        " probe tokens, tokenize + validate + Engine::perplexity under a mask of 1.." +
                                        std::to_string(ms.size()) + " channels");
            r.unit = "ms";
            rows.push_back(r);
        }
    }

    // ---- start-up: `achilles-cli info --model default` as a child, with the dynamic loader's
    // own statistics (LD_DEBUG=statistics counts time-stamp-counter cycles).
    if (want("startup")) {
        std::string self;
        {
            std::error_code ec;
            self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
        }
        const double hz = tsc_hz();
        std::vector<double> walls, loader;
        for (int i = 0; i < (opt.quick ? 1 : 3); ++i) {
            std::string err;
            int st = 0;
            const double w = run_child({self, "info", "--model", "default"}, {"LD_DEBUG=statistics"}, &err, &st);
            double cycles = 0;
            const std::string key = "total startup time in dynamic loader: ";
            if (auto p = err.find(key); p != std::string::npos) cycles = std::atof(err.c_str() + p + key.size());
            walls.push_back(w);
            if (hz > 0 && cycles > 0) loader.push_back(cycles / hz);
        }
        const Stats sw = stats_of(walls), sl = stats_of(loader);
        rows.push_back(row("start-up: achilles-cli info wall", sw.median, "s",
                           "median of " + std::to_string(walls.size()) + " runs of `info --model default` (best " +
                               fmt(sw.worst, 3) + ")"));
        if (!loader.empty())
            rows.push_back(row("start-up: dynamic loader / info wall", sl.median / std::max(1e-9, sw.median), "ratio",
                               fmt(sl.median * 1000, 1) + " ms in ld.so before main (LD_DEBUG=statistics, TSC " +
                                   fmt(hz / 1e9, 2) + " GHz); the rest is libtorch's and its libraries' start-up, model "
                                   "load and the command"));
    }

    // ---- side by side: the whole search (stage 1 + linear stage 2, epsilon 1, uncapped) against
    // the vectorized PyTorch reference packaging/bench/vectorized_search.py on the same model,
    // probe ids and settings (--noise-rng torch on both sides), both timed in-process without
    // model loading; the python one with its best of two runs, ours too.
    if (want("side-by-side")) {
        std::string script;
        if (const char* e = std::getenv("ACHILLES_VECTORIZED_SEARCH"); e && *e) script = e;
#ifdef ACHILLES_SOURCE_DIR
        else script = std::string(ACHILLES_SOURCE_DIR) + "/packaging/bench/vectorized_search.py";
#endif
        const char* py_env = std::getenv("ACHILLES_BENCH_PYTHON");
        const std::string py = py_env && *py_env ? py_env : "/usr/bin/python3";
        std::error_code ec;
        if (small_dir.empty() || !std::filesystem::is_regular_file(script, ec) || !std::filesystem::exists(py, ec)) {
            rows.push_back(row("search / vectorized PyTorch", 0, "ratio",
                               "skipped: needs a small model, " + script + " and " + py + " (ACHILLES_BENCH_PYTHON)"));
        } else {
            LoadOptions lo;
            lo.path = small_dir;
            auto eng = Engine::load(lo, progress);
            const std::vector<int> ids = eng->encode_for_ppl(probe_text(), 115);
            SearchOptions so;
            so.samples = Ks;
            so.epsilon = 1;
            so.max_steps = 100000;
            so.noise_rng = NoiseRng::torch;
            double ours = 1e9;
            SearchResult res;
            for (int r = 0; r < 2; ++r) {
                const double t0 = now_s();
                res = run_search(*eng, "", ids, so, progress);
                ours = std::min(ours, now_s() - t0);
            }
            std::string idl;
            for (size_t i = 0; i < ids.size(); ++i) idl += (i ? "," : "") + std::to_string(ids[i]);
            const std::string cmd = py + " " + script + " --model '" + small_dir + "' --ids " + idl + " --samples " +
                                    std::to_string(Ks) + " --alpha 5 --seed 42 --epsilon 1 --max-steps 100000 --top 100000 "
                                    "--repeat 2 --threads " + std::to_string(std::max(1, blas_threads_now()));
            std::string out;
            if (FILE* f = popen(cmd.c_str(), "r")) {
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
                pclose(f);
            }
            double theirs = 0, th_s1 = 0;
            int their_n = -1;
            try {
                auto j = nlohmann::json::parse(out);
                theirs = j.at("search_s").get<double>();
                th_s1 = j.at("stage1_s").get<double>();
                their_n = j.at("n_star").get<int>();
            } catch (const std::exception&) {
            }
            if (theirs <= 0) {
                rows.push_back(row("search / vectorized PyTorch", 0, "ratio", "skipped: the reference printed no result"));
            } else {
                rows.push_back(target_row("search / vectorized PyTorch (" + small_name + ")", ours / theirs, 0.33, false,
                                          "ours " + fmt(ours, 3) + " s (stage 1 " + fmt(res.timings["stage1"], 3) +
                                              " s), PyTorch " + fmt(theirs, 3) + " s (stage 1 " + fmt(th_s1, 3) +
                                              " s); n* " + std::to_string(res.faithful.n) + " vs " + std::to_string(their_n) +
                                              "; K=" + std::to_string(Ks) + ", T=" + std::to_string(ids.size()) +
                                              ", epsilon 1, uncapped, --noise-rng torch, best of 2 each"));
            }
        }
    }
    progress.report("bench", 1.0, "done");
    return rows;
}

}  // namespace achilles
