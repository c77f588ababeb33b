// SPDX-License-Identifier: GPL-3.0-or-later
// The layer-wise placement planner (pure function; no CUDA needed).
#include "achilles/error.h"
#include "model/placement.h"
#include <QtTest>
#include <numeric>

using namespace achilles;

namespace {
constexpr uint64_t GiB = 1ull << 30;

// Invariants every plan must satisfy.
void check_plan(const PlacementPlan& p, const std::vector<uint64_t>& free, const std::vector<uint64_t>& layers,
                uint64_t embed, uint64_t head, double frac) {
    QCOMPARE(p.layer_device.size(), layers.size());
    QCOMPARE(p.bytes.size(), free.size());
    QVERIFY(p.embed_device <= p.layer_device.front());
    QVERIFY(p.head_device >= p.layer_device.back());
    for (size_t i = 1; i < p.layer_device.size(); ++i) QVERIFY(p.layer_device[i] >= p.layer_device[i - 1]);
    std::vector<uint64_t> used(free.size(), 0);
    used[size_t(p.embed_device)] += embed;
    used[size_t(p.head_device)] += head;
    for (size_t i = 0; i < layers.size(); ++i) used[size_t(p.layer_device[i])] += layers[i];
    for (size_t d = 0; d < free.size(); ++d) {
        QCOMPARE(used[d], p.bytes[d]);
        QVERIFY(double(used[d]) <= double(free[d]) * frac);
    }
}
}  // namespace

class TestPlacement : public QObject {
    Q_OBJECT
private slots:
    void single_device() {
        std::vector<uint64_t> layers(32, GiB / 2);
        auto p = plan_placement({40 * GiB}, layers, GiB, GiB);
        check_plan(p, {40 * GiB}, layers, GiB, GiB, 0.9);
        QCOMPARE(p.embed_device, 0);
        QCOMPARE(p.head_device, 0);
        for (int d : p.layer_device) QCOMPARE(d, 0);
    }
    void two_equal_devices_split_evenly() {
        std::vector<uint64_t> layers(8, GiB);
        auto p = plan_placement({80 * GiB, 80 * GiB}, layers, GiB, GiB);
        check_plan(p, {80 * GiB, 80 * GiB}, layers, GiB, GiB, 0.9);
        QCOMPARE(p.embed_device, 0);
        QCOMPARE(p.head_device, 1);
        // 10 GiB in all: 5 on each device -> embed + 4 layers | 4 layers + head
        QCOMPARE(std::count(p.layer_device.begin(), p.layer_device.end(), 0), 4);
        QCOMPARE(p.bytes[0], 5 * GiB);
        QCOMPARE(p.bytes[1], 5 * GiB);
    }
    void proportional_to_free_memory() {
        std::vector<uint64_t> layers(12, GiB);
        auto p = plan_placement({30 * GiB, 10 * GiB}, layers, GiB, GiB);
        check_plan(p, {30 * GiB, 10 * GiB}, layers, GiB, GiB, 0.9);
        // 14 GiB at 3:1 -> device 0 takes ~10.5 GiB
        const auto on0 = std::count(p.layer_device.begin(), p.layer_device.end(), 0);
        QVERIFY2(on0 >= 9 && on0 <= 10, qPrintable(QString::number(on0)));
    }
    void seventy_b_on_two_80g_gpus() {
        // Llama-70B in bf16: 80 layers of ~1.71 GB, embed and head ~1.05 GB each.
        std::vector<uint64_t> layers(80, 1712324608ull);
        const uint64_t emb = 1048576000ull, head = 1048576000ull;
        std::vector<uint64_t> free{84000000000ull, 84000000000ull};
        auto p = plan_placement(free, layers, emb, head, 0.95);
        check_plan(p, free, layers, emb, head, 0.95);
        QCOMPARE(p.embed_device, 0);
        QCOMPARE(p.head_device, 1);
        QVERIFY_THROWS_EXCEPTION(Error, plan_placement({84000000000ull}, layers, emb, head, 0.95));
    }
    void greedy_when_proportional_fails() {
        // A big layer at the end does not fit the proportional split; greedy packing still works.
        std::vector<uint64_t> layers{GiB, GiB, GiB, 6 * GiB};
        std::vector<uint64_t> free{5 * GiB, 7 * GiB};
        auto p = plan_placement(free, layers, 0, 0, 1.0);
        check_plan(p, free, layers, 0, 0, 1.0);
        QCOMPARE(p.layer_device.back(), 1);
        QCOMPARE(p.layer_device[2], 0);
    }
    void head_goes_to_a_later_device_if_needed() {
        std::vector<uint64_t> layers{4 * GiB, 4 * GiB};
        std::vector<uint64_t> free{4 * GiB, 4 * GiB, 2 * GiB};
        auto p = plan_placement(free, layers, 0, 2 * GiB, 1.0);
        check_plan(p, free, layers, 0, 2 * GiB, 1.0);
        QCOMPARE(p.layer_device[0], 0);
        QCOMPARE(p.layer_device[1], 1);
        QCOMPARE(p.head_device, 2);
    }
    void errors() {
        QVERIFY_THROWS_EXCEPTION(Error, plan_placement({}, {GiB}, 0, 0));
        QVERIFY_THROWS_EXCEPTION(Error, plan_placement({GiB}, {}, 0, 0));
        QVERIFY_THROWS_EXCEPTION(Error, plan_placement({GiB}, {GiB}, 0, 0, 0.0));
        QVERIFY_THROWS_EXCEPTION(Error, plan_placement({GiB, GiB}, {GiB / 2, GiB / 2, GiB / 2, GiB / 2, GiB / 2}, 0, 0, 0.9));
        try {
            plan_placement({GiB}, {2 * GiB}, 0, 0);
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY(QString(e.what()).contains("does not fit"));
        }
    }
    void summary() {
        PlacementPlan p;
        p.layer_device = {0, 0, 1, 1, 1};
        QCOMPARE(QString::fromStdString(placement_summary(p, {"cuda:0", "cuda:1"})), QString("cuda:0:L0-1,cuda:1:L2-4"));
    }
};

QTEST_APPLESS_MAIN(TestPlacement)
#include "test_placement.moc"
