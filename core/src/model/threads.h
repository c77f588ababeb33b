// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The thread policy by work size (README "Performance: threads").
//
// A forward whose matrix products are tiny (the embedded model, stories260K, the test fixtures)
// runs on one intra-op thread and one BLAS thread: split over cores, each product costs more in
// hand-over than it gains, and idle OpenBLAS / OpenMP workers spin (sched_yield) between products,
// which showed as ~45% system time. A forward with large products keeps the counts the process
// runs with (libtorch's default, --threads, or what the benchmark set), never more.
//
// "Tiny" is judged per call from the largest single product of the forward: rows (batch x tokens)
// x hidden x max(intermediate, vocab) x 2 FLOPs, against small_work_flops() (default 512 MFLOP,
// environment ACHILLES_SMALL_WORK_MFLOP overrides; 0 disables the policy). 512, not the first
// 64: a product below it takes under ~5 ms on one core, so a second BLAS thread saves at most half
// of that, while on a machine with other load a descheduled BLAS worker stalls every product for a
// time slice: a batched stage 1 on stories260K (22 samples x 215 tokens, 104 MFLOP products) took
// 12.6 s on two threads against 1.26 s on one, with another process on each core.
//
// libtorch's OpenMP count is per calling thread (omp_set_num_threads), so concurrent forwards of
// the GUI's lanes do not disturb each other; OpenBLAS's count is process-wide and is restored by
// the last scope to leave (nested and concurrent scopes are counted).
#include <cstdint>

namespace achilles {

double small_work_flops();
// Overrides the threshold for the process (the benchmark's policy-off peer); negative: back to
// the default.
void set_small_work_flops(double flops);
// The largest matrix product of one forward over `rows` token rows, in FLOPs.
double forward_gemm_flops(int64_t rows, int64_t hidden, int64_t intermediate, int64_t vocab);

class WorkThreads {
public:
    explicit WorkThreads(double largest_gemm_flops);
    ~WorkThreads();
    WorkThreads(const WorkThreads&) = delete;
    WorkThreads& operator=(const WorkThreads&) = delete;
    bool single() const { return single_; }

private:
    bool single_ = false;
    int omp_prev_ = 0;
};

// glibc hands every block above its mmap threshold back to the kernel when it is freed, so each
// forward's activations were fresh pages again: page faults and zeroing were a third of a batched
// stage 1 on stories260K. Called once by the first forward: blocks up to 64 MiB come from the heap
// and up to 256 MiB of freed heap is kept (ACHILLES_MALLOC_DEFAULTS=1 keeps glibc's defaults).
void keep_freed_memory();

// What the policy gives a forward of this size: 1, or the process's current counts (for the
// benchmark's detail column).
int blas_threads_now();
int omp_threads_now();

}  // namespace achilles
