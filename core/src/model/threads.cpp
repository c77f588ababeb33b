// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/threads.h"
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace achilles {

namespace {

// Found at run time: OpenBLAS only where it is the BLAS, OpenMP only where libtorch brought it.
using SetN = void (*)(int);
using GetN = int (*)();
struct Api {
    SetN blas_set = nullptr, omp_set = nullptr;
    GetN blas_get = nullptr, omp_get = nullptr;
};
const Api& api() {
    static const Api a = [] {
        Api x;
        x.blas_set = reinterpret_cast<SetN>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
        x.blas_get = reinterpret_cast<GetN>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
        x.omp_set = reinterpret_cast<SetN>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
        x.omp_get = reinterpret_cast<GetN>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
        if (!x.blas_get) x.blas_set = nullptr;
        if (!x.omp_get) x.omp_set = nullptr;
        return x;
    }();
    return a;
}

// OpenBLAS's count is process-wide: the first scope in saves it, the last one out restores it.
std::mutex g_mu;
int g_depth = 0, g_single = 0, g_blas_outer = 0;

}  // namespace

std::atomic<double> g_small_override{-1.0};

double small_work_flops() {
    const double o = g_small_override.load(std::memory_order_relaxed);
    if (o >= 0) return o;
    static const double v = [] {
        const char* e = std::getenv("ACHILLES_SMALL_WORK_MFLOP");
        if (e && *e) {
            char* end = nullptr;
            const double m = std::strtod(e, &end);
            if (end != e && m >= 0) return m * 1e6;
        }
        return 512e6;
    }();
    return v;
}

void set_small_work_flops(double flops) { g_small_override.store(flops); }

double forward_gemm_flops(int64_t rows, int64_t hidden, int64_t intermediate, int64_t vocab) {
    return 2.0 * double(rows) * double(hidden) * double(std::max(intermediate, vocab));
}

WorkThreads::WorkThreads(double flops) {
    const Api& a = api();
    single_ = flops < small_work_flops();
    if (single_ && a.omp_set) {
        omp_prev_ = a.omp_get();
        if (omp_prev_ > 1) a.omp_set(1);
        else omp_prev_ = 0;
    }
    if (!a.blas_set) return;
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_depth++ == 0) g_blas_outer = a.blas_get();
    if (single_) {
        if (g_single++ == 0 && g_blas_outer > 1) a.blas_set(1);
    }
}

WorkThreads::~WorkThreads() {
    const Api& a = api();
    if (omp_prev_ > 0) a.omp_set(omp_prev_);
    if (!a.blas_set) return;
    std::lock_guard<std::mutex> lk(g_mu);
    if (single_ && --g_single == 0 && g_blas_outer > 1) a.blas_set(g_blas_outer);
    --g_depth;
}

void keep_freed_memory() {
#ifdef __GLIBC__
    static const bool once = [] {
        if (const char* e = std::getenv("ACHILLES_MALLOC_DEFAULTS"); e && *e == '1') return false;
        mallopt(M_MMAP_THRESHOLD, 64 << 20);
        mallopt(M_TRIM_THRESHOLD, 256 << 20);
        return true;
    }();
    (void)once;
#endif
}

int blas_threads_now() { return api().blas_get ? api().blas_get() : 0; }
int omp_threads_now() { return api().omp_get ? api().omp_get() : 0; }

}  // namespace achilles
