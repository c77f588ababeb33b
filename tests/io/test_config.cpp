// SPDX-License-Identifier: GPL-3.0-or-later
// config.json parsing. Expected defaults are those of transformers' config classes
// (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, GemmaConfig, Gemma2Config, Phi3Config)
// and the rope formulas of transformers' modeling_rope_utils, written out here by hand.
#include "achilles/config.h"
#include "achilles/error.h"
#include "test_paths.h"

#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

// A config with only the required sizes plus extra fields.
std::string cfg(const std::string& type, const std::string& extra = "", int hidden = 64, int heads = 4) {
    std::string s = R"({"model_type":")" + type + R"(","vocab_size":100,"hidden_size":)" + std::to_string(hidden) +
                    R"(,"intermediate_size":128,"num_hidden_layers":4,"num_attention_heads":)" + std::to_string(heads);
    if (!extra.empty()) s += "," + extra;
    return s + "}";
}

// Asserts that parsing throws an Error naming the source and the field.
void expect_error(const std::string& json, const std::string& field, const std::string& also = "") {
    try {
        parse_config(json, "my/config.json");
    } catch (const Error& e) {
        const std::string msg = e.what();
        QVERIFY2(msg.find("my/config.json") != std::string::npos, msg.c_str());
        QVERIFY2(msg.find("'" + field) != std::string::npos, msg.c_str());
        if (!also.empty()) QVERIFY2(msg.find(also) != std::string::npos, msg.c_str());
        return;
    }
    QFAIL(("no Error for field " + field + " in " + json).c_str());
}

}  // namespace

class TestConfig : public QObject {
    Q_OBJECT
private slots:
    void llamaDefaults();
    void llamaOverridesAndRope3();
    void mistralDefaults();
    void qwen2Defaults();
    void qwen3Defaults();
    void gemmaDefaults();
    void gemma2Defaults();
    void phi3LongRope();
    void tokenIds();
    void ropeParametersV5();
    void errors();
    void files();
    void realStories260K();
    void mutationsNeverCrash();
};

void TestConfig::llamaDefaults() {
    ModelConfig c = parse_config(cfg("llama", R"("architectures":["LlamaForCausalLM"])"), "c.json");
    QCOMPARE(c.model_type, std::string("llama"));
    QCOMPARE(c.architecture, std::string("LlamaForCausalLM"));
    QCOMPARE(c.vocab_size, 100);
    QCOMPARE(c.hidden_size, 64);
    QCOMPARE(c.intermediate_size, 128);
    QCOMPARE(c.num_hidden_layers, 4);
    QCOMPARE(c.num_attention_heads, 4);
    QCOMPARE(c.num_key_value_heads, 4);  // defaults to num_attention_heads
    QCOMPARE(c.head_dim, 16);            // hidden / heads
    QCOMPARE(c.rms_norm_eps, 1e-6);
    QCOMPARE(c.rope_theta, 10000.0);
    QCOMPARE(c.max_position_embeddings, int64_t(2048));
    QCOMPARE(c.tie_word_embeddings, false);
    QCOMPARE(c.attention_bias, false);
    QCOMPARE(c.mlp_bias, false);
    QCOMPARE(c.hidden_act, std::string("silu"));
    QCOMPARE(c.rope_scaling.type, std::string());
    QCOMPARE(c.bos_token_ids, std::vector<int>{1});
    QCOMPARE(c.eos_token_ids, std::vector<int>{2});
    QCOMPARE(c.pad_token_id, -1);
    QCOMPARE(c.sliding_window, 0);
    QCOMPARE(c.layer_types, std::vector<std::string>(4, "full_attention"));
    QCOMPARE(c.source_path, std::string("c.json"));
    QVERIFY(c.raw_json.find("LlamaForCausalLM") != std::string::npos);
}

void TestConfig::llamaOverridesAndRope3() {
    // Llama-3.2 style: head_dim override, tied embeddings, biases, rope_scaling with "rope_type".
    ModelConfig c = parse_config(
        cfg("llama", R"("num_key_value_heads":2,"head_dim":32,"tie_word_embeddings":true,"attention_bias":true,
            "mlp_bias":true,"rms_norm_eps":1e-5,"rope_theta":500000.0,"max_position_embeddings":131072,
            "torch_dtype":"bfloat16","hidden_act":"silu",
            "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
                            "original_max_position_embeddings":8192,"rope_type":"llama3"})"),
        "c.json");
    QCOMPARE(c.num_key_value_heads, 2);
    QCOMPARE(c.head_dim, 32);  // not 64/4
    QCOMPARE(c.tie_word_embeddings, true);
    QCOMPARE(c.attention_bias, true);
    QCOMPARE(c.mlp_bias, true);
    QCOMPARE(c.rms_norm_eps, 1e-5);
    QCOMPARE(c.rope_theta, 500000.0);
    QCOMPARE(c.max_position_embeddings, int64_t(131072));
    QCOMPARE(c.torch_dtype, std::string("bfloat16"));
    QCOMPARE(c.rope_scaling.type, std::string("llama3"));
    QCOMPARE(c.rope_scaling.factor, 32.0);
    QCOMPARE(c.rope_scaling.low_freq_factor, 1.0);
    QCOMPARE(c.rope_scaling.high_freq_factor, 4.0);
    QCOMPARE(c.rope_scaling.original_max_position_embeddings, int64_t(8192));

    // The legacy spelling "type", and linear scaling.
    ModelConfig l = parse_config(cfg("llama", R"("rope_scaling":{"type":"linear","factor":2.0})"), "c.json");
    QCOMPARE(l.rope_scaling.type, std::string("linear"));
    QCOMPARE(l.rope_scaling.factor, 2.0);
    // "default" means none.
    ModelConfig d = parse_config(cfg("llama", R"("rope_scaling":{"rope_type":"default"})"), "c.json");
    QCOMPARE(d.rope_scaling.type, std::string());
    // head_dim given: hidden need not divide by heads (transformers does not check it then).
    ModelConfig o = parse_config(cfg("llama", R"("head_dim":16)", 60, 4), "c.json");
    QCOMPARE(o.head_dim, 16);
}

void TestConfig::mistralDefaults() {
    ModelConfig c = parse_config(cfg("mistral", "", 256, 32), "c.json");
    QCOMPARE(c.num_key_value_heads, 8);  // MistralConfig(num_key_value_heads=8)
    QCOMPARE(c.head_dim, 8);
    QCOMPARE(c.sliding_window, 4096);
    QCOMPARE(c.max_position_embeddings, int64_t(4096 * 32));
    QCOMPARE(c.tie_word_embeddings, false);
    QCOMPARE(c.layer_types, std::vector<std::string>(4, "sliding_attention"));
    // explicit null: num_key_value_heads = num_attention_heads; sliding_window null = off.
    ModelConfig n = parse_config(cfg("mistral", R"("num_key_value_heads":null,"sliding_window":null)", 256, 32), "c.json");
    QCOMPARE(n.num_key_value_heads, 32);
    QCOMPARE(n.sliding_window, 0);
    QCOMPARE(n.layer_types, std::vector<std::string>(4, "full_attention"));
}

void TestConfig::qwen2Defaults() {
    ModelConfig c = parse_config(cfg("qwen2", R"("num_key_value_heads":2,"rope_theta":1000000.0)"), "c.json");
    QCOMPARE(c.attention_bias, true);  // Qwen2Attention: q/k/v bias always
    QCOMPARE(c.mlp_bias, false);
    QCOMPARE(c.tie_word_embeddings, false);
    QCOMPARE(c.use_sliding_window, false);
    QCOMPARE(c.sliding_window, 0);     // use_sliding_window false: no window
    QCOMPARE(c.max_window_layers, 28);
    QCOMPARE(c.max_position_embeddings, int64_t(32768));
    QVERIFY(c.bos_token_ids.empty());  // Qwen2Config states none
    QVERIFY(c.eos_token_ids.empty());
    QCOMPARE(c.head_dim, 16);
    // kv heads absent: Qwen2Config's default 32 -> 4 heads are not divisible by 32: an error.
    expect_error(cfg("qwen2"), "num_key_value_heads");
    // Window on from layer 2.
    ModelConfig w = parse_config(
        cfg("qwen2", R"("num_key_value_heads":4,"use_sliding_window":true,"sliding_window":128,"max_window_layers":2)"),
        "c.json");
    QCOMPARE(w.sliding_window, 128);
    QCOMPARE(w.layer_types, (std::vector<std::string>{"full_attention", "full_attention", "sliding_attention",
                                                      "sliding_attention"}));
    // DeepSeek-R1-Distill-Qwen: a qwen2 config.
    ModelConfig ds = parse_config(cfg("qwen2", R"("architectures":["Qwen2ForCausalLM"],"num_key_value_heads":2,
        "bos_token_id":151646,"eos_token_id":151643,"use_sliding_window":false,"sliding_window":4096,"tie_word_embeddings":false)"),
                                  "c.json");
    QCOMPARE(ds.sliding_window, 0);
    QCOMPARE(ds.bos_token_ids, std::vector<int>{151646});
}

void TestConfig::qwen3Defaults() {
    ModelConfig c = parse_config(cfg("qwen3", R"("num_key_value_heads":2)"), "c.json");
    QCOMPARE(c.head_dim, 128);  // Qwen3Config(head_dim=128), not hidden/heads
    QCOMPARE(c.attention_bias, false);
    QCOMPARE(c.tie_word_embeddings, false);
    ModelConfig e = parse_config(cfg("qwen3", R"("num_key_value_heads":2,"head_dim":8,"attention_bias":true,"tie_word_embeddings":true)"),
                                 "c.json");
    QCOMPARE(e.head_dim, 8);
    QCOMPARE(e.attention_bias, true);
    QCOMPARE(e.tie_word_embeddings, true);
    // head_dim null: hidden / heads.
    ModelConfig n = parse_config(cfg("qwen3", R"("num_key_value_heads":2,"head_dim":null)"), "c.json");
    QCOMPARE(n.head_dim, 16);
}

void TestConfig::gemmaDefaults() {
    // gemma-7b's config says hidden_act "gelu"; transformers uses gelu_pytorch_tanh unless
    // hidden_activation is given.
    ModelConfig c = parse_config(cfg("gemma", R"("num_key_value_heads":4,"hidden_act":"gelu")"), "c.json");
    QCOMPARE(c.hidden_act, std::string("gelu_pytorch_tanh"));
    QCOMPARE(c.head_dim, 256);
    QCOMPARE(c.tie_word_embeddings, true);
    QCOMPARE(c.bos_token_ids, std::vector<int>{2});
    QCOMPARE(c.eos_token_ids, std::vector<int>{1});
    QCOMPARE(c.pad_token_id, 0);
    QCOMPARE(c.max_position_embeddings, int64_t(8192));
    ModelConfig h = parse_config(cfg("gemma", R"("num_key_value_heads":4,"hidden_activation":"gelu","head_dim":16)"), "c.json");
    QCOMPARE(h.hidden_act, std::string("gelu"));
    QCOMPARE(h.head_dim, 16);
    // kv absent: GemmaConfig default 16 does not divide 4 heads.
    expect_error(cfg("gemma"), "num_key_value_heads");
}

void TestConfig::gemma2Defaults() {
    ModelConfig c = parse_config(cfg("gemma2", "", 64, 8), "c.json");
    QCOMPARE(c.num_key_value_heads, 4);
    QCOMPARE(c.head_dim, 256);
    QCOMPARE(c.query_pre_attn_scalar, 256.0);
    QCOMPARE(c.attn_logit_softcapping, 50.0);
    QCOMPARE(c.final_logit_softcapping, 30.0);
    QCOMPARE(c.sliding_window, 4096);
    QCOMPARE(c.hidden_act, std::string("gelu_pytorch_tanh"));
    QCOMPARE(c.tie_word_embeddings, true);
    // Even layers slide (transformers: sliding if (i + 1) % 2).
    QCOMPARE(c.layer_types, (std::vector<std::string>{"sliding_attention", "full_attention", "sliding_attention",
                                                      "full_attention"}));
    ModelConfig n = parse_config(cfg("gemma2", R"("attn_logit_softcapping":null,"final_logit_softcapping":null,
        "query_pre_attn_scalar":144,"sliding_window":512,"head_dim":8)", 64, 8), "c.json");
    QCOMPARE(n.attn_logit_softcapping, 0.0);
    QCOMPARE(n.final_logit_softcapping, 0.0);
    QCOMPARE(n.query_pre_attn_scalar, 144.0);
    QCOMPARE(n.sliding_window, 512);
    QCOMPARE(n.head_dim, 8);
}

void TestConfig::phi3LongRope() {
    // Phi-3-mini-128k style: head_dim 96/2 -> 48/2 = 24 factors; top-level original_max_position_embeddings.
    std::string lf, sf;
    for (int i = 0; i < 24; ++i) {
        lf += (i ? "," : "") + std::to_string(1.0 + i * 0.5);
        sf += (i ? "," : "") + std::to_string(1.0 + i * 0.01);
    }
    ModelConfig c = parse_config(
        cfg("phi3", R"("max_position_embeddings":131072,"original_max_position_embeddings":4096,"sliding_window":262144,
            "rope_scaling":{"type":"su","long_factor":[)" + lf + R"(],"short_factor":[)" + sf + "]}",
            96, 2),
        "c.json");
    QCOMPARE(c.rms_norm_eps, 1e-5);
    QCOMPARE(c.eos_token_ids, std::vector<int>{32000});
    QCOMPARE(c.pad_token_id, 32000);
    QCOMPARE(c.head_dim, 48);
    QCOMPARE(c.rope_scaling.type, std::string("longrope"));  // "su" is the old name
    QCOMPARE(c.rope_scaling.long_factor.size(), size_t(24));
    QCOMPARE(c.rope_scaling.long_factor[3], 2.5);
    QCOMPARE(c.rope_scaling.short_factor[1], 1.01);
    QCOMPARE(c.rope_scaling.original_max_position_embeddings, int64_t(4096));
    QCOMPARE(c.rope_scaling.factor, 32.0);  // 131072 / 4096
    QVERIFY(c.rope_scaling.attention_factor.has_value());
    // sqrt(1 + ln(32) / ln(4096)) = sqrt(1 + 5/12)
    QVERIFY(std::fabs(*c.rope_scaling.attention_factor - std::sqrt(17.0 / 12.0)) < 1e-12);
    QCOMPARE(c.sliding_window, 262144);

    // Phi-4-mini style partial rotary: 0.75 * 48 = 36 -> 18 factors; explicit attention_factor.
    std::string f18;
    for (int i = 0; i < 18; ++i) f18 += (i ? "," : "") + std::string("1.0");
    ModelConfig p = parse_config(
        cfg("phi3", R"("partial_rotary_factor":0.75,"rope_scaling":{"type":"longrope","attention_factor":1.25,
            "long_factor":[)" + f18 + R"(],"short_factor":[)" + f18 + "]}", 96, 2),
        "c.json");
    QCOMPARE(p.partial_rotary_factor, 0.75);
    QCOMPARE(*p.rope_scaling.attention_factor, 1.25);
    // Wrong factor count.
    expect_error(cfg("phi3", R"("rope_scaling":{"type":"longrope","long_factor":[1.0],"short_factor":[1.0]})", 96, 2),
                 "rope_scaling.long_factor");
    expect_error(cfg("phi3", R"("rope_scaling":{"type":"linear","factor":2.0})", 96, 2), "rope_scaling.rope_type");
}

void TestConfig::tokenIds() {
    ModelConfig l = parse_config(cfg("llama", R"("bos_token_id":128000,"eos_token_id":[128001,128008,128009])"), "c.json");
    QCOMPARE(l.bos_token_ids, std::vector<int>{128000});
    QCOMPARE(l.eos_token_ids, (std::vector<int>{128001, 128008, 128009}));
    ModelConfig n = parse_config(cfg("llama", R"("bos_token_id":null,"eos_token_id":null,"pad_token_id":0)"), "c.json");
    QVERIFY(n.bos_token_ids.empty());
    QVERIFY(n.eos_token_ids.empty());
    QCOMPARE(n.pad_token_id, 0);
    expect_error(cfg("llama", R"("eos_token_id":"two")"), "eos_token_id");
    expect_error(cfg("llama", R"("bos_token_id":-3)"), "bos_token_id");
}

void TestConfig::ropeParametersV5() {
    ModelConfig c = parse_config(cfg("llama", R"("rope_parameters":{"rope_type":"default","rope_theta":250000.0})"), "c.json");
    QCOMPARE(c.rope_theta, 250000.0);
    QCOMPARE(c.rope_scaling.type, std::string());
    ModelConfig s = parse_config(cfg("llama", R"("rope_parameters":{"rope_type":"linear","factor":4.0,"rope_theta":1e6})"),
                                 "c.json");
    QCOMPARE(s.rope_theta, 1e6);
    QCOMPARE(s.rope_scaling.type, std::string("linear"));
    QCOMPARE(s.rope_scaling.factor, 4.0);
}

void TestConfig::errors() {
    expect_error(cfg("gpt2"), "model_type", "qwen3");  // lists the supported ones
    expect_error(R"({"vocab_size":1})", "model_type");
    expect_error(R"({"model_type":"llama","vocab_size":100,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4})",
                 "hidden_size", "missing");
    expect_error(cfg("llama", "", -64, 4), "hidden_size", "positive");
    expect_error(cfg("llama", "", 0, 4), "hidden_size");
    expect_error(R"({"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":0,"num_attention_heads":4})",
                 "num_hidden_layers");
    expect_error(R"({"model_type":"llama","vocab_size":"100","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4})",
                 "vocab_size", "integer");
    expect_error(R"({"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":1e12})",
                 "vocab_size");
    expect_error(cfg("llama", "", 64, 5), "num_attention_heads", "divide");
    expect_error(cfg("llama", R"("num_key_value_heads":3)"), "num_key_value_heads", "divide");
    expect_error(cfg("llama", R"("num_key_value_heads":0)"), "num_key_value_heads");
    expect_error(cfg("llama", R"("head_dim":-1)"), "head_dim");
    // head_dim not given and hidden / heads past the bound (found by fuzz_config): hidden_size is named.
    expect_error(cfg("llama", "", 33000, 4), "hidden_size", "8250");
    expect_error(cfg("llama", R"("rms_norm_eps":0)"), "rms_norm_eps");
    expect_error(cfg("llama", R"("rope_theta":-1)"), "rope_theta");
    expect_error(cfg("llama", R"("tie_word_embeddings":"yes")"), "tie_word_embeddings");
    expect_error(cfg("llama", R"("hidden_act":"relu2")"), "hidden_act");
    expect_error(cfg("llama", R"("rope_scaling":{"rope_type":"yarn","factor":4.0})"), "rope_scaling.rope_type", "yarn");
    expect_error(cfg("llama", R"("rope_scaling":{"rope_type":"llama3","factor":8.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192})"),
                 "rope_scaling.low_freq_factor");
    expect_error(cfg("llama", R"("rope_scaling":[1,2])"), "rope_scaling");
    expect_error(cfg("llama", R"("partial_rotary_factor":0.5)"), "partial_rotary_factor");
    expect_error(cfg("llama", R"("layer_types":["full_attention"])"), "layer_types");
    expect_error(cfg("gemma2", R"("query_pre_attn_scalar":0)", 64, 8), "query_pre_attn_scalar");
    // Not JSON / not an object: the file is named.
    try {
        parse_config("{\"model_type\": llama", "my/config.json");
        QFAIL("no Error for invalid JSON");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("my/config.json") != std::string::npos, e.what());
    }
    try {
        parse_config("[1]", "my/config.json");
        QFAIL("no Error for an array");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("my/config.json") != std::string::npos, e.what());
    }
}

void TestConfig::files() {
    fs::path d = fs::path(test::build_scratch()) / "io_config";
    fs::create_directories(d);
    const std::string p = (d / "config.json").string();
    {
        std::ofstream f(p);
        f << cfg("mistral", R"("num_key_value_heads":2,"rope_theta":1000000.0)");
    }
    ModelConfig c = load_config(p);
    QCOMPARE(c.source_path, p);
    QCOMPARE(c.rope_theta, 1e6);
    for (const std::string& bad : {(d / "missing.json").string(), d.string()}) {
        try {
            load_config(bad);
            QFAIL("no Error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find(bad) != std::string::npos, e.what());
        }
    }
    QCOMPARE(supported_model_types().size(), size_t(7));
}

void TestConfig::realStories260K() {
    const std::string p = test::shared_path("models/stories260K/config.json");
    if (p.empty()) QSKIP("../shared/models/stories260K is absent");
    ModelConfig c = load_config(p);
    // Values from ../shared/README.md.
    QCOMPARE(c.model_type, std::string("llama"));
    QCOMPARE(c.hidden_size, 64);
    QCOMPARE(c.intermediate_size, 172);
    QCOMPARE(c.num_hidden_layers, 5);
    QCOMPARE(c.num_attention_heads, 8);
    QCOMPARE(c.num_key_value_heads, 4);
    QCOMPARE(c.head_dim, 8);
    QCOMPARE(c.vocab_size, 512);
    QCOMPARE(c.rope_theta, 10000.0);
    QCOMPARE(c.tie_word_embeddings, true);
    QCOMPARE(c.bos_token_ids, std::vector<int>{1});
    QCOMPARE(c.eos_token_ids, std::vector<int>{2});
}

void TestConfig::mutationsNeverCrash() {
    // Seeded byte mutations of a full config: each either parses (and is then consistent) or throws Error.
    std::string lf;
    for (int i = 0; i < 8; ++i) lf += (i ? "," : "") + std::string("1.5");
    const std::string base = cfg("phi3", R"("num_key_value_heads":2,"max_position_embeddings":131072,
        "original_max_position_embeddings":4096,"sliding_window":2047,"bos_token_id":[1,3],"eos_token_id":2,
        "rope_scaling":{"type":"longrope","long_factor":[)" + lf + R"(],"short_factor":[)" + lf + "]}", 32, 2);
    QVERIFY(parse_config(base, "fuzz.json").rope_scaling.type == "longrope");
    std::mt19937_64 rng(11);
    int parsed = 0, rejected = 0;
    static const char interesting[] = {'0', '9', '-', '"', '[', ']', '{', '}', ',', ':', 'e', '.', '\xff', ' ', 'n'};
    for (int it = 0; it < 2000; ++it) {
        std::string b = base;
        for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k)
            b[rng() % b.size()] = (rng() % 2) ? interesting[rng() % sizeof interesting] : char(rng());
        try {
            ModelConfig c = parse_config(b, "fuzz.json");
            ++parsed;
            QVERIFY(c.hidden_size > 0 && c.num_attention_heads > 0 && c.num_key_value_heads > 0 && c.head_dim > 0);
            QCOMPARE(c.num_attention_heads % c.num_key_value_heads, 0);
            QCOMPARE(int(c.layer_types.size()), c.num_hidden_layers);
        } catch (const Error& e) {
            ++rejected;
            QVERIFY(std::string(e.what()).find("fuzz.json") != std::string::npos);
        }
    }
    qInfo() << "mutations: parsed" << parsed << "rejected" << rejected;
    QVERIFY(rejected > 500);
}

QTEST_APPLESS_MAIN(TestConfig)
#include "test_config.moc"
