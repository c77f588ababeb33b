// SPDX-License-Identifier: GPL-3.0-or-later
// Forward parity of every family against the independent float64 reference (tests/reference),
// hook sites, masks, batching, autograd through the in-memory constructor, and bad checkpoints.
#include "achilles/checkpoint.h"
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "model_test_util.h"
#include <QtTest>
#include <c10/core/InferenceMode.h>
#include <filesystem>
#include <torch/version.h>

using namespace achilles;
using namespace achilles::test;
namespace fs = std::filesystem;

namespace {

// fp32 compute agrees with the float64 reference to 1e-4 relative. Half-precision compute
// (bf16/f16 requested, or "auto" on CUDA for half checkpoints) is checked loosely: bf16 keeps
// ~3 significant digits, so logits are within 3e-2 and perplexities within 5e-2 relative.
double logit_tol(const Engine& e) { return e.info().dtype == "f32" ? 1e-4 : 3e-2; }
double ppl_tol(const Engine& e) { return e.info().dtype == "f32" ? 1e-4 : 5e-2; }

std::string scratch_copy(const std::string& fixture, const std::string& tag) {
    fs::path dst = fs::path(build_scratch()) / ("model-" + tag);
    fs::remove_all(dst);
    fs::create_directories(dst);
    for (const auto& e : fs::directory_iterator(fixture_dir(fixture)))
        if (e.path().filename() != "golden.json") fs::copy_file(e.path(), dst / e.path().filename());
    return dst.string();
}

// Rewrites model.safetensors of a folder with `edit` applied to the tensor list.
void rewrite(const std::string& dir, const std::function<void(std::vector<TensorData>&)>& edit) {
    std::vector<TensorData> out;
    {
        auto f = SafetensorsFile::open(dir + "/model.safetensors");
        for (const auto& [name, v] : f->tensors()) {
            TensorData t{name, v.dtype, v.shape, {}};
            t.bytes.assign(v.data, v.data + v.nbytes);
            out.push_back(std::move(t));
        }
    }
    edit(out);
    write_safetensors(dir + "/model.safetensors", out);
}

void replace_in_file(const std::string& path, const std::string& from, const std::string& to) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    auto p = s.find(from);
    QVERIFY2(p != std::string::npos, from.c_str());
    s.replace(p, from.size(), to);
    std::ofstream(path, std::ios::trunc) << s;
}

}  // namespace

class TestParity : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { qInfo("device under test: %s", test_device().c_str()); }

    void logits_data() {
        QTest::addColumn<QString>("name");
        for (const auto& n : fixture_names()) QTest::newRow(n.c_str()) << QString::fromStdString(n);
    }
    void logits() {
        QFETCH(QString, name);
        const std::string n = name.toStdString();
        auto g = load_golden(n);
        auto e = load_fixture(n);
        c10::InferenceMode guard;
        at::Tensor ids = ids_tensor(g["ids"]);
        at::Tensor logits = EngineAccess::model(*e).forward(ids);  // batched [2, T]
        QCOMPARE(logits.scalar_type(), at::kFloat);
        QCOMPARE(logits.dim(), 3);
        at::Tensor ref = golden_tensor(g["logits"]);
        QCOMPARE(logits.size(0), ref.size(0));
        QCOMPARE(logits.size(1), ref.size(1));
        QCOMPARE(logits.size(2), ref.size(2));
        const double err = rel_err(logits, ref);
        qInfo("%s: logits max rel err %.3g (compute %s)", qPrintable(name), err, e->info().dtype.c_str());
        QVERIFY2(err <= logit_tol(*e), qPrintable(QString("%1: logits rel err %2").arg(name).arg(err)));
        // Each sequence alone gives the same logits as in the batch.
        at::Tensor one = EngineAccess::model(*e).forward(ids.narrow(0, 1, 1));
        QVERIFY(rel_err(one[0], logits[1]) <= 1e-5);
    }

    void perplexity_data() { logits_data(); }
    void perplexity() {
        QFETCH(QString, name);
        const std::string n = name.toStdString();
        auto g = load_golden(n);
        auto e = load_fixture(n);
        const std::vector<int> ids = ids_row(g["ids"], 0);
        PplResult r = e->perplexity(ids, {}, null_progress());
        QCOMPARE(r.tokens, int(ids.size()));
        QCOMPARE(r.nll.size(), ids.size() - 1);
        const double tol = ppl_tol(*e);
        for (size_t i = 0; i < r.nll.size(); ++i) {
            const double ref = g["nll"][i].get<double>();
            QVERIFY2(std::abs(r.nll[i] - ref) <= tol * std::max(1.0, std::abs(ref)),
                     qPrintable(QString("%1 nll[%2] %3 vs %4").arg(name).arg(i).arg(r.nll[i]).arg(ref)));
        }
        const double ref_ppl = g["ppl"].get<double>();
        QVERIFY2(std::abs(r.ppl - ref_ppl) <= tol * ref_ppl, qPrintable(QString("ppl %1 vs %2").arg(r.ppl).arg(ref_ppl)));

        // A 4-channel mask (all positions) and a position-limited mask, against the reference.
        PplResult m = e->perplexity(ids, mask_from(g["mask"]), null_progress());
        const double ref_m = g["mask_ppl"].get<double>();
        QVERIFY2(std::abs(m.ppl - ref_m) <= tol * ref_m, qPrintable(QString("mask ppl %1 vs %2").arg(m.ppl).arg(ref_m)));
        QVERIFY(std::abs(ref_m - ref_ppl) > 10 * tol * ref_ppl);  // the mask matters
        for (size_t i = 0; i < m.nll.size(); ++i)
            QVERIFY(std::abs(m.nll[i] - g["mask_nll"][i].get<double>()) <= tol * std::max(1.0, std::abs(m.nll[i])));
        PplResult pm = e->perplexity(ids, mask_from(g["pos_mask"]), null_progress());
        for (size_t i = 0; i < pm.nll.size(); ++i)
            QVERIFY2(std::abs(pm.nll[i] - g["pos_mask_nll"][i].get<double>()) <= tol * std::max(1.0, std::abs(pm.nll[i])),
                     qPrintable(QString("pos mask nll[%1] %2 vs %3").arg(i).arg(pm.nll[i]).arg(g["pos_mask_nll"][i].get<double>())));
        QVERIFY(pm.nll != r.nll);
    }

    void sites_data() { logits_data(); }
    void sites() {
        QFETCH(QString, name);
        const std::string n = name.toStdString();
        auto g = load_golden(n);
        auto e = load_fixture(n);
        c10::InferenceMode guard;
        std::map<std::pair<int, int>, at::Tensor> got;
        Hooks h;
        h.site = [&](int layer, Module m, at::Tensor& t) { got[{layer, int(m)}] = t.clone(); };
        int residual_calls = 0;
        h.residual = [&](int, at::Tensor&) { ++residual_calls; };
        EngineAccess::model(*e).forward(ids_tensor(g["ids"]).narrow(0, 0, 1), &h);
        QCOMPARE(residual_calls, e->info().layers);
        QCOMPARE(int(got.size()), e->info().layers * kNumModules);
        const ModelShape shape = e->info().shape;
        for (const auto& [key, t] : got) QCOMPARE(int(t.size(-1)), shape.module_width(Module(key.second)));
        for (const auto& s : g["sites"]) {
            auto mod = *module_from_name(s["module"].get<std::string>());
            at::Tensor ref = golden_tensor(s["values"]);
            at::Tensor mine = got.at({s["layer"].get<int>(), int(mod)})[0];
            QCOMPARE(mine.size(0), ref.size(0));
            QCOMPARE(mine.size(1), ref.size(1));
            const double err = rel_err(mine, ref);
            QVERIFY2(err <= logit_tol(*e), qPrintable(QString("%1 L%2.%3 rel err %4").arg(name)
                                                         .arg(s["layer"].get<int>()).arg(QString::fromStdString(s["module"].get<std::string>())).arg(err)));
        }
    }

    // Half-precision compute on request (CPU honours it too): loose agreement.
    void half_compute_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("dtype");
        QTest::newRow("llama_bf16/bf16") << "llama_bf16" << "bf16";
        QTest::newRow("llama_f16/f16") << "llama_f16" << "f16";
        QTest::newRow("qwen3/bf16") << "qwen3" << "bf16";
    }
    void half_compute() {
        QFETCH(QString, name);
        QFETCH(QString, dtype);
        auto g = load_golden(name.toStdString());
#if TORCH_VERSION_MAJOR < 2
        if (dtype == "f16" && test_device() == "cpu") {  // no half CPU matmul in libtorch 1.x: a clear error
            QVERIFY_THROWS_EXCEPTION(Error, load_fixture(name.toStdString(), dtype.toStdString()));
            return;
        }
#endif
        auto e = load_fixture(name.toStdString(), dtype.toStdString());
        QCOMPARE(QString::fromStdString(e->info().dtype), dtype);
        PplResult r = e->perplexity(ids_row(g["ids"], 0), {}, null_progress());
        const double ref = g["ppl"].get<double>();
        QVERIFY2(std::abs(r.ppl - ref) <= 5e-2 * ref, qPrintable(QString("ppl %1 vs %2").arg(r.ppl).arg(ref)));
    }

    void info_fields() {
        auto e = load_fixture("llama3");
        const ModelInfo& i = e->info();
        QCOMPARE(QString::fromStdString(i.model_type), QString("llama"));
        QCOMPARE(i.layers, 2);
        QCOMPARE(i.head_dim, 12);
        QCOMPARE(i.shape.module_width(Module::q_proj), 48);
        QCOMPARE(i.shape.module_width(Module::k_proj), 24);
        QCOMPARE(i.shape.module_width(Module::act_fn), 64);
        QCOMPARE(i.shape.module_width(Module::post_attention_layernorm), 32);
        QCOMPARE(QString::fromStdString(i.dtype), QString(test_device() == "cpu" ? "f32" : "f32"));
        // parameters: sum of the tensors' element counts in the checkpoint (untied head)
        auto ck = open_checkpoint(fixture_dir("llama3"));
        int64_t n = 0;
        for (const auto& [name, v] : ck.tensors) n += v.numel();
        QCOMPARE(i.parameters, n);
        QVERIFY(i.warnings.empty());
        QCOMPARE(i.bos_id, 1);
        QCOMPARE(i.eos_id, 2);
        QVERIFY(!i.has_tokenizer);
        QVERIFY_THROWS_EXCEPTION(Error, e->encode_for_ppl("hello"));
        // tied: embed counted once
        auto t = load_fixture("qwen3");
        auto ck2 = open_checkpoint(fixture_dir("qwen3"));
        int64_t n2 = 0;
        for (const auto& [name, v] : ck2.tensors) n2 += v.numel();
        QCOMPARE(t->info().parameters, n2);
    }

    // compose(): a mask then a recorder sees the zeroed channels; two hooks chain in order.
    void compose_hooks() {
        auto e = load_fixture("qwen3");
        auto g = load_golden("qwen3");
        c10::InferenceMode guard;
        at::Tensor rec;
        Hooks recorder;
        recorder.site = [&](int layer, Module m, at::Tensor& t) {
            if (layer == 1 && m == Module::act_fn) rec = t.clone();
        };
        int embeds = 0;
        recorder.embeddings = [&](at::Tensor&) { ++embeds; };
        MaskSpec mask{{Neuron{1, Module::act_fn, 5}, {}}, {Neuron{1, Module::act_fn, 9}, {2}}};
        Hooks both = compose(make_mask_hooks(mask), recorder);
        EngineAccess::model(*e).forward(ids_tensor(g["ids"]), &both);
        QCOMPARE(embeds, 1);
        QVERIFY(rec.defined());
        QCOMPARE(rec.select(-1, 5).abs().max().item<double>(), 0.0);
        QCOMPARE(rec[0][2][9].item<double>(), 0.0);
        QVERIFY(rec[0][3][9].item<double>() != 0.0);
        QVERIFY(rec.select(-1, 4).abs().max().item<double>() > 0.0);
        QVERIFY(make_mask_hooks({}).empty());
    }

    // Several devices in a list use the placement plan and hand activations over between layers.
    void placement_wiring() {
        LoadOptions o;
        o.path = fixture_dir("llama3");
        o.devices = {"cpu", "cpu"};
        auto e = Engine::load(o, null_progress());
        QCOMPARE(QString::fromStdString(e->info().device), QString("cpu:L0-0,cpu:L1-1"));
        auto g = load_golden("llama3");
        PplResult r = e->perplexity(ids_row(g["ids"], 0), {}, null_progress());
        QVERIFY(std::abs(r.ppl - g["ppl"].get<double>()) <= 1e-4 * r.ppl);
        o.devices = {"cpu", "cuda:7"};
        QVERIFY_THROWS_EXCEPTION(Error, Engine::load(o, null_progress()));
    }

    void default_model_dir_from_env() {
        const char* old = std::getenv("ACHILLES_DEFAULT_MODEL");
        const std::string keep = old ? old : "";
        qputenv("ACHILLES_DEFAULT_MODEL", QByteArray::fromStdString(fixture_dir("qwen2")));
        QCOMPARE(QString::fromStdString(default_model_dir()), QString::fromStdString(fixture_dir("qwen2")));
        LoadOptions o;
        o.path = "default";
        QCOMPARE(QString::fromStdString(Engine::load(o, null_progress())->info().model_type), QString("qwen2"));
        qputenv("ACHILLES_DEFAULT_MODEL", QByteArray::fromStdString(build_scratch() + "/no-model-here"));
        QVERIFY_THROWS_EXCEPTION(Error, default_model_dir());
        if (keep.empty()) qunsetenv("ACHILLES_DEFAULT_MODEL");
        else qputenv("ACHILLES_DEFAULT_MODEL", QByteArray::fromStdString(keep));
        QVERIFY(!libtorch_version().empty() && std::isdigit(static_cast<unsigned char>(libtorch_version()[0])));
    }

    void bad_inputs() {
        auto e = load_fixture("llama3");
        QVERIFY_THROWS_EXCEPTION(Error, e->perplexity({1}, {}, null_progress()));
        QVERIFY_THROWS_EXCEPTION(Error, e->perplexity({1, 64}, {}, null_progress()));
        QVERIFY_THROWS_EXCEPTION(Error, e->perplexity({1, -3}, {}, null_progress()));
        MaskSpec bad{{Neuron{5, Module::down_proj, 0}, {}}};
        QVERIFY_THROWS_EXCEPTION(Error, e->perplexity({1, 2, 3}, bad, null_progress()));
        MaskSpec bad2{{Neuron{0, Module::q_proj, 48}, {}}};
        QVERIFY_THROWS_EXCEPTION(Error, e->perplexity({1, 2, 3}, bad2, null_progress()));
        LoadOptions o;
        o.path = fixture_dir("llama3");
        o.dtype = "f8";
        QVERIFY_THROWS_EXCEPTION(Error, Engine::load(o, null_progress()));
        o.dtype = "auto";
        o.device = "tpu";
        QVERIFY_THROWS_EXCEPTION(Error, Engine::load(o, null_progress()));
        o.device = "cpu";
        o.path = build_scratch() + "/no-such-model";
        QVERIFY_THROWS_EXCEPTION(Error, Engine::load(o, null_progress()));
        // cancellation is its own outcome
        Progress p;
        p.cancel();
        o.path = fixture_dir("llama3");
        QVERIFY_THROWS_EXCEPTION(Cancelled, Engine::load(o, p));
    }

    void unknown_model_type() {
        const std::string d = scratch_copy("mistral", "unknown-type");
        replace_in_file(d + "/config.json", "\"model_type\": \"mistral\"", "\"model_type\": \"falcon\"");
        LoadOptions o;
        o.path = d;
        try {
            Engine::load(o, null_progress());
            QFAIL("no error");
        } catch (const Error& err) {
            const QString msg = err.what();
            QVERIFY2(msg.contains("model_type") && msg.contains("falcon"), qPrintable(msg));
        }
    }

    void missing_tensor() {
        const std::string d = scratch_copy("mistral", "missing");
        rewrite(d, [](std::vector<TensorData>& t) {
            std::erase_if(t, [](const TensorData& x) { return x.name == "model.layers.1.mlp.up_proj.weight"; });
        });
        LoadOptions o;
        o.path = d;
        try {
            Engine::load(o, null_progress());
            QFAIL("no error");
        } catch (const Error& err) {
            const QString msg = err.what();
            QVERIFY2(msg.contains("model.layers.1.mlp.up_proj.weight") && msg.contains("model.safetensors"), qPrintable(msg));
        }
    }

    void shape_mismatch() {
        const std::string d = scratch_copy("llama3", "shape");
        rewrite(d, [](std::vector<TensorData>& t) {
            for (auto& x : t)
                if (x.name == "model.layers.0.self_attn.k_proj.weight") {  // [24, 32] -> [32, 24]
                    x.shape = {32, 24};
                }
        });
        LoadOptions o;
        o.path = d;
        try {
            Engine::load(o, null_progress());
            QFAIL("no error");
        } catch (const Error& err) {
            const QString msg = err.what();
            QVERIFY2(msg.contains("model.layers.0.self_attn.k_proj.weight") && msg.contains("[32, 24]") &&
                         msg.contains("[24, 32]") && msg.contains("model.safetensors"),
                     qPrintable(msg));
        }
    }

    void unused_tensor_warns() {
        const std::string d = scratch_copy("mistral", "unused");
        rewrite(d, [](std::vector<TensorData>& t) {
            TensorData x{"model.layers.0.mlp.extra.weight", DType::F32, {2}, std::vector<std::byte>(8)};
            t.push_back(x);
        });
        LoadOptions o;
        o.path = d;
        auto e = Engine::load(o, null_progress());
        bool found = false;
        for (const auto& w : e->info().warnings) found |= w.find("model.layers.0.mlp.extra.weight") != std::string::npos;
        QVERIFY(found);
        // Still computes the same perplexity.
        auto g = load_golden("mistral");
        PplResult r = e->perplexity(ids_row(g["ids"], 0), {}, null_progress());
        QVERIFY(std::abs(r.ppl - g["ppl"].get<double>()) <= 1e-4 * r.ppl);
    }

    // Training path: in-memory tensors that require grad; gradients reach every weight.
    void autograd_data() { logits_data(); }
    void autograd() {
        QFETCH(QString, name);
        auto ck = open_checkpoint(fixture_dir(name.toStdString()));
        std::map<std::string, at::Tensor> w;
        for (const auto& [n, v] : ck.tensors) {
            at::Tensor t = at::empty(v.shape, at::TensorOptions().dtype(at::kFloat));
            at::ScalarType src = v.dtype == DType::F32 ? at::kFloat : v.dtype == DType::F16 ? at::kHalf : at::kBFloat16;
            at::Tensor raw = at::from_blob(const_cast<std::byte*>(v.data), v.shape, at::TensorOptions().dtype(src));
            t.copy_(raw);
            w[n] = t.requires_grad_(true);
        }
        Transformer model(ck.config, w);
        auto g = load_golden(name.toStdString());
        at::Tensor ids = ids_tensor(g["ids"]);
        MaskSpec mask = mask_from(g["mask"]);
        Hooks h = make_mask_hooks(mask);  // masks keep autograd working (no in-place writes)
        at::Tensor logits = model.forward(ids, &h);
        at::Tensor loss = at::cross_entropy_loss(logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, logits.size(2)}),
                                                 ids.narrow(1, 1, ids.size(1) - 1).reshape({-1}));
        QVERIFY(std::isfinite(loss.item<double>()));
        loss.backward();
        for (const auto& [n, t] : w) {
            QVERIFY2(t.grad().defined(), n.c_str());
            QVERIFY2(t.grad().abs().sum().item<double>() > 0, n.c_str());
        }
        // Same numbers as the inference path (mask applied).
        const double ppl = std::exp(loss.item<double>());
        QVERIFY(ppl > 1.0);
    }

    void zero_copy_f32_cpu() {
        if (test_device() != "cpu") QSKIP("zero-copy views are a CPU property");
        auto e = load_fixture("mistral");
        const auto& ck = EngineAccess::checkpoint(*e);
        // The embedding tensor of the model is the mapped bytes themselves.
        c10::InferenceMode guard;
        at::Tensor ids = at::tensor(std::vector<int64_t>{5}, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        at::Tensor emb = EngineAccess::model(*e).embed(ids);
        const auto& v = ck.tensors.at("model.embed_tokens.weight");
        const float* row = reinterpret_cast<const float*>(v.data) + 5 * v.shape[1];
        QCOMPARE(emb[0][0][0].item<float>(), row[0]);
        QCOMPARE(emb[0][0][31].item<float>(), row[31]);
    }
};

QTEST_APPLESS_MAIN(TestParity)
#include "test_parity.moc"
