// SPDX-License-Identifier: GPL-3.0-or-later
// Adding a model family through one descriptor: a family registered from this test (its own
// tensor names, config defaults and a q/k norm the checkpoint decides) loads a checkpoint and
// matches the float64 reference; config.layer_types drives the per-layer attention window.
#include "achilles/checkpoint.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "model/family.h"
#include "model_test_util.h"
#include <QtTest>
#include <c10/core/InferenceMode.h>
#include <filesystem>

using namespace achilles;
using namespace achilles::test;
namespace fs = std::filesystem;

namespace {

const char* kType = "achilles_test_renamed";

// Qwen3's structure under other tensor names, with different config defaults, and q/k norms
// that the checkpoint decides (present: Qwen3; absent: Llama-like attention).
FamilyDescriptor renamed_family() {
    FamilyDescriptor f;
    f.model_type = kType;
    f.defaults.kv_heads = 1;
    f.defaults.rms_norm_eps = 1e-5;
    f.defaults.tie = true;
    f.defaults.bos = {3};
    f.defaults.eos = {4, 5};
    f.names.embed = "net.tok_embeddings";
    f.names.final_norm = "net.norm_out";
    f.names.lm_head = "head";
    f.names.layer_prefix = "net.blocks.";
    f.names.input_norm = "attn_norm";
    f.names.post_attn_norm = "ffn_norm";
    f.names.q = "attn.wq";
    f.names.k = "attn.wk";
    f.names.v = "attn.wv";
    f.names.o = "attn.wo";
    f.names.q_norm = "attn.q_norm";
    f.names.k_norm = "attn.k_norm";
    f.names.gate = "ffn.w1";
    f.names.up = "ffn.w3";
    f.names.down = "ffn.w2";
    f.qk_norm = Presence::if_present;
    return f;
}

// HF (qwen3 / llama) name -> the renamed family's name.
std::string renamed(const std::string& hf) {
    static const std::vector<std::pair<std::string, std::string>> map = {
        {"model.embed_tokens", "net.tok_embeddings"}, {"model.norm", "net.norm_out"}, {"lm_head", "head"},
        {"model.layers.", "net.blocks."}, {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
        {"self_attn.q_proj", "attn.wq"}, {"self_attn.k_proj", "attn.wk"}, {"self_attn.v_proj", "attn.wv"},
        {"self_attn.o_proj", "attn.wo"}, {"self_attn.q_norm", "attn.q_norm"}, {"self_attn.k_norm", "attn.k_norm"},
        {"mlp.gate_proj", "ffn.w1"}, {"mlp.up_proj", "ffn.w3"}, {"mlp.down_proj", "ffn.w2"}};
    std::string s = hf;
    for (const auto& [from, to] : map)
        if (auto p = s.find(from); p != std::string::npos) s.replace(p, from.size(), to);
    return s;
}

// A copy of a fixture as a new model folder: tensors renamed / dropped by `name_of` (empty: drop),
// config.json edited by `edit`.
std::string derive(const std::string& fixture, const std::string& tag,
                   const std::function<std::string(const std::string&)>& name_of,
                   const std::function<void(nlohmann::json&)>& edit) {
    const fs::path dst = fs::path(build_scratch()) / ("family-" + tag);
    fs::remove_all(dst);
    fs::create_directories(dst);
    std::vector<TensorData> out;
    {
        auto f = SafetensorsFile::open(fixture_dir(fixture) + "/model.safetensors");
        for (const auto& [name, v] : f->tensors()) {
            const std::string n = name_of(name);
            if (n.empty()) continue;
            TensorData t{n, v.dtype, v.shape, {}};
            t.bytes.assign(v.data, v.data + v.nbytes);
            out.push_back(std::move(t));
        }
    }
    write_safetensors((dst / "model.safetensors").string(), out);
    std::ifstream in(fixture_dir(fixture) + "/config.json");
    nlohmann::json cfg = nlohmann::json::parse(in);
    edit(cfg);
    std::ofstream(dst / "config.json") << cfg.dump(2);
    return dst.string();
}

std::unique_ptr<Engine> load(const std::string& dir) {
    LoadOptions o;
    o.path = dir;
    o.device = test_device();
    return Engine::load(o, null_progress());
}

at::Tensor logits_of(const Engine& e, const at::Tensor& ids) {
    c10::InferenceMode guard;
    return EngineAccess::model(e).forward(ids);
}

bool is_norm_of_q_or_k(const std::string& n) {
    return n.find("q_norm") != std::string::npos || n.find("k_norm") != std::string::npos;
}

}  // namespace

class TestFamily : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { register_family(renamed_family()); }

    void registered() {
        QVERIFY(find_family(kType) != nullptr);
        const auto types = supported_model_types();
        QVERIFY(std::find(types.begin(), types.end(), kType) != types.end());
        QCOMPARE(types.front(), std::string("llama"));  // the built-in ones first
        QVERIFY_THROWS_EXCEPTION(Error, register_family(renamed_family()));  // once per model_type
    }

    // config.json fields the file omits come from the descriptor's defaults.
    void configDefaultsFromDescriptor() {
        nlohmann::json j = {{"model_type", kType}, {"vocab_size", 64}, {"hidden_size", 32}, {"intermediate_size", 64},
                            {"num_hidden_layers", 2}, {"num_attention_heads", 4}};
        const std::string json = j.dump();
        ModelConfig c = parse_config(json, "c.json");
        QCOMPARE(c.num_key_value_heads, 1);
        QCOMPARE(c.rms_norm_eps, 1e-5);
        QVERIFY(c.tie_word_embeddings);
        QCOMPARE(c.bos_token_ids, std::vector<int>{3});
        QCOMPARE(c.eos_token_ids, (std::vector<int>{4, 5}));
        QCOMPARE(c.sliding_window, 0);  // SlidingPattern::none
        QCOMPARE(c.layer_types, std::vector<std::string>(2, "full_attention"));
    }

    // The qwen3 fixture under the new family's names matches the float64 reference of qwen3.
    void forwardMatchesReference() {
        const std::string dir = derive("qwen3", "renamed", renamed, [](nlohmann::json& c) { c["model_type"] = kType; });
        auto e = load(dir);
        QCOMPARE(QString::fromStdString(e->info().model_type), QString(kType));
        QVERIFY2(e->info().warnings.empty(), e->info().warnings.empty() ? "" : e->info().warnings[0].c_str());
        auto g = load_golden("qwen3");
        const at::Tensor ids = ids_tensor(g["ids"]);
        const double err = rel_err(logits_of(*e, ids), golden_tensor(g["logits"]));
        qInfo("renamed family vs the qwen3 float64 reference: logits max rel err %.3g", err);
        QVERIFY2(err <= 1e-4, qPrintable(QString::number(err)));
        PplResult r = e->perplexity(ids_row(g["ids"], 0), mask_from(g["mask"]), null_progress());
        QVERIFY(std::abs(r.ppl - g["mask_ppl"].get<double>()) <= 1e-4 * r.ppl);
        // Hook sites keep their names and widths.
        QCOMPARE(e->info().shape.module_width(Module::q_proj), EngineAccess::model(*load_fixture("qwen3")).shape().module_width(Module::q_proj));
    }

    // Without q/k norm tensors the checkpoint selects the plain attention: the same logits, bit for
    // bit, as the built-in llama family on the same weights, and clearly not qwen3's.
    void checkpointDecidesQkNorm() {
        const std::string plain = derive(
            "qwen3", "renamed-no-qk-norm", [](const std::string& n) { return is_norm_of_q_or_k(n) ? std::string() : renamed(n); },
            [](nlohmann::json& c) { c["model_type"] = kType; });
        const std::string as_llama = derive(
            "qwen3", "llama-no-qk-norm", [](const std::string& n) { return is_norm_of_q_or_k(n) ? std::string() : n; },
            [](nlohmann::json& c) { c["model_type"] = "llama"; });
        auto e = load(plain), l = load(as_llama);
        auto g = load_golden("qwen3");
        const at::Tensor ids = ids_tensor(g["ids"]);
        const at::Tensor a = logits_of(*e, ids), b = logits_of(*l, ids);
        QVERIFY(at::equal(a, b));
        QVERIFY(rel_err(a, golden_tensor(g["logits"])) > 1e-2);
        // For a required part the same omission is an error naming the tensor.
        const std::string broken = derive(
            "qwen3", "qwen3-no-qk-norm", [](const std::string& n) { return is_norm_of_q_or_k(n) ? std::string() : n; },
            [](nlohmann::json&) {});
        try {
            load(broken);
            QFAIL("qwen3 without q_norm loaded");
        } catch (const Error& err) {
            QVERIFY2(QString(err.what()).contains("self_attn.q_norm.weight"), err.what());
        }
    }

    // config.layer_types, when given, decides each layer's attention: mistral with every layer
    // "full_attention" is the llama forward on the same weights; the fixture's window matters.
    void layerTypesDriveAttention() {
        auto keep = [](const std::string& n) { return n; };
        const std::string full = derive("mistral", "mistral-full", keep, [](nlohmann::json& c) {
            c["layer_types"] = {"full_attention", "full_attention"};
        });
        const std::string llama = derive("mistral", "mistral-as-llama", keep, [](nlohmann::json& c) {
            c["model_type"] = "llama";
            c.erase("sliding_window");
        });
        const std::string second = derive("mistral", "mistral-second", keep, [](nlohmann::json& c) {
            c["layer_types"] = {"full_attention", "sliding_attention"};
        });
        auto g = load_golden("mistral");
        const at::Tensor ids = ids_tensor(g["ids"]);
        QVERIFY(ids.size(1) > 5);  // longer than the fixture's sliding_window: the window matters
        const at::Tensor f = logits_of(*load(full), ids), l = logits_of(*load(llama), ids);
        const at::Tensor s = logits_of(*load(second), ids), m = logits_of(*load_fixture("mistral"), ids);
        QVERIFY(at::equal(f, l));
        QVERIFY(rel_err(m, golden_tensor(g["logits"])) <= 1e-4);  // both layers slide: the reference
        QVERIFY(rel_err(f, m) > 1e-4);
        QVERIFY(rel_err(s, m) > 1e-6 && rel_err(s, f) > 1e-6);  // one sliding layer: neither
    }
};

QTEST_APPLESS_MAIN(TestFamily)
#include "test_family.moc"
