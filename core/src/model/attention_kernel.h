// SPDX-License-Identifier: GPL-3.0-or-later
// Fused attention on the CPU in float32: scores, mask, softmax and the weighted sum of values in
// one pass per query row, so the [B, heads, T, S] score tensor never exists. Plain C++ (no torch):
// transformer.cpp checks the conditions, lays out the pointers and splits the work over threads.
//
// Why: on small models (head_dim 8, 115 tokens, a stage-1 batch of 79 samples) libtorch's
// unfused path wrote and re-read a 33 MB score tensor five times per layer (matmul, scale,
// masked_fill, softmax, matmul) and took 38 ms of a 47 ms layer; this kernel takes a few.
//
// Numerics: scores are q·k in float with the products summed over the head dimension in order,
// times the scale; the softmax subtracts the row maximum and uses a float exp accurate to about
// 2 ulp; the output is (sum_j p_j v_j) / sum_j p_j with the sums over keys taken in a fixed order
// (eight interleaved partial sums, combined in order), so the result does not depend on the
// vector width the compiler chose, on the thread count or on the batch a row was computed in.
#pragma once

#include <cstdint>

namespace achilles::detail {

// One batch of attention. Every pointer addresses element [0, 0, 0, 0]; strides are in floats.
// Shapes: q [B, NH, T, D], k and v [B, NKV, S, D] (head h reads kv head h / (NH / NKV)), out
// [B, NH, T, D]; the last dimension of each is contiguous. Query row t may attend keys
// lo[t] <= j < hi[t] (a causal or sliding-window mask is one such range per row); a row with an
// empty range gets zeros.
struct AttentionArgs {
    int64_t B = 0, NH = 0, NKV = 0, T = 0, S = 0, D = 0;
    float scale = 1.0f;
    const float* q = nullptr;
    const float* k = nullptr;
    const float* v = nullptr;
    float* out = nullptr;
    int64_t q_stride[3] = {0, 0, 0};    // b, h, t
    int64_t k_stride[3] = {0, 0, 0};    // b, kv head, s
    int64_t v_stride[3] = {0, 0, 0};
    int64_t out_stride[3] = {0, 0, 0};  // b, h, t
    const int64_t* lo = nullptr;        // [T]
    const int64_t* hi = nullptr;        // [T]
};

// Computes the (batch, kv head) pairs begin..end-1 (index b * NKV + kv head), each with all the
// query heads that share that kv head. Separate pairs touch separate outputs: callers may run
// disjoint ranges on different threads.
void attention_f32(const AttentionArgs& a, int64_t begin, int64_t end);

}  // namespace achilles::detail
