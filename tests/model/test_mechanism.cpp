// SPDX-License-Identifier: GPL-3.0-or-later
// The mechanism paths against the model's own forward: the explicit-probabilities attention
// equals the fused one on every family, ablation modes reduce to zero / clean where they must,
// calibrated statistics are the clean values' mean and quantiles, a weight edit changes the
// output and leaves the model's (read-only, mapped) weights as they were, the logit lens' last layer is the model's own prediction, the
// sink masses are the recorded patterns' first column, and traced contributions add up to the
// neuron's value. (The planted-mechanism goldens, and a weight edit against the float64 model with the weight
// really changed, are in tests/reference/check_mechanism.py.)
#include "achilles/error.h"
#include "achilles/mechanism.h"
#include "model_test_util.h"
#include <QtTest>
#include <c10/core/InferenceMode.h>
#include <cmath>

using namespace achilles;
using namespace achilles::test;

namespace {

std::unique_ptr<Engine> load_dir(const std::string& dir) {
    LoadOptions o;
    o.path = dir;
    o.device = test_device();
    return Engine::load(o, null_progress());
}

double ppl(const Engine& e, const std::vector<int>& ids, const MaskSpec& m) { return e.perplexity(ids, m, null_progress()).ppl; }

MaskEntry entry(int layer, Module m, int ch, Ablation mode = Ablation::zero, double factor = 1, double pct = 0) {
    MaskEntry e;
    e.neuron = {layer, m, ch};
    e.mode = mode;
    e.factor = factor;
    e.percentile = pct;
    return e;
}

// The clean values of one channel at its site over the ids' positions.
std::vector<double> clean_values(const Engine& e, const std::vector<int>& ids, int layer, Module mod, int ch) {
    const Transformer& model = EngineAccess::model(e);
    std::vector<double> v;
    Hooks rec;
    rec.site = [&](int l, Module m, at::Tensor& out) {
        if (l != layer || m != mod) return;
        at::Tensor c = out.select(-1, ch).reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
        v.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    };
    c10::InferenceMode guard;
    model.forward(achilles::ids_tensor(model, ids), &rec);
    return v;
}

}  // namespace

class TestMechanism : public QObject {
    Q_OBJECT
private slots:
    void explicit_attention_equals_fused_data() {
        QTest::addColumn<QString>("name");
        for (const auto& n : fixture_names()) QTest::newRow(n.c_str()) << QString::fromStdString(n);
    }
    void explicit_attention_equals_fused() {
        QFETCH(QString, name);
        auto g = load_golden(name.toStdString());
        auto e = load_fixture(name.toStdString());
        const Transformer& model = EngineAccess::model(*e);
        c10::InferenceMode guard;
        at::Tensor ids = test::ids_tensor(g["ids"]).to(model.device());
        at::Tensor fast = model.forward(ids);
        int layers_seen = 0;
        double worst_row = 0;
        Hooks h;
        h.attention_probs = [&](int, const at::Tensor& p) {
            ++layers_seen;
            QCOMPARE(p.dim(), int64_t(4));
            QCOMPARE(p.size(2), ids.size(1));
            worst_row = std::max(worst_row, (p.to(at::kDouble).sum(-1) - 1).abs().max().item<double>());
        };
        at::Tensor slow = model.forward(ids, &h);
        QCOMPARE(layers_seen, e->info().layers);
        QVERIFY2(worst_row < 1e-5, qPrintable(QString("a probability row sums to 1 +- %1").arg(worst_row)));
        const double tol = e->info().dtype == "f32" ? 2e-5 : 2e-2;
        const double err = rel_err(slow, fast);
        QVERIFY2(err < tol, qPrintable(QString("explicit vs fused logits: rel err %1").arg(err)));
    }

    void ablation_modes_reduce_to_zero_and_clean() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> ids = ids_row(g["ids"], 0);
        const double clean = ppl(*e, ids, {});
        const double zero = ppl(*e, ids, {entry(1, Module::down_proj, 3)});
        QVERIFY(zero != clean);
        // scale 0 zeroes, scale 1 leaves it; both exactly (same values reach the same forward)
        QCOMPARE(ppl(*e, ids, {entry(1, Module::down_proj, 3, Ablation::scale, 0.0)}), zero);
        QCOMPARE(ppl(*e, ids, {entry(1, Module::down_proj, 3, Ablation::scale, 1.0)}), clean);
        const double twice = ppl(*e, ids, {entry(1, Module::down_proj, 3, Ablation::scale, 2.0)});
        QVERIFY(twice != clean && twice != zero);
        // clamp to the 100th percentile range is the identity
        QCOMPARE(ppl(*e, ids, {entry(1, Module::down_proj, 3, Ablation::clamp, 1, 100)}), clean);
        // a zero entry at every position gives the same as the old explicit-zero path with positions listed
        MaskEntry all = entry(0, Module::act_fn, 5);
        for (int p = 0; p < int(ids.size()); ++p) all.positions.push_back(p);
        QCOMPARE(ppl(*e, ids, {all}), ppl(*e, ids, {entry(0, Module::act_fn, 5)}));
    }

    void calibrated_statistics_are_the_clean_values() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> ids = ids_row(g["ids"], 0), other = ids_row(g["ids"], 1);
        std::vector<double> v = clean_values(*e, ids, 1, Module::down_proj, 7);
        QCOMPARE(v.size(), ids.size());
        double mean = 0;
        for (double x : v) mean += x;
        mean /= double(v.size());
        std::sort(v.begin(), v.end());
        auto q = [&](double p) {  // numpy linear
            const double pos = p * double(v.size() - 1);
            const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
            return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
        };
        MaskSpec m = e->calibrate(ids, {entry(1, Module::down_proj, 7, Ablation::mean), entry(1, Module::down_proj, 7, Ablation::clamp, 1, 90)},
                                  null_progress());
        QVERIFY(m[0].lo && m[0].hi);
        QVERIFY(std::abs(*m[0].lo - mean) <= 1e-6 * std::max(1.0, std::abs(mean)));
        QCOMPARE(*m[0].hi, *m[0].lo);
        QVERIFY(std::abs(*m[1].lo - q(0.1)) <= 1e-6 && std::abs(*m[1].hi - q(0.9)) <= 1e-6);
        QVERIFY(*m[1].lo < *m[1].hi);
        // uncalibrated mean = mean calibrated on the same ids; calibrated on other ids differs
        MaskSpec mean_only = {entry(1, Module::down_proj, 7, Ablation::mean)};
        const double on_self = ppl(*e, ids, mean_only);
        QCOMPARE(ppl(*e, ids, e->calibrate(ids, mean_only, null_progress())), on_self);
        QVERIFY(ppl(*e, ids, e->calibrate(other, mean_only, null_progress())) != on_self);
        // the statistics survive the JSON form
        const MaskSpec back = parse_mask_spec(mask_spec_to_json(m));
        QCOMPARE(back.size(), m.size());
        QCOMPARE(*back[0].lo, *m[0].lo);
        QCOMPARE(*back[1].hi, *m[1].hi);
        QCOMPARE(back[1].percentile, 90.0);
        // generation under a mean ablation calibrates on the prompt and runs
        GenerateOptions go;
        go.max_new = 3;
        go.stop_at_eos = false;
        QCOMPARE(int(e->generate(ids, go, mean_only, null_progress()).steps.size()), 3);
    }

    void calibration_pools_a_dataset_sample() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> a = ids_row(g["ids"], 0), b = ids_row(g["ids"], 1);
        // the pooled values: every position of both samples, each from its own clean forward
        std::vector<double> va = clean_values(*e, a, 1, Module::down_proj, 7), vb = clean_values(*e, b, 1, Module::down_proj, 7);
        double sa = 0, sb = 0;
        for (double x : va) sa += x;
        for (double x : vb) sb += x;
        const double pooled_mean = (sa + sb) / double(va.size() + vb.size());
        std::vector<double> v = va;
        v.insert(v.end(), vb.begin(), vb.end());
        std::sort(v.begin(), v.end());
        auto q = [&](double p) {  // numpy linear
            const double pos = p * double(v.size() - 1);
            const size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
            return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
        };
        const MaskSpec want = {entry(1, Module::down_proj, 7, Ablation::mean), entry(1, Module::down_proj, 7, Ablation::clamp, 1, 80)};
        const MaskSpec m = e->calibrate(std::vector<std::vector<int>>{a, b}, want, null_progress());
        QVERIFY(m[0].lo && m[1].lo && m[1].hi);
        QVERIFY2(std::abs(*m[0].lo - pooled_mean) <= 1e-6 * std::max(1.0, std::abs(pooled_mean)),
                 qPrintable(QString("pooled mean %1 vs %2").arg(*m[0].lo).arg(pooled_mean)));
        QVERIFY(std::abs(*m[1].lo - q(0.2)) <= 1e-6 && std::abs(*m[1].hi - q(0.8)) <= 1e-6);
        // not the mean of either sample alone (the fixture's two rows differ at this channel)
        const MaskSpec ma = e->calibrate(a, want, null_progress()), mb = e->calibrate(b, want, null_progress());
        QVERIFY(*ma[0].lo != *m[0].lo && *mb[0].lo != *m[0].lo);
        // one sample pooled = that sample
        const MaskSpec one = e->calibrate(std::vector<std::vector<int>>{a}, want, null_progress());
        QCOMPARE(*one[0].lo, *ma[0].lo);
        QCOMPARE(*one[1].hi, *ma[1].hi);
        // progress per sample, cancellation between samples, no samples is an error
        std::vector<double> fractions;
        Progress p([&](std::string_view stage, double f, std::string_view) {
            if (stage == "calibrate") fractions.push_back(f);
        });
        e->calibrate(std::vector<std::vector<int>>{a, b, a}, want, p);
        QCOMPARE(int(fractions.size()), 3);
        QCOMPARE(fractions.back(), 1.0);
        Progress cancelled;
        cancelled.cancel();
        QVERIFY_THROWS_EXCEPTION(Cancelled, e->calibrate(std::vector<std::vector<int>>{a, b}, want, cancelled));
        QVERIFY_THROWS_EXCEPTION(Error, e->calibrate(std::vector<std::vector<int>>{}, want, null_progress()));
    }

    void weight_edit_changes_output_and_leaves_the_weights() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> ids = ids_row(g["ids"], 0);
        const Transformer& model = EngineAccess::model(*e);
        at::Tensor before = model.linear_weight(1, Module::down_proj).clone();
        const double clean = ppl(*e, ids, {});
        const double edited = e->perplexity(ids, {}, {WeightEdit{1, Module::down_proj, 3, 10, 0.0}}, null_progress()).ppl;
        QVERIFY(edited != clean);
        QVERIFY(at::equal(model.linear_weight(1, Module::down_proj), before));
        QCOMPARE(ppl(*e, ids, {}), clean);
        QCOMPARE(e->perplexity(ids, {}, {WeightEdit{1, Module::down_proj, 3, 10, 1.0}}, null_progress()).ppl, clean);
        QVERIFY(at::equal(model.linear_weight(1, Module::down_proj), before));
        // an edit on every kind of linear changes the output; an edit of factor 1 does not
        for (Module m : {Module::q_proj, Module::k_proj, Module::v_proj, Module::o_proj, Module::gate_proj, Module::up_proj}) {
            QVERIFY2(e->perplexity(ids, {}, {WeightEdit{1, m, 1, 2, 4.0}}, null_progress()).ppl != clean,
                     module_name(m).data());
        }
        // out of range: an error naming the column, and nothing changed
        bool threw = false;
        try {
            e->perplexity(ids, {}, {WeightEdit{1, Module::down_proj, 3, 10, 0.0}, WeightEdit{1, Module::down_proj, 3, 9999, 0.0}},
                          null_progress());
        } catch (const Error& err) {
            threw = std::string(err.what()).find("col") != std::string::npos;
        }
        QVERIFY(threw);
        QVERIFY(at::equal(model.linear_weight(1, Module::down_proj), before));
    }

    void lens_last_layer_is_the_models_prediction() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> ids = ids_row(g["ids"], 0);
        const PplResult clean = e->perplexity(ids, {}, null_progress());
        for (int pos : {0, 4, int(ids.size()) - 2}) {
            LensReport r = logit_lens(*e, ids, {}, pos, 5, null_progress());
            QCOMPARE(int(r.clean.layers.size()), e->info().layers);
            const LensLayer& last = r.clean.layers.back();
            QCOMPARE(r.true_next, ids[size_t(pos + 1)]);
            QVERIFY2(std::abs(last.true_prob - std::exp(-clean.nll[size_t(pos)])) < 1e-5,
                     qPrintable(QString("lens p %1 vs model %2").arg(last.true_prob).arg(std::exp(-clean.nll[size_t(pos)]))));
            QCOMPARE(r.clean.true_rank_all.back()[size_t(pos)], last.true_rank);
            for (size_t i = 1; i < last.top.size(); ++i) QVERIFY(last.top[i - 1].prob >= last.top[i].prob);
            QVERIFY(last.true_rank >= 1 && last.true_rank <= e->info().vocab);
        }
        // masked: a strong mask changes the lens
        LensReport m = logit_lens(*e, ids, {entry(0, Module::down_proj, 1), entry(0, Module::down_proj, 2), entry(1, Module::o_proj, 4)}, -1, 3,
                                  null_progress());
        QVERIFY(m.masked.has_value());
        QVERIFY(m.masked->layers.back().true_prob != m.clean.layers.back().true_prob);
        bool threw = false;
        try {
            logit_lens(*e, ids, {}, int(ids.size()) - 1, 5, null_progress());
        } catch (const Error&) {
            threw = true;
        }
        QVERIFY(threw);
    }

    void sink_mass_is_the_patterns_first_column() {
        auto g = load_golden("llama3");
        auto e = load_fixture("llama3");
        const std::vector<int> ids = ids_row(g["ids"], 0);
        const int T = int(ids.size());
        SinkReport r = attention_sinks(*e, ids, {entry(0, Module::down_proj, 1)}, std::make_pair(1, 2), null_progress());
        QCOMPARE(int(r.clean_mass.size()), e->info().layers);
        QCOMPARE(int(r.clean_pattern.size()), T);
        double col = 0;
        for (int t = 1; t < T; ++t) col += r.clean_pattern[size_t(t)][0];
        QVERIFY(std::abs(col / (T - 1) - r.clean_mass[1][2]) < 1e-9);
        for (int t = 0; t < T; ++t) {
            double s = 0;
            for (int k = 0; k < T; ++k) {
                s += r.clean_pattern[size_t(t)][size_t(k)];
                if (k > t) QCOMPARE(r.clean_pattern[size_t(t)][size_t(k)], 0.0);  // causal
            }
            QVERIFY(std::abs(s - 1) < 1e-5);
        }
        QCOMPARE(r.clean_pattern[0][0], 1.0);
        QVERIFY(r.masked_mass[1] != r.clean_mass[1]);   // layer 1 sees the layer-0 mask
        QCOMPARE(r.masked_mass[0], r.clean_mass[0]);    // layer 0's attention comes before its down_proj
    }

    void trace_contributions_add_up_to_the_value() {
        // search/plain has no down_proj bias: the value is exactly the sum of W[c, j] x_j.
        auto e = load_dir(tests_dir() + "/fixtures/search/plain");
        std::vector<int> ids;
        for (int i = 0; i < 12; ++i) ids.push_back((7 * i + 1) % e->info().vocab);
        const int I = e->info().intermediate;
        TraceReport r = trace_super_weights(*e, ids, Neuron{1, Module::down_proj, 2}, -1, I, 0.0, null_progress());
        QCOMPARE(int(r.weights.size()), I);
        double sum = 0;
        for (const auto& w : r.weights) sum += w.contribution;
        QVERIFY2(std::abs(sum - r.value) <= 1e-4 * std::max(1.0, std::abs(r.value)),
                 qPrintable(QString("sum %1 vs value %2").arg(sum).arg(r.value)));
        for (size_t i = 1; i < r.weights.size(); ++i)
            QVERIFY(std::abs(r.weights[i - 1].contribution) >= std::abs(r.weights[i].contribution));
        // the default token is where |value| is largest: tracing there again gives the same value
        TraceReport again = trace_super_weights(*e, ids, Neuron{1, Module::down_proj, 2}, r.token, 3, 0.0, null_progress());
        QCOMPARE(again.value, r.value);
        QCOMPARE(again.weights[0].col, r.weights[0].col);
        QVERIFY(r.ppl_weight != r.ppl_clean);
        QCOMPARE(r.ppl_channel, ppl(*e, ids, {entry(1, Module::down_proj, 2)}));
        QCOMPARE(r.ppl_weight, e->perplexity(ids, {}, {WeightEdit{1, Module::down_proj, 2, r.weights[0].col, 0.0}}, null_progress()).ppl);
        // act_fn: gate_proj's row
        TraceReport a = trace_super_weights(*e, ids, Neuron{0, Module::act_fn, 4}, 3, 5, 0.5, null_progress());
        QCOMPARE(a.matrix, Module::gate_proj);
        QCOMPARE(a.token, 3);
        QCOMPARE(int(a.weights.size()), 5);
    }

    void massive_finds_nothing_on_a_plain_model() {
        auto e = load_dir(tests_dir() + "/fixtures/search/plain");
        std::vector<int> ids;
        for (int i = 0; i < 10; ++i) ids.push_back((5 * i + 1) % e->info().vocab);
        MassiveReport r = massive_activations(*e, ids, {}, MassiveOptions{}, {}, null_progress());
        QVERIFY(r.hits.empty());
        QVERIFY2(r.summary.rfind("No massive activations", 0) == 0, r.summary.c_str());
        QCOMPARE(int(r.sites.size()), kNumMassiveSites);
        for (const auto& site : r.sites) {
            QCOMPARE(int(site.size()), e->info().layers);
            for (const auto& L : site) {
                QCOMPARE(int(L.top.size()), 3);
                QVERIFY(std::abs(L.top[0].value) >= std::abs(L.top[1].value));
                QCOMPARE(int(L.token_max_abs.size()), int(ids.size()));
                QVERIFY(L.median_abs > 0 && L.median_abs <= std::abs(L.top[0].value));
            }
        }
        // a rule loose enough finds entries, each of which meets it
        MassiveOptions loose;
        loose.abs_threshold = 0;
        loose.ratio = 2;
        MassiveReport l = massive_activations(*e, ids, {}, loose, {Neuron{0, Module::down_proj, 0}}, null_progress());
        QVERIFY(!l.hits.empty());
        for (const auto& h : l.hits) {
            QVERIFY(h.ratio > 2);
            QVERIFY(h.persist_first <= h.layer && h.layer <= h.persist_last);
        }
    }
    // The masked run beside the clean one on the planted fixture: zeroing L1 down_proj ch 21
    // removes the token-0 spike of the residual stream in every layer >= 1, leaves what is
    // upstream of the mask (layer 0, down_proj's input in layer 1) as it was, and the clean
    // side is the clean-only run's.
    void massive_masked_run_removes_the_planted_spike() {
        auto e = load_dir(tests_dir() + "/fixtures/mechanism");
        const std::vector<int> ids = {1, 17, 42, 9, 33, 5, 60, 21, 8, 50, 12, 3, 27, 44, 6, 38, 19, 55, 30, 14, 61, 7, 25, 48};
        const MaskSpec mask = {entry(1, Module::down_proj, 21)};
        const std::vector<Neuron> crit = {Neuron{1, Module::down_proj, 21}};
        MassiveReport clean = massive_activations(*e, ids, {}, MassiveOptions{}, crit, null_progress());
        MassiveReport r = massive_activations(*e, ids, mask, MassiveOptions{}, crit, null_progress());
        QVERIFY(!clean.masked.has_value());
        QVERIFY(r.masked.has_value());
        const int nl = e->info().layers;
        QCOMPARE(int(r.masked->sites.size()), kNumMassiveSites);
        // the clean side is unchanged by the mask
        QCOMPARE(r.hits.size(), clean.hits.size());
        for (int s = 0; s < kNumMassiveSites; ++s)
            for (int l = 0; l < nl; ++l)
                QCOMPARE(r.sites[size_t(s)][size_t(l)].token_max_abs, clean.sites[size_t(s)][size_t(l)].token_max_abs);
        // the planted spike: clean residual ch 21 at token 0 is massive in layers 1..3
        int clean_residual = 0;
        for (const auto& h : r.hits) {
            QVERIFY(std::isfinite(h.masked_value));
            if (h.site == MassiveSite::residual) {
                ++clean_residual;
                QCOMPARE(h.token, 0);
                QCOMPARE(h.channel, 21);
                QVERIFY2(std::abs(h.masked_value) < 100, std::to_string(h.masked_value).c_str());
            }
            if (h.site == MassiveSite::down_proj) {
                QCOMPARE(h.layer, 1);
                QCOMPARE(h.masked_value, 0.0);  // zeroed exactly
                QVERIFY(h.critical);
            }
            if (h.site == MassiveSite::down_proj_input) QCOMPARE(h.masked_value, h.value);  // upstream of the mask
        }
        QCOMPARE(clean_residual, nl - 1);
        for (int l = 1; l < nl; ++l) {
            const double c0 = r.sites[0][size_t(l)].token_max_abs[0], m0 = r.masked->sites[0][size_t(l)].token_max_abs[0];
            QVERIFY2(c0 > 100 && m0 < 100 && m0 * 10 < c0,
                     ("L" + std::to_string(l) + " clean " + std::to_string(c0) + " masked " + std::to_string(m0)).c_str());
        }
        // layer 0 runs before the mask: identical
        QCOMPARE(r.masked->sites[0][0].token_max_abs, r.sites[0][0].token_max_abs);
        // under the mask only down_proj's input in layer 1 (ch 37, token 0) is still massive
        QCOMPARE(int(r.masked->hits.size()), 1);
        QCOMPARE(int(r.masked->hits[0].site), int(MassiveSite::down_proj_input));
        QCOMPARE(r.masked->hits[0].layer, 1);
        QCOMPARE(r.masked->hits[0].token, 0);
        QCOMPARE(r.masked->hits[0].channel, 37);
        QVERIFY2(r.masked->summary.rfind("Masked (", 0) == 0, r.masked->summary.c_str());
        QVERIFY2(r.summary.find("Under the mask that entry is 0; 1 entry meets the rule.") != std::string::npos, r.summary.c_str());
        // the JSON carries both sides, and a clean run has no masked block
        const std::string js = massive_to_json(r), jc = massive_to_json(clean);
        QVERIFY(js.find("\"masked\"") != std::string::npos && js.find("\"masked_value\"") != std::string::npos);
        QVERIFY(jc.find("\"masked\"") == std::string::npos && jc.find("masked_value") == std::string::npos);
        QCOMPARE(massive_to_json(massive_activations(*e, ids, mask, MassiveOptions{}, crit, null_progress())), js);
    }
};

QTEST_GUILESS_MAIN(TestMechanism)
#include "test_mechanism.moc"
