// SPDX-License-Identifier: GPL-3.0-or-later
// The critical-neuron search against the independent float64 reference (tests/reference/
// ref_search.py, golden values in tests/fixtures/search/golden.json), the planted massive channel,
// masks at every position, determinism, cancellation, bisection, minimal sets, baselines and
// dataset loading.
#include "achilles/error.h"
#include "achilles/npy.h"
#include "achilles/results.h"
#include "achilles/search.h"
#include "achilles/version.h"
#include "analysis/search_internal.h"
#include "model/transformer.h"
#include "test_paths.h"
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

using namespace achilles;
using json = nlohmann::json;

namespace {

std::unique_ptr<Engine> load_fixture(const std::string& name) {
    LoadOptions lo;
    lo.path = test::tests_dir() + "/fixtures/search/" + name;
    return Engine::load(lo, null_progress());
}

json golden() {
    std::ifstream in(test::tests_dir() + "/fixtures/search/golden.json");
    return json::parse(in);
}

double rel(double a, double b) { return std::abs(a - b) / std::max(1e-300, std::abs(b)); }

std::string write_temp(const std::string& name, const std::string& contents) {
    std::filesystem::path p = std::filesystem::path(test::build_scratch()) / ("search_" + name);
    std::ofstream(p, std::ios::binary) << contents;
    return p.string();
}

std::string scratch(const std::string& name) {
    return (std::filesystem::path(test::build_scratch()) / ("search_" + name)).string();
}

// An .npy file's bytes with the header's shape replaced, the header's padding absorbing the
// difference (the header keeps its length, so the data stays where it was).
std::string with_shape(std::string npy, const std::string& from, const std::string& to) {
    const size_t at = npy.find(from);
    if (at == std::string::npos) return npy;
    npy.replace(at, from.size(), to);
    const size_t nl = npy.find('\n', at);
    const ptrdiff_t extra = ptrdiff_t(to.size()) - ptrdiff_t(from.size());
    if (extra > 0) npy.erase(nl - size_t(extra), size_t(extra));
    else npy.insert(nl, size_t(-extra), ' ');
    return npy;
}

}  // namespace

class TestSearch : public QObject {
    Q_OBJECT

    std::unique_ptr<Engine> planted_, plain_;
    json golden_;
    std::vector<int> ids_;

private slots:
    void initTestCase() {
        planted_ = load_fixture("planted");
        plain_ = load_fixture("plain");
        golden_ = golden();
        ids_ = golden_["ids"].get<std::vector<int>>();
    }

    void faithfulMatchesReference_data() {
        QTest::addColumn<QString>("key");
        for (const char* k : {"planted_eps100", "plain_eps100", "plain_channel_max", "plain_channel_mean", "gemma_paper",
                              "qwen2_paper", "gemma2_paper", "planted_noise_file", "plain_noise_file", "plain_torch_rng"})
            QTest::newRow(k) << k;
    }
    void faithfulMatchesReference() {
        QFETCH(QString, key);
        if (!golden_.contains(key.toStdString())) QSKIP("no golden values for this fixture");
        const json& ref = golden_[key.toStdString()];
        const std::string fx = ref["fixture"].get<std::string>();
        LoadOptions lo;
        lo.path = test::tests_dir() + "/fixtures/" + (fx == "planted" || fx == "plain" ? "search/" : "") + fx;
        auto engine = Engine::load(lo, null_progress());
        const Engine& eng = *engine;
        SearchOptions o;
        o.alpha = ref["alpha"].get<double>();
        o.samples = ref["samples"].get<int>();
        o.seed = ref["seed"].get<uint64_t>();
        o.step = ref["step"].get<int>();
        o.epsilon = ref["epsilon"].get<double>();
        o.max_steps = ref["max_steps"].get<int>();
        o.mode = search_mode_from(ref["mode"].get<std::string>() == "paper" ? "paper"
                                  : ref["mode"].get<std::string>() == "channel_max" ? "channel-max" : "channel-mean");
        o.top = static_cast<int>(ref["ranking"].size());
        // --noise FILE: the reference read the same numpy-drawn file. --noise-rng torch: the
        // reference drew torch.manual_seed(seed) + torch.randn(1, T, D) per sample; PyTorch's CPU
        // generator gives the same numbers within one torch release line.
        if (ref.contains("noise_file"))
            o.noise_file = test::tests_dir() + "/fixtures/search/" + ref["noise_file"].get<std::string>();
        if (ref.contains("noise_rng")) {
            o.noise_rng = noise_rng_from(ref["noise_rng"].get<std::string>());
            auto major_minor = [](const std::string& v) { return v.substr(0, v.find('.', v.find('.') + 1)); };
            const std::string theirs = ref["torch"].get<std::string>();
            if (major_minor(theirs) != major_minor(libtorch_version()))
                QSKIP(qPrintable(QString("the golden was drawn by torch %1, this build links libtorch %2")
                                     .arg(QString::fromStdString(theirs), QString::fromStdString(libtorch_version()))));
        }
        SearchResult r = run_search(eng, "", ids_, o, null_progress());
        QCOMPARE(r.total_entries, ref["total_entries"].get<int64_t>());
        QVERIFY2(rel(r.ppl_orig, ref["ppl_orig"].get<double>()) < 1e-4, "ppl_orig differs from the reference");
        // Ranking: same entries in the same order, except where the reference itself has a
        // near-tie (then the C++ entry's importance must equal the reference's at that rank).
        const json& rr = ref["ranking"];
        QCOMPARE(r.ranking.size(), rr.size());
        std::map<std::tuple<int, std::string, int, int>, double> ref_imp;
        for (const auto& e : rr)
            ref_imp[{e["layer"].get<int>(), e["module"].get<std::string>(), e["position"].get<int>(),
                     e["channel"].get<int>()}] = e["importance"].get<double>();
        int swaps = 0;
        for (size_t i = 0; i < r.ranking.size(); ++i) {
            const RankedEntry& a = r.ranking[i];
            const json& b = rr[i];
            const double bi = b["importance"].get<double>();
            QVERIFY2(rel(a.importance, bi) < 1e-4,
                     qPrintable(QString("importance at rank %1: %2 vs %3").arg(i).arg(a.importance).arg(bi)));
            const bool same = a.neuron.layer == b["layer"].get<int>() &&
                              module_name(a.neuron.module) == b["module"].get<std::string>() &&
                              a.position == b["position"].get<int>() && a.neuron.channel == b["channel"].get<int>();
            if (!same) {
                ++swaps;
                auto it = ref_imp.find({a.neuron.layer, std::string(module_name(a.neuron.module)), a.position,
                                        a.neuron.channel});
                if (it != ref_imp.end())
                    QVERIFY2(rel(it->second, bi) < 1e-4, qPrintable(QString("rank %1 differs beyond a near-tie").arg(i)));
                else
                    QVERIFY(i + 5 >= r.ranking.size());  // may only enter at the very end of the list
            }
        }
        QVERIFY2(swaps <= 4, "too many near-tie swaps");
        // Stage-2 curve.
        const json& rc = ref["curve"];
        QCOMPARE(r.curve.size(), rc.size());
        for (size_t i = 0; i < r.curve.size(); ++i) {
            QCOMPARE(r.curve[i].n, rc[i]["n"].get<int>());
            QCOMPARE(r.curve[i].unique_channels, rc[i]["unique_channels"].get<int>());
            QVERIFY2(rel(r.curve[i].ppl, rc[i]["ppl"].get<double>()) < 1e-4,
                     qPrintable(QString("curve ppl at n=%1: %2 vs %3").arg(r.curve[i].n).arg(r.curve[i].ppl)
                                    .arg(rc[i]["ppl"].get<double>())));
            QVERIFY(std::abs(r.curve[i].delta - rc[i]["delta"].get<double>()) < 1e-4);
        }
        // forwards: baseline + one per distinct unique-channel count; literal = steps + 1.
        std::set<int> distinct;
        for (const auto& p : rc) distinct.insert(p["unique_channels"].get<int>());
        QCOMPARE(r.forwards_linear, 1 + static_cast<int>(distinct.size()));
        QCOMPARE(r.forwards_literal, 1 + static_cast<int>(rc.size()));
        QVERIFY(!r.faithful.reached);
    }

    void plantedChannelFound() {
        const json& pc = golden_["planted_channel"];
        const Neuron planted{pc["layer"].get<int>(), *module_from_name(pc["module"].get<std::string>()),
                             pc["channel"].get<int>()};
        SearchOptions o;  // the paper's defaults except K
        o.samples = 8;
        SearchResult r = run_search(*planted_, "", ids_, o, null_progress());
        QCOMPARE(r.app_version, app_version());  // the build's real version, not a constant
        QVERIFY(r.faithful.reached);
        QCOMPARE(r.faithful.neurons.size(), size_t(1));
        QVERIFY(r.faithful.neurons[0] == planted);
        QVERIFY(r.faithful.delta >= 3.0);
        QCOMPARE(r.ranking.front().neuron, planted);
        for (SearchMode m : {SearchMode::channel_max, SearchMode::channel_mean}) {
            o.mode = m;
            SearchResult c = run_search(*planted_, "", ids_, o, null_progress());
            QCOMPARE(c.ranking.front().neuron, planted);
            QCOMPARE(c.ranking.front().position, -1);
            QVERIFY(c.faithful.reached);
        }
    }

    void autoBatchKeepsEveryActivationUnder32MiB() {
        // --batch 0 on the CPU: the memory budget, and no single activation over 32 MiB (beyond it
        // glibc hands out fresh pages on every allocation). Planted fixture: 4 heads, f32, so one
        // sample's attention scores at T tokens are 16 T^2 bytes.
        const Transformer& model = EngineAccess::model(*planted_);
        QCOMPARE(model.config().num_attention_heads, 4);
        const int64_t mib = 1048576;
        for (int64_t T : {12, 128, 512, 1024, 2048}) {
            const int B = achilles::detail::auto_stage1_batch(model, T, 100);
            QVERIFY2(B >= 1 && B <= 100, qPrintable(QString("T=%1 B=%2").arg(T).arg(B)));
            const int64_t scores = int64_t(B) * 4 * T * T * 4;
            QVERIFY2(scores <= 32 * mib || B == 1, qPrintable(QString("T=%1 B=%2 scores %3 B").arg(T).arg(B).arg(scores)));
            if (B < 100 && B > 1) {
                // the cap binds at long T: one more sample would pass 32 MiB (or the 256 MiB budget)
                QVERIFY(int64_t(B + 1) * 4 * T * T * 4 > 32 * mib || T <= 128);
            }
        }
        QCOMPARE(achilles::detail::auto_stage1_batch(model, 12, 100), 100);   // short probe: all K at once
        QCOMPARE(achilles::detail::auto_stage1_batch(model, 1024, 100), 2);   // 16 MiB of scores per sample
        QCOMPARE(achilles::detail::auto_stage1_batch(model, 2048, 100), 1);   // 64 MiB: one at a time
        QCOMPARE(achilles::detail::auto_stage1_batch(model, 12, 7), 7);       // never more than K
    }

    void masksApplyAtEveryPosition() {
        const Transformer& model = EngineAccess::model(*planted_);
        std::vector<Neuron> ch{{0, Module::down_proj, 5}, {1, Module::act_fn, 7}, {1, Module::q_proj, 3}};
        MaskSpec spec = mask_of(ch);
        QCOMPARE(spec.size(), size_t(3));
        std::map<std::pair<int, int>, at::Tensor> rec;
        Hooks recorder;
        recorder.site = [&](int l, Module m, at::Tensor& out) { rec[{l, int(m)}] = out.clone(); };
        Hooks h = compose(make_mask_hooks(spec), recorder);
        std::vector<int64_t> v(ids_.begin(), ids_.end());
        at::Tensor t = at::tensor(v, at::kLong).view({1, -1});
        model.forward(t, &h);
        for (const Neuron& n : ch) {
            at::Tensor s = rec[{n.layer, int(n.module)}];
            QVERIFY(s.defined());
            QCOMPARE(s.size(1), int64_t(ids_.size()));
            QCOMPARE(s.select(2, n.channel).abs().max().item<double>(), 0.0);  // every position
            QVERIFY(s.select(2, n.channel + 1).abs().max().item<double>() > 0.0);
        }
        // The search's masked perplexity equals the engine's for the same spec.
        SearchOptions o;
        o.samples = 4;
        o.epsilon = 100;
        o.max_steps = 20;
        o.top = 100;
        SearchResult r = run_search(*planted_, "", ids_, o, null_progress());
        const CurvePoint& last = r.curve.back();
        PplResult e = planted_->perplexity(ids_, mask_of(prefix_channels(r.ranking, last.n)), null_progress());
        QVERIFY(rel(e.ppl, last.ppl) < 1e-6);
    }

    void deterministic() {
        SearchOptions o;
        o.samples = 6;
        o.epsilon = 100;
        o.max_steps = 15;
        o.top = 500;
        SearchResult a = run_search(*plain_, "probe", ids_, o, null_progress());
        SearchResult b = run_search(*plain_, "probe", ids_, o, null_progress());
        QCOMPARE(result_to_json(a, false), result_to_json(b, false));
        // Batching does not change the noise (per-sample seeds): same ranking and curve.
        o.batch = 4;
        SearchResult c = run_search(*plain_, "probe", ids_, o, null_progress());
        QCOMPARE(c.ranking.size(), a.ranking.size());
        for (size_t i = 0; i < 50; ++i) {
            QCOMPARE(c.ranking[i].neuron, a.ranking[i].neuron);
            QVERIFY(rel(c.ranking[i].importance, a.ranking[i].importance) < 1e-5);
        }
        QCOMPARE(c.curve.size(), a.curve.size());
        // A different seed gives a different ranking.
        o.seed = 7;
        SearchResult d = run_search(*plain_, "probe", ids_, o, null_progress());
        QVERIFY(d.ranking[0].importance != a.ranking[0].importance);
    }

    void cancelPromptly() {
        const double before = planted_->perplexity(ids_, {}, null_progress()).ppl;
        SearchOptions o;
        o.samples = 1000000;  // far longer than the test
        Progress progress;
        std::atomic<bool> cancelled{false};
        std::atomic<double> returned_after{-1};
        std::chrono::steady_clock::time_point t_cancel;
        std::thread worker([&] {
            try {
                run_search(*planted_, "", ids_, o, progress);
            } catch (const Cancelled&) {
                cancelled = true;
            }
            returned_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_cancel).count();
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        t_cancel = std::chrono::steady_clock::now();
        progress.cancel();
        worker.join();
        QVERIFY(cancelled);
        QVERIFY2(returned_after < 1.0, qPrintable(QString("returned %1 s after cancel").arg(returned_after.load())));
        // The engine still works and gives the same answer.
        QCOMPARE(planted_->perplexity(ids_, {}, null_progress()).ppl, before);
    }

    void bisectBound() {
        int monotone_cases = 0;
        for (const Engine* eng : {planted_.get(), plain_.get()}) {
            for (double eps : {3.0, 0.6, 0.3}) {
                SearchOptions o;
                o.samples = 6;
                o.epsilon = eps;
                o.max_steps = 200;
                SearchResult lin = run_search(*eng, "", ids_, o, null_progress());
                if (!lin.faithful.reached) continue;
                o.strategy = SearchStrategy::bisect;
                SearchResult bis = run_search(*eng, "", ids_, o, null_progress());
                QVERIFY(bis.bisected.has_value());
                const int nstar = lin.faithful.n;
                const int bound = 2 * static_cast<int>(std::ceil(std::log2(std::max(1, nstar)))) + 2;
                QVERIFY2(bis.bisected->evaluations <= bound,
                         qPrintable(QString("n*=%1: %2 evaluations > %3").arg(nstar).arg(bis.bisected->evaluations).arg(bound)));
                // Monotone up to n*: bisection must reach epsilon at the same n*.
                bool monotone = true;
                for (size_t i = 1; i < lin.curve.size(); ++i)
                    if (lin.curve[i].delta < lin.curve[i - 1].delta) monotone = false;
                if (monotone) {
                    ++monotone_cases;
                    QVERIFY(bis.bisected->reached);
                    QCOMPARE(bis.bisected->n, nstar);
                }
                if (!bis.bisected->reached) continue;  // a non-monotone curve may hide n* from bisection
                // Below n*, epsilon is not reached (the linear check).
                if (bis.bisected->n > 1) {
                    bool found_below = false;
                    for (const auto& p : bis.curve)
                        if (p.n == bis.bisected->n - 1) { found_below = true; QVERIFY(p.delta < eps); }
                    QVERIFY(found_below);
                }
            }
        }
        QVERIFY(monotone_cases >= 1);
    }

    void minimalSet() {
        SearchOptions o;
        o.samples = 6;
        o.step = 20;  // a prefix of 20 entries holds several channels
        o.minimize = true;
        SearchResult r = run_search(*planted_, "", ids_, o, null_progress());
        QVERIFY(r.faithful.reached);
        QVERIFY(r.faithful.neurons.size() > 1);
        QVERIFY(r.minimal.has_value());
        QCOMPARE(r.minimal->neurons.size(), size_t(1));
        QCOMPARE(r.minimal->neurons[0], (Neuron{0, Module::down_proj, 5}));
        QVERIFY(r.minimal->reached);
        QCOMPARE(r.minimal->evaluations, static_cast<int>(r.faithful.neurons.size()));  // tries + verification
        const double ppl = planted_->perplexity(ids_, mask_of(r.minimal->neurons), null_progress()).ppl;
        QVERIFY(rel(ppl, r.minimal->ppl) < 1e-6);

        // No set reaches an unreachable epsilon: then there is no minimal set to report.
        o.epsilon = 1000;
        o.max_steps = 3;
        SearchResult none = run_search(*planted_, "", ids_, o, null_progress());
        QVERIFY(!none.faithful.reached);
        QVERIFY(!none.minimal.has_value());
    }

    void sweepAndBaselines() {
        SearchOptions o;
        o.samples = 4;
        o.sweep = 4;
        o.random_runs = 3;
        o.epsilon = 100;  // unreachable: stage 2 scans the planted channel's many positions
        o.max_steps = 20;
        o.baselines = {"random", "random-matched", "activation", "gradient", "attribution"};
        SearchResult r = run_search(*planted_, "", ids_, o, null_progress());
        QCOMPARE(r.sweep.size(), size_t(6));
        QCOMPARE(r.sweep[0].name, std::string("ours"));
        for (const Series& s : r.sweep) {
            QCOMPARE(s.points.size(), size_t(5));
            for (int u = 0; u <= 4; ++u) QCOMPARE(s.points[size_t(u)].channels, u);
            QVERIFY(std::abs(s.points[0].log10_ppl - std::log10(r.ppl_orig)) < 1e-9);
        }
        // One unit on the x axis. The planted channel fills the top of the ranking at many
        // positions, so entries and unique channels differ (n entries mask fewer than n channels);
        // the sweep's ours at u channels is the stage-2 curve's point with u unique channels.
        bool differ = false;
        for (const CurvePoint& p : r.curve) {
            differ = differ || p.n != p.unique_channels;
            if (p.unique_channels <= 4)
                QVERIFY2(std::abs(r.sweep[0].points[size_t(p.unique_channels)].log10_ppl - std::log10(p.ppl)) < 1e-9,
                         qPrintable(QString("curve n=%1 (u=%2)").arg(p.n).arg(p.unique_channels)));
        }
        QVERIFY(differ);
        // random: R runs give a spread.
        bool spread = false;
        for (const auto& p : r.sweep[1].points) spread = spread || p.log10_ppl_std > 0;
        QVERIFY(spread);
        // activation (largest |a|) picks the massive channel first too.
        QVERIFY(std::abs(r.sweep[3].points[1].log10_ppl - std::log10(r.curve[0].ppl)) < 1e-9);
        QVERIFY(std::isfinite(r.sweep[4].points[4].log10_ppl));
        QVERIFY(std::isfinite(r.sweep[5].points[4].log10_ppl));

        // Without --sweep the baselines span the x range of ours: up to the critical set's channels.
        SearchOptions a = o;
        a.sweep = 0;
        a.epsilon = 1;
        a.baselines = {"random"};
        a.random_runs = 2;
        SearchResult ra = run_search(*planted_, "", ids_, a, null_progress());
        QVERIFY(ra.faithful.reached);
        for (const Series& s : ra.sweep) QCOMPARE(s.points.back().channels, int(ra.faithful.neurons.size()));

        const Transformer& model = EngineAccess::model(*planted_);
        at::Tensor t = achilles::ids_tensor(model, ids_);
        // random-matched: the same (layer, module) sequence as ours, disjoint from it, no repeats.
        {
            std::vector<Neuron> ours = achilles::prefix_channels(r.ranking, int(r.ranking.size()));
            const int U = std::min<int>(6, int(ours.size()));
            std::vector<Neuron> m = achilles::detail::matched_draw(ours, model.shape(), U, 42, 0);
            QCOMPARE(int(m.size()), U);
            std::set<Neuron> seen;
            for (int i = 0; i < U; ++i) {
                QCOMPARE(m[size_t(i)].layer, ours[size_t(i)].layer);
                QVERIFY(m[size_t(i)].module == ours[size_t(i)].module);
                QVERIFY(std::find(ours.begin(), ours.begin() + U, m[size_t(i)]) == ours.begin() + U);
                QVERIFY(seen.insert(m[size_t(i)]).second);
            }
            QVERIFY(achilles::detail::matched_draw(ours, model.shape(), U, 42, 1) != m);  // runs differ
        }
        // activation: the top entry is the largest |clean activation| over all sites.
        auto act = achilles::detail::baseline_ranking(model, t, achilles::detail::BaselineScore::activation, 10,
                                                      null_progress());
        double mx = -1e300;
        Hooks rec;
        rec.site = [&](int, Module, at::Tensor& out) { mx = std::max(mx, out.abs().max().item<double>()); };
        model.forward(t, &rec);
        QVERIFY(rel(act.front().importance, mx) < 1e-6);
        QVERIFY(act[0].importance >= act[1].importance);
        // gradient |dNLL/da| and attribution |dNLL/da|*|a|: each top entry matches a central finite
        // difference of the mean NLL when that one entry of the site output is nudged.
        auto clean_value = [&](const RankedEntry& e) {
            double v = 0;
            Hooks h;
            h.site = [&](int l, Module m, at::Tensor& out) {
                if (l == e.neuron.layer && m == e.neuron.module)
                    v = out.select(0, 0).select(0, e.position).select(0, e.neuron.channel).item<double>();
            };
            model.forward(t, &h);
            return v;
        };
        auto loss_with = [&](const RankedEntry& e, double h) {
            Hooks nudge;
            nudge.site = [&](int l, Module m, at::Tensor& out) {
                if (l == e.neuron.layer && m == e.neuron.module) {
                    out = out.clone();
                    out.select(0, 0).select(0, e.position).select(0, e.neuron.channel).add_(h);
                }
            };
            at::Tensor lg = model.forward(t, &nudge).to(at::kDouble);
            return next_token_nll(lg, t).to(at::kDouble).mean().item<double>();
        };
        for (auto score : {achilles::detail::BaselineScore::gradient, achilles::detail::BaselineScore::attribution}) {
            auto grad = achilles::detail::baseline_ranking(model, t, score, 3, null_progress());
            QCOMPARE(grad.size(), size_t(3));
            for (const auto& e : grad) {
                const double h = 1e-2;
                double fd = std::abs((loss_with(e, h) - loss_with(e, -h)) / (2 * h));
                if (score == achilles::detail::BaselineScore::attribution) fd *= std::abs(clean_value(e));
                QVERIFY2(std::abs(fd - e.importance) < 0.05 * std::abs(e.importance) + 1e-4,
                         qPrintable(QString("score %1 vs finite difference %2 at %3").arg(e.importance).arg(fd)
                                        .arg(QString::fromStdString(to_string(e.neuron)))));
            }
        }
        QVERIFY_EXCEPTION_THROWN(
            [&] { SearchOptions b = o; b.baselines = {"nonsense"}; run_search(*planted_, "", ids_, b, null_progress()); }(),
            Error);
    }

    // --dump-noise writes what a run used; --noise replays it: the same ranking, exactly.
    // Bad noise files are refused before any forward, naming the file and field.
    void noiseFileAndDump() {
        SearchOptions o;
        o.samples = 5;
        o.max_steps = 3;
        o.top = 200;
        for (NoiseRng rng : {NoiseRng::counter, NoiseRng::torch}) {
            o.noise_rng = rng;
            o.noise_file.clear();
            const std::string path = scratch("noise_" + std::string(to_string(rng)) + ".npy");
            dump_noise(*planted_, ids_, o, path, null_progress());
            const NpyHeader h = read_npy_header(path);
            QCOMPARE(h.descr, std::string(rng == NoiseRng::counter ? "<f8" : "<f4"));
            QCOMPARE(h.shape, (std::vector<int64_t>{5, int64_t(ids_.size()), 32}));
            SearchResult a = run_search(*planted_, "", ids_, o, null_progress());
            SearchOptions f = o;
            f.noise_rng = NoiseRng::counter;
            f.noise_file = path;
            SearchResult b = run_search(*planted_, "", ids_, f, null_progress());
            QCOMPARE(b.ranking.size(), a.ranking.size());
            for (size_t i = 0; i < a.ranking.size(); ++i) QVERIFY(a.ranking[i] == b.ranking[i]);
            QCOMPARE(b.curve, a.curve);
        }
        // The two generators draw different noise (the rankings' importances differ).
        {
            SearchOptions c = o, t = o;
            c.noise_rng = NoiseRng::counter;
            t.noise_rng = NoiseRng::torch;
            c.noise_file = t.noise_file = "";
            QVERIFY(run_search(*planted_, "", ids_, c, null_progress()).ranking.front().importance !=
                    run_search(*planted_, "", ids_, t, null_progress()).ranking.front().importance);
        }
        // Bad files.
        const std::string good = scratch("noise_counter.npy");
        const std::string bytes = [&] { std::ifstream in(good, std::ios::binary); return std::string(std::istreambuf_iterator<char>(in), {}); }();
        auto expect = [&](const std::string& name, const std::string& contents, int samples, const char* field,
                          const char* words) {
            const std::string p = scratch(name);
            { std::ofstream out(p, std::ios::binary); out << contents; }
            SearchOptions b = o;
            b.samples = samples;
            b.noise_file = p;
            try {
                run_search(*planted_, "", ids_, b, null_progress());
                QFAIL(qPrintable(QString::fromStdString(name + ": no error")));
            } catch (const Error& e) {
                const std::string m = e.what();
                QVERIFY2(m.find(p) != std::string::npos && m.find(std::string("'") + field + "'") != std::string::npos &&
                             m.find(words) != std::string::npos,
                         (name + ": " + m).c_str());
            }
        };
        expect("k_mismatch.npy", bytes, 6, "shape", "K (samples) is 6, the file has 5");
        std::vector<int> longer = ids_;
        longer.push_back(7);
        {
            SearchOptions b = o;
            b.noise_file = good;
            try {
                run_search(*planted_, "", longer, b, null_progress());
                QFAIL("T mismatch: no error");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find("T (tokens of the probe, BOS included) is 13") != std::string::npos, e.what());
            }
        }
        expect("truncated.npy", bytes.substr(0, bytes.size() - 8), 5, "shape", "truncated");
        expect("not_npy.npy", "PK\x03\x04 a zip file", 5, "magic", "not a NumPy");
        std::string f16 = bytes;
        f16.replace(f16.find("<f8"), 3, "<f2");
        expect("f16.npy", f16, 5, "descr", "not supported");
        std::string fortran = bytes;
        fortran.replace(fortran.find("False"), 5, "True ");
        expect("fortran.npy", fortran, 5, "fortran_order", "C-order");
        expect("two_d.npy", with_shape(bytes, "(5, 12, 32)", "(60, 32)"), 5, "shape", "3 dimensions");
        expect("huge.npy", with_shape(bytes, "(5, 12, 32)", "(99999999999999999999, 1)"), 5, "shape", "out of range");
        expect("lying.npy", with_shape(bytes, "(5, 12, 32)", "(500000, 12, 32)"), 5, "shape", "truncated");
        SearchOptions missing = o;
        missing.noise_file = scratch("no_such.npy");
        QVERIFY_THROWS_EXCEPTION(Error, run_search(*planted_, "", ids_, missing, null_progress()));
    }

    void badParameters() {
        auto expect = [&](SearchOptions o, std::vector<int> ids, const char* word) {
            try {
                run_search(*planted_, "", ids, o, null_progress());
                QFAIL("no error");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find(word) != std::string::npos, e.what());
            }
        };
        SearchOptions o;
        o.samples = 2;
        SearchOptions a = o; a.alpha = 0; expect(a, ids_, "alpha");
        SearchOptions k = o; k.samples = 0; expect(k, ids_, "samples");
        SearchOptions e = o; e.epsilon = -1; expect(e, ids_, "epsilon");
        SearchOptions s = o; s.top = 5; s.step = 10; expect(s, ids_, "step");
        expect(o, {1}, "2 tokens");
        expect(o, {1, 999}, "vocabulary");
    }

    void datasetTexts() {
        const std::string wiki = write_temp("wiki.raw",
            " \n = Valkyria Chronicles III = \n \n"
            " Senjou no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@ playing video game .\n"
            " short line\n"
            " = = Gameplay = = \n"
            " As with previous Valkyira Chronicles games , Valkyria Chronicles III is a tactical game .\n");
        auto w = load_dataset_texts(wiki, 0);
        QCOMPARE(w.size(), size_t(2));
        QVERIFY(w[0].rfind("Senjou", 0) == 0);
        QCOMPARE(load_dataset_texts(wiki, 1).size(), size_t(1));
        const std::string plain = write_temp("plain.txt", "Once upon a time.\nThe end.\n\n\nAnother story\nhere.\n");
        auto p = load_dataset_texts(plain, 0);
        QCOMPARE(p.size(), size_t(2));
        QCOMPARE(p[0], std::string("Once upon a time.\nThe end."));
        const std::string jl = write_temp("d.jsonl", "{\"text\": \"a b c\"}\n\n{\"text\": \"d e\"}\n");
        auto j = load_dataset_texts(jl, 0);
        QCOMPARE(j.size(), size_t(2));
        QCOMPARE(j[1], std::string("d e"));
        const std::string bad = write_temp("bad.jsonl", "{\"text\": \"ok\"}\n{\"txt\": 3}\n");
        try {
            load_dataset_texts(bad, 0);
            QFAIL("no error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("bad.jsonl:2") != std::string::npos, e.what());
        }
        QVERIFY_EXCEPTION_THROWN(load_dataset_texts(write_temp("garbage.jsonl", "{not json\n"), 0), Error);
        QVERIFY_EXCEPTION_THROWN(load_dataset_texts(write_temp("empty.txt", "\n\n"), 0), Error);
        QVERIFY_EXCEPTION_THROWN(load_dataset_texts("/nonexistent/file.txt", 0), Error);
    }

    void stories260K() {
        const std::string dir = test::shared_path("models/stories260K");
        const std::string text_file = test::shared_path("text/tinystories-valid-head.txt");
        if (dir.empty() || text_file.empty()) QSKIP("../shared/models/stories260K is absent");
        LoadOptions lo;
        lo.path = dir;
        auto eng = Engine::load(lo, null_progress());
        auto texts = load_dataset_texts(text_file, 3);
        QCOMPARE(texts.size(), size_t(3));
        // Dataset perplexity = token-weighted mean over samples of Engine::perplexity.
        double sum = 0;
        int scored = 0, tokens = 0;
        for (const auto& t : texts) {
            auto ids = eng->encode_for_ppl(t, 512);
            PplResult pr = eng->perplexity(ids, {}, null_progress());
            for (double v : pr.nll) sum += v;
            scored += static_cast<int>(pr.nll.size());
            tokens += static_cast<int>(ids.size());
        }
        DatasetPpl d = dataset_perplexity(*eng, texts, {}, 512, null_progress());
        QCOMPARE(d.samples, 3);
        QCOMPARE(d.tokens, tokens);
        QVERIFY2(rel(d.ppl, std::exp(sum / scored)) < 1e-6, qPrintable(QString("%1 vs %2").arg(d.ppl, 0, 'g', 12).arg(std::exp(sum / scored), 0, 'g', 12)));
        // A small search on a TinyStories paragraph runs end to end with every option.
        SearchOptions o;
        o.samples = 8;
        o.minimize = true;
        o.top = 20000;
        auto ids = eng->encode_for_ppl(texts[0], 512);
        SearchResult r = run_search(*eng, texts[0], ids, o, null_progress());
        QVERIFY(r.ppl_orig > 1 && r.ppl_orig < 100);
        // widths q 64, k 32, v 32, o 64, gate/up/act 172, down 64, post-norm 64 over 5 layers
        QCOMPARE(r.total_entries, int64_t(ids.size()) * 5 * (64 + 32 + 32 + 64 + 3 * 172 + 64 + 64));
        QVERIFY(!r.curve.empty());
        qInfo("stories260K: ppl %.3f, faithful %d neurons (n=%d, delta %.3f, reached %d), minimal %d, %d forwards vs %d literal",
              r.ppl_orig, int(r.faithful.neurons.size()), r.faithful.n, r.faithful.delta, int(r.faithful.reached),
              r.minimal ? int(r.minimal->neurons.size()) : -1, r.forwards_linear, r.forwards_literal);
    }
};

QTEST_APPLESS_MAIN(TestSearch)
#include "test_search.moc"
