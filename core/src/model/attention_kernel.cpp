// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/attention_kernel.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace achilles::detail {
namespace {

// Eight floats as one value (GCC/Clang vector extensions): one AVX register in the AVX2 clone, two
// SSE registers in the baseline. Only elementwise arithmetic, so every lane rounds the same way
// whatever the instruction set.
constexpr int64_t kLanes = 8;
using V8 = float __attribute__((vector_size(32)));
using V8i = int32_t __attribute__((vector_size(32)));

inline V8 load8(const float* p) {
    V8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline void store8(float* p, V8 v) { std::memcpy(p, &v, sizeof v); }
inline V8 splat(float x) { return V8{x, x, x, x, x, x, x, x}; }
template <class To, class From>
inline To bits_as(const From& v) {
    static_assert(sizeof(To) == sizeof(From));
    To out;
    std::memcpy(&out, &v, sizeof out);
    return out;
}
inline float sum8(V8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
inline float max8(V8 v) {
    float m = v[0];
    for (int l = 1; l < kLanes; ++l) m = v[l] > m ? v[l] : m;
    return m;
}

// exp(x) for x <= 0 (larger x is taken as 0, below -87 as -87, whose exp is below float's
// smallest normal): Cody-Waite reduction by ln 2 and the Cephes expf polynomial, about 2 ulp.
// Rounding x / ln 2 to an integer uses the 1.5 * 2^23 trick.
inline V8 exp8(V8 x) {
    const V8 lo = splat(-87.0f), zero = splat(0.0f);
    x = x < lo ? lo : x;
    x = x > zero ? zero : x;
    const V8 magic = splat(12582912.0f);  // 1.5 * 2^23
    const V8 t = x * 1.44269504088896341f + magic;
    const V8 n = t - magic;
    const V8i e = bits_as<V8i>(t) - bits_as<V8i>(magic);
    const V8 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    V8 p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const V8i bits = (e + 127) << 23;
    return p * bits_as<V8>(bits);
}

// The per-(batch, kv head) work; cloned for AVX2 (chosen at load time by CPU feature). The file
// is compiled with -ffp-contract=off, so the clone rounds exactly like the baseline.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("default", "avx2")))
#endif
void attention_pairs(const AttentionArgs& a, int64_t begin, int64_t end) {
    const int64_t D = a.D, S = a.S, T = a.T;
    const int64_t S8 = (S + kLanes - 1) / kLanes * kLanes;
    const int64_t D8 = (D + kLanes - 1) / kLanes * kLanes;
    const int64_t n_rep = a.NH / a.NKV;
    // The kv head's keys in blocks of eight, [S8 / 8][D][8], and its values transposed, [D8][S8];
    // zero-padded.
    std::vector<float> kt(static_cast<size_t>(D * S8)), vt(static_cast<size_t>(D8 * S8));
    std::vector<float> s(static_cast<size_t>(S8));  // one row's scores, then its weights
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    for (int64_t pair = begin; pair < end; ++pair) {
        const int64_t b = pair / a.NKV, g = pair % a.NKV;
        const float* kb = a.k + b * a.k_stride[0] + g * a.k_stride[1];
        const float* vb = a.v + b * a.v_stride[0] + g * a.v_stride[1];
        for (int64_t j = 0; j < S; ++j)
            for (int64_t d = 0; d < D; ++d) {
                kt[size_t((j / kLanes) * D * kLanes + d * kLanes + j % kLanes)] = kb[j * a.k_stride[2] + d];
                vt[size_t(d * S8 + j)] = vb[j * a.v_stride[2] + d];
            }
        for (int64_t r = 0; r < n_rep; ++r) {
            const int64_t h = g * n_rep + r;
            const float* qh = a.q + b * a.q_stride[0] + h * a.q_stride[1];
            float* oh = a.out + b * a.out_stride[0] + h * a.out_stride[1];
            for (int64_t t = 0; t < T; ++t) {
                const float* qt = qh + t * a.q_stride[2];
                float* ot = oh + t * a.out_stride[2];
                const int64_t lo = std::max<int64_t>(0, a.lo[t]), hi = std::min<int64_t>(S, a.hi[t]);
                if (hi <= lo) {
                    for (int64_t d = 0; d < D; ++d) ot[d] = 0.0f;
                    continue;
                }
                const int64_t j0 = lo / kLanes * kLanes, j1 = (hi + kLanes - 1) / kLanes * kLanes;
                float* sp = s.data();
                // Scores of whole blocks of eight keys: the sum over d in order, then the scale;
                // four blocks at a time, so that the additions of one do not wait on another's.
                const V8 scale = splat(a.scale);
                int64_t jb = j0;
                for (; jb + 4 * kLanes <= j1; jb += 4 * kLanes) {
                    const float* k0 = kt.data() + jb * D;
                    V8 a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
                    for (int64_t d = 0; d < D; ++d) {
                        const V8 qd = splat(qt[d]);
                        a0 += qd * load8(k0 + d * kLanes);
                        a1 += qd * load8(k0 + (D + d) * kLanes);
                        a2 += qd * load8(k0 + (2 * D + d) * kLanes);
                        a3 += qd * load8(k0 + (3 * D + d) * kLanes);
                    }
                    store8(sp + jb, a0 * scale);
                    store8(sp + jb + kLanes, a1 * scale);
                    store8(sp + jb + 2 * kLanes, a2 * scale);
                    store8(sp + jb + 3 * kLanes, a3 * scale);
                }
                for (; jb < j1; jb += kLanes) {
                    const float* k0 = kt.data() + jb * D;
                    V8 acc = splat(0.0f);
                    for (int64_t d = 0; d < D; ++d) acc += splat(qt[d]) * load8(k0 + d * kLanes);
                    store8(sp + jb, acc * scale);
                }
                for (int64_t j = j0; j < lo; ++j) sp[j] = kNegInf;
                for (int64_t j = hi; j < j1; ++j) sp[j] = kNegInf;
                V8 mv = splat(kNegInf);
                for (int64_t jb = j0; jb < j1; jb += kLanes) {
                    const V8 x = load8(sp + jb);
                    mv = x > mv ? x : mv;
                }
                const V8 m = splat(max8(mv));
                V8 sv = splat(0.0f);
                for (int64_t jb = j0; jb < j1; jb += kLanes) {
                    const V8 p = exp8(load8(sp + jb) - m);
                    store8(sp + jb, p);
                }
                for (int64_t j = j0; j < lo; ++j) sp[j] = 0.0f;
                for (int64_t j = hi; j < j1; ++j) sp[j] = 0.0f;
                for (int64_t jb = j0; jb < j1; jb += kLanes) sv += load8(sp + jb);
                const float inv = 1.0f / sum8(sv);
                // Weighted values, eight output dimensions at a time: per dimension, eight
                // interleaved partial sums over the keys (weights outside [lo, hi) are zero).
                for (int64_t d0 = 0; d0 < D; d0 += kLanes) {
                    V8 part[kLanes] = {};
                    const float* vd = vt.data() + d0 * S8;
                    for (int64_t jb = j0; jb < j1; jb += kLanes) {
                        const V8 p = load8(sp + jb);
                        for (int64_t l = 0; l < kLanes; ++l) part[l] += p * load8(vd + l * S8 + jb);
                    }
                    for (int64_t l = 0; l < kLanes && d0 + l < D; ++l) ot[d0 + l] = sum8(part[l]) * inv;
                }
            }
        }
    }
}

}  // namespace

void attention_f32(const AttentionArgs& a, int64_t begin, int64_t end) {
    if (a.B <= 0 || a.NH <= 0 || a.NKV <= 0 || a.NH % a.NKV != 0 || a.D <= 0 || a.T <= 0 || a.S <= 0) return;
    attention_pairs(a, std::max<int64_t>(0, begin), std::min(end, a.B * a.NKV));
}

}  // namespace achilles::detail
