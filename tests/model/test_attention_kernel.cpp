// SPDX-License-Identifier: GPL-3.0-or-later
// The fused CPU attention (model/attention_kernel.h) against softmax attention computed here in
// float64 with ATen (scores, an additive mask from the same key ranges, softmax, weighted sum):
// head dims that are and are not multiples of eight, grouped kv heads, a KV-cache offset, sliding
// windows, strided inputs, single-token decoding and peaked softmaxes. Then what the kernel
// promises beyond the values: a row's bits do not depend on the batch it was computed in or on
// how the (batch, kv head) pairs were split between calls, and an empty key range gives zeros.
#include "model/attention_kernel.h"
#include <ATen/ATen.h>
#include <QtTest>
#include <cmath>
#include <cstring>
#include <vector>

using namespace achilles;
using namespace achilles::detail;

namespace {

struct Case {
    int64_t B, NH, NKV, T, past, D;
    int window;    // 0: causal only
    double qscale; // multiplies q: a large value makes the softmax peaked
    bool strided;  // q, k and v as transposed views of [B, T, heads, D] buffers
};

struct Inputs {
    at::Tensor q, k, v;  // [B, NH, T, D], [B, NKV, S, D] (possibly strided views)
    std::vector<int64_t> lo, hi;
};

Inputs make_inputs(const Case& c, uint64_t seed) {
    at::manual_seed(seed);
    const int64_t S = c.past + c.T;
    Inputs in;
    if (c.strided) {
        in.q = (at::randn({c.B, c.T, c.NH, c.D}) * c.qscale).transpose(1, 2);
        in.k = at::randn({c.B, S, c.NKV, c.D}).transpose(1, 2);
        in.v = at::randn({c.B, S, c.NKV, c.D}).transpose(1, 2);
    } else {
        in.q = at::randn({c.B, c.NH, c.T, c.D}) * c.qscale;
        in.k = at::randn({c.B, c.NKV, S, c.D});
        in.v = at::randn({c.B, c.NKV, S, c.D});
    }
    for (int64_t t = 0; t < c.T; ++t) {
        const int64_t pos = c.past + t;
        in.lo.push_back(c.window > 0 ? std::max<int64_t>(0, pos - c.window + 1) : 0);
        in.hi.push_back(pos + 1);
    }
    return in;
}

// out: [B, T, NH, D] contiguous, as transformer.cpp lays it out.
at::Tensor run_kernel(const Inputs& in, const Case& c, float scale, std::vector<std::pair<int64_t, int64_t>> splits = {}) {
    at::Tensor out = at::full({c.B, c.T, c.NH, c.D}, std::nanf(""));
    AttentionArgs a;
    a.B = c.B; a.NH = c.NH; a.NKV = c.NKV; a.T = c.T; a.S = c.past + c.T; a.D = c.D;
    a.scale = scale;
    a.q = in.q.data_ptr<float>(); a.k = in.k.data_ptr<float>(); a.v = in.v.data_ptr<float>();
    a.out = out.data_ptr<float>();
    for (int i = 0; i < 3; ++i) {
        a.q_stride[i] = in.q.stride(i);
        a.k_stride[i] = in.k.stride(i);
        a.v_stride[i] = in.v.stride(i);
    }
    a.out_stride[0] = c.T * c.NH * c.D; a.out_stride[1] = c.D; a.out_stride[2] = c.NH * c.D;
    a.lo = in.lo.data(); a.hi = in.hi.data();
    if (splits.empty()) splits.push_back({0, c.B * c.NKV});
    for (auto [b, e] : splits) attention_f32(a, b, e);
    return out;
}

// float64 softmax attention; [B, T, NH, D].
at::Tensor reference(const Inputs& in, const Case& c, double scale) {
    const int64_t S = c.past + c.T, rep = c.NH / c.NKV;
    at::Tensor q = in.q.to(at::kDouble), k = in.k.to(at::kDouble).repeat_interleave(rep, 1),
               v = in.v.to(at::kDouble).repeat_interleave(rep, 1);
    at::Tensor bias = at::full({c.T, S}, -std::numeric_limits<double>::infinity(), at::kDouble);
    for (int64_t t = 0; t < c.T; ++t)
        if (in.hi[size_t(t)] > in.lo[size_t(t)]) bias[t].narrow(0, in.lo[size_t(t)], in.hi[size_t(t)] - in.lo[size_t(t)]).zero_();
    at::Tensor s = at::matmul(q, k.transpose(-2, -1)) * scale + bias;
    return at::matmul(at::softmax(s, -1), v).transpose(1, 2).contiguous();
}

bool same_bits(const at::Tensor& a, const at::Tensor& b) {
    at::Tensor x = a.contiguous(), y = b.contiguous();
    return x.sizes() == y.sizes() && std::memcmp(x.data_ptr<float>(), y.data_ptr<float>(), size_t(x.numel()) * 4) == 0;
}

}  // namespace

class TestAttentionKernel : public QObject {
    Q_OBJECT
private slots:
    void matchesSoftmaxReference_data() {
        QTest::addColumn<int>("idx");
        const char* names[] = {"stories260K shape (head_dim 8, GQA 2)", "head_dim 64, MHA", "KV-cache offset",
                               "head_dim 12, sliding window 7", "decode one token, head_dim 128", "head_dim 3",
                               "strided views", "peaked softmax (q x 40)", "long row (T 300, head_dim 8)"};
        for (int i = 0; i < 9; ++i) QTest::newRow(names[i]) << i;
    }
    void matchesSoftmaxReference() {
        QFETCH(int, idx);
        const Case cases[] = {{2, 8, 4, 115, 0, 8, 0, 1.0, false}, {1, 4, 4, 37, 0, 64, 0, 1.0, false},
                              {3, 6, 2, 20, 5, 16, 0, 1.0, false}, {2, 4, 2, 50, 0, 12, 7, 1.0, false},
                              {1, 2, 1, 1, 30, 128, 0, 1.0, false}, {1, 2, 2, 9, 0, 3, 0, 1.0, false},
                              {2, 4, 2, 33, 3, 8, 0, 1.0, true},   {1, 4, 2, 40, 0, 8, 0, 40.0, false},
                              {1, 2, 1, 300, 0, 8, 0, 1.0, false}};
        const Case c = cases[idx];
        const Inputs in = make_inputs(c, 1000 + uint64_t(idx));
        const double scale = 1.0 / std::sqrt(double(c.D));
        at::Tensor got = run_kernel(in, c, float(scale));
        at::Tensor want = reference(in, c, double(float(scale)));
        QVERIFY(at::isfinite(got).all().item<bool>());
        const double err = (got.to(at::kDouble) - want).abs().max().item<double>();
        const double mag = want.abs().max().item<double>();
        // float32 arithmetic over at most 300 keys and 128 dims of unit-sized values
        QVERIFY2(err <= 2e-6 * std::max(1.0, mag), qPrintable(QString("max |err| %1 (max |ref| %2)").arg(err).arg(mag)));
    }

    void rowsDoNotDependOnTheBatchOrTheSplit() {
        const Case c{5, 8, 4, 61, 0, 8, 0, 1.0, false};
        const Inputs in = make_inputs(c, 7);
        const float scale = 0.35355339f;
        const at::Tensor all = run_kernel(in, c, scale);
        // Split between calls (as threads would): pairs 0..6, 7..12, 13..19.
        QVERIFY(same_bits(all, run_kernel(in, c, scale, {{0, 7}, {7, 13}, {13, 20}})));
        // Each sample alone, as a batch of one.
        for (int64_t b = 0; b < c.B; ++b) {
            Case one = c;
            one.B = 1;
            Inputs single{in.q.narrow(0, b, 1).contiguous(), in.k.narrow(0, b, 1).contiguous(),
                          in.v.narrow(0, b, 1).contiguous(), in.lo, in.hi};
            QVERIFY2(same_bits(all.narrow(0, b, 1), run_kernel(single, one, scale)), qPrintable(QString("sample %1").arg(b)));
        }
    }

    void emptyRangeGivesZerosAndRangesAreClipped() {
        Case c{1, 2, 1, 4, 0, 8, 0, 1.0, false};
        Inputs in = make_inputs(c, 3);
        in.lo = {0, 2, -5, 1};
        in.hi = {1, 2, 100, 3};  // row 1 empty; row 2 clipped to [0, 4)
        at::Tensor got = run_kernel(in, c, 0.5f);
        QCOMPARE(got.select(1, 1).abs().max().item<float>(), 0.0f);
        Inputs clipped = in;
        clipped.lo = {0, 0, 0, 1};
        clipped.hi = {1, 1, 4, 3};
        at::Tensor ref = reference(clipped, c, 0.5);
        for (int64_t t : {0, 2, 3})
            QVERIFY((got.select(1, t).to(at::kDouble) - ref.select(1, t)).abs().max().item<double>() < 2e-6);
    }

    void badGeometryWritesNothing() {
        Case c{1, 3, 2, 4, 0, 8, 0, 1.0, false};  // 3 heads cannot share 2 kv heads
        Inputs in = make_inputs(Case{1, 3, 3, 4, 0, 8, 0, 1.0, false}, 4);
        at::Tensor out = run_kernel(in, c, 1.0f);
        QVERIFY(at::isnan(out).all().item<bool>());
    }
};

QTEST_APPLESS_MAIN(TestAttentionKernel)
#include "test_attention_kernel.moc"
