// SPDX-License-Identifier: GPL-3.0-or-later
// detail::select_top (stage 1's top-M) against an independent selection written here with
// std::sort: random scores with many exact ties, sites larger and smaller than M, and the
// non-finite path (NaN -> 0, +inf -> largest finite) that bypasses the host fast path.
#include "analysis/search_internal.h"
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

using namespace achilles;
using namespace achilles::detail;

namespace {

struct Ref { float v; int site; int64_t index; };

// Per site: entries >= the site's M-th largest (ties kept); then overall the entries >= the M-th
// largest of those; sorted by value descending, ties in (site, index) order; first M.
std::vector<Ref> reference(const std::vector<std::vector<float>>& sites, int64_t M) {
    std::vector<Ref> pool;
    for (size_t s = 0; s < sites.size(); ++s) {
        std::vector<float> v = sites[s];
        for (float& x : v) {
            if (std::isnan(x)) x = 0;
            else if (std::isinf(x)) x = x > 0 ? std::numeric_limits<float>::max() : std::numeric_limits<float>::lowest();
        }
        float thr = -std::numeric_limits<float>::infinity();
        if (static_cast<int64_t>(v.size()) > M) {
            std::vector<float> sorted = v;
            std::sort(sorted.begin(), sorted.end(), std::greater<float>());
            thr = sorted[static_cast<size_t>(M - 1)];
        }
        for (size_t i = 0; i < v.size(); ++i)
            if (v[i] >= thr) pool.push_back({v[i], static_cast<int>(s), static_cast<int64_t>(i)});
    }
    if (static_cast<int64_t>(pool.size()) > M) {
        std::vector<float> vals;
        for (const auto& r : pool) vals.push_back(r.v);
        std::sort(vals.begin(), vals.end(), std::greater<float>());
        const float thr = vals[static_cast<size_t>(M - 1)];
        std::vector<Ref> kept;
        for (const auto& r : pool)
            if (r.v >= thr) kept.push_back(r);
        pool = kept;
    }
    std::stable_sort(pool.begin(), pool.end(), [](const Ref& a, const Ref& b) { return a.v > b.v; });
    if (static_cast<int64_t>(pool.size()) > M) pool.resize(static_cast<size_t>(M));
    return pool;
}

}  // namespace

class TestSelectTop : public QObject {
    Q_OBJECT
private slots:
    void matchesSortReference_data() {
        QTest::addColumn<int>("M");
        QTest::addColumn<bool>("nonFinite");
        QTest::newRow("M=50") << 50 << false;
        QTest::newRow("M=1") << 1 << false;
        QTest::newRow("M=700 (some sites smaller)") << 700 << false;
        QTest::newRow("M=50, NaN and inf") << 50 << true;
    }
    void matchesSortReference() {
        QFETCH(int, M);
        QFETCH(bool, nonFinite);
        std::mt19937 rng(12345u + static_cast<unsigned>(M));
        std::uniform_int_distribution<int> coarse(0, 40);  // few distinct values: many exact ties
        std::normal_distribution<float> fine(0.f, 1.f);
        const std::vector<std::pair<int64_t, int64_t>> shapes = {{7, 90}, {7, 13}, {3, 500}, {7, 90}};
        std::vector<std::vector<float>> raw;
        std::vector<SiteScores> sites;
        for (size_t s = 0; s < shapes.size(); ++s) {
            const auto [T, C] = shapes[s];
            std::vector<float> v(static_cast<size_t>(T * C));
            for (auto& x : v) x = s % 2 ? static_cast<float>(coarse(rng)) / 8.f : std::fabs(fine(rng));
            if (nonFinite && s == 2) {
                v[5] = std::numeric_limits<float>::quiet_NaN();
                v[17] = std::numeric_limits<float>::infinity();
            }
            raw.push_back(v);
            sites.push_back({static_cast<int>(s), Module::q_proj, at::tensor(v).view({T, C})});
        }
        const auto got = select_top(sites, M, true);
        const auto want = reference(raw, M);
        QCOMPARE(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
            const int64_t C = shapes[static_cast<size_t>(want[i].site)].second;
            QCOMPARE(got[i].neuron.layer, want[i].site);
            QCOMPARE(got[i].position, static_cast<int>(want[i].index / C));
            QCOMPARE(got[i].neuron.channel, static_cast<int>(want[i].index % C));
            QCOMPARE(got[i].importance, static_cast<double>(want[i].v));
        }
        if (nonFinite) QCOMPARE(got.front().importance, static_cast<double>(std::numeric_limits<float>::max()));
    }
};

QTEST_APPLESS_MAIN(TestSelectTop)
#include "test_select_top.moc"
