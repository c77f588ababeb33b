// SPDX-License-Identifier: GPL-3.0-or-later
// Neurons and mask specs (core/src/util/neuron.cpp): inline and JSON forms, positions, files,
// round trips and the errors for bad entries and out-of-range masks.
#include "achilles/error.h"
#include "achilles/neuron.h"
#include "test_paths.h"

#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

void expect_error(const std::string& spec, const std::string& field, const std::string& also = "") {
    try {
        parse_mask_spec(spec);
    } catch (const Error& e) {
        const std::string msg = e.what();
        QVERIFY2(e.field() == field, (msg + "  [wanted field " + field + "]").c_str());
        if (!also.empty()) QVERIFY2(msg.find(also) != std::string::npos, msg.c_str());
        return;
    }
    QFAIL(("no Error for '" + spec + "'").c_str());
}

ModelShape shape() {
    ModelShape s;
    s.layers = 4;
    // q k v o gate up act down post_attention_layernorm
    s.width = {64, 32, 32, 64, 172, 172, 172, 64, 64};
    return s;
}

}  // namespace

class TestMaskSpec : public QObject {
    Q_OBJECT
private slots:
    void moduleNames();
    void inlineForm();
    void inlinePositions();
    void jsonForm();
    void fileForm();
    void roundTrips();
    void parseErrors();
    void validateRanges();
    void ablationModes();
    void ablationErrors();
    void weightEdits();
};

void TestMaskSpec::ablationModes() {
    MaskSpec m = parse_mask_spec("L1.down_proj:5@0=mean, L2.act_fn:3=scale:0.5, L0.q_proj:1@2;4=clamp:95, L3.o_proj:2=zero");
    QCOMPARE(int(m.size()), 4);
    QCOMPARE(m[0].mode, Ablation::mean);
    QCOMPARE(m[0].positions, std::vector<int>{0});
    QVERIFY(m[0].needs_stats());
    QCOMPARE(m[1].mode, Ablation::scale);
    QCOMPARE(m[1].factor, 0.5);
    QVERIFY(!m[1].needs_stats());
    QCOMPARE(m[2].mode, Ablation::clamp);
    QCOMPARE(m[2].percentile, 95.0);
    QCOMPARE(m[2].positions, (std::vector<int>{2, 4}));
    QCOMPARE(m[3].mode, Ablation::zero);
    QVERIFY(mask_needs_stats(m));
    // inline and JSON round trips keep the modes
    QCOMPARE(mask_spec_to_inline(m), std::string("L1.down_proj:5@0=mean,L2.act_fn:3=scale:0.5,L0.q_proj:1@2;4=clamp:95,L3.o_proj:2"));
    QVERIFY(parse_mask_spec(mask_spec_to_inline(m)) == m);
    QVERIFY(parse_mask_spec(mask_spec_to_json(m)) == m);
    // statistics given in JSON are used as they are
    MaskSpec j = parse_mask_spec(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"mean","mean":-2.5},)"
                                 R"({"layer":1,"module":"up_proj","channel":5,"mode":"clamp","percentile":90,"lo":-1,"hi":2}])");
    QVERIFY(!mask_needs_stats(j));
    QCOMPARE(*j[0].lo, -2.5);
    QCOMPARE(*j[0].hi, -2.5);
    QCOMPARE(*j[1].lo, -1.0);
    QCOMPARE(*j[1].hi, 2.0);
    QVERIFY(parse_mask_spec(mask_spec_to_json(j)) == j);
    // a factor that prints short and reads back exactly
    QCOMPARE(mask_spec_to_inline(parse_mask_spec("L0.up_proj:1=scale:0.1")), std::string("L0.up_proj:1=scale:0.1"));
    QCOMPARE(parse_mask_spec("L0.up_proj:1=scale:3")[0].factor, 3.0);
}

void TestMaskSpec::ablationErrors() {
    expect_error("L1.down_proj:5=avg", "mode", "avg");
    expect_error("L1.down_proj:5=scale", "factor");
    expect_error("L1.down_proj:5=scale:abc", "factor");
    expect_error("L1.down_proj:5=scale:nan", "factor");
    expect_error("L1.down_proj:5=scale:1e7", "factor", "out of range");
    expect_error("L1.down_proj:5=clamp:30", "percentile", "[50, 100]");
    expect_error("L1.down_proj:5=clamp:101", "percentile");
    expect_error("L1.down_proj:5=mean:3", "mode");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"scale"}])", "factor", "missing");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"clamp","percentile":"95"}])", "percentile");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":3}])", "mode");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"mean","mean":"x"}])", "mean");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"clamp","percentile":90,"lo":1}])", "hi", "missing");
    expect_error(R"([{"layer":1,"module":"down_proj","channel":5,"mode":"clamp","percentile":90,"lo":3,"hi":1}])", "lo");
}

void TestMaskSpec::weightEdits() {
    auto e = parse_weight_edits("L1.down_proj[63,171]*0, L0.q_proj[2,3]*0.5,L2.o_proj[1,0]");
    QCOMPARE(int(e.size()), 3);
    QCOMPARE(e[0], (WeightEdit{1, Module::down_proj, 63, 171, 0.0}));
    QCOMPARE(e[1], (WeightEdit{0, Module::q_proj, 2, 3, 0.5}));
    QCOMPARE(e[2].factor, 0.0);  // no factor: zeroed
    QCOMPARE(to_string(e[1]), std::string("L0.q_proj[2,3]*0.5"));
    QVERIFY(parse_weight_edits(to_string(e[1])) == std::vector<WeightEdit>{e[1]});
    const ModelShape s = shape();
    validate_weight_edits(e, s);
    QCOMPARE(module_input_width(Module::down_proj, s), 172);
    QCOMPARE(module_input_width(Module::o_proj, s), 64);
    QCOMPARE(module_input_width(Module::k_proj, s), 64);
    auto bad_parse = [](const std::string& spec, const std::string& field) {
        try {
            parse_weight_edits(spec);
        } catch (const Error& err) {
            QVERIFY2(err.field() == field, err.what());
            return;
        }
        QFAIL(("no Error for '" + spec + "'").c_str());
    };
    bad_parse("L1.act_fn[1,2]*0", "module");
    bad_parse("L1.down_proj[1]*0", "row");
    bad_parse("L1.down_proj[1,x]*0", "col");
    bad_parse("L1.down_proj[1,2]*y", "factor");
    bad_parse("L1.down_proj[1,2]*1e9", "factor");
    bad_parse("L1.down_proj[1,2]/2", "factor");
    bad_parse("down_proj[1,2]", "layer");
    auto bad_range = [&](const std::string& spec, const std::string& field) {
        try {
            validate_weight_edits(parse_weight_edits(spec), s);
        } catch (const Error& err) {
            QVERIFY2(err.field() == field, err.what());
            return;
        }
        QFAIL(("no Error for '" + spec + "'").c_str());
    };
    bad_range("L4.down_proj[0,0]", "layer");
    bad_range("L1.down_proj[64,0]", "row");
    bad_range("L1.down_proj[0,172]", "col");
    bad_range("L1.o_proj[0,64]", "col");
}

void TestMaskSpec::moduleNames() {
    const char* names[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                           "up_proj", "act_fn", "down_proj", "post_attention_layernorm"};
    for (int i = 0; i < kNumModules; ++i) {
        QCOMPARE(std::string(module_name(kAllModules[i])), std::string(names[i]));
        QVERIFY(module_from_name(names[i]) == kAllModules[i]);
    }
    QVERIFY(module_from_name("act_fn") == Module::act_fn);
    QVERIFY(module_from_name("mlp.act_fn") == Module::act_fn);
    // Masks written before result schema 2 named the site "act": the same down_proj input is zeroed.
    QVERIFY(module_from_name("act") == Module::act_fn);
    QVERIFY(parse_mask_spec("L2.act:9") == (MaskSpec{{Neuron{2, Module::act_fn, 9}, {}}}));
    QVERIFY(!module_from_name("mlp").has_value());
    QVERIFY(module_is_linear(Module::down_proj));
    QVERIFY(!module_is_linear(Module::act_fn));
    QVERIFY(!module_is_linear(Module::post_attention_layernorm));
    QCOMPARE(to_string(Neuron{3, Module::down_proj, 7}), std::string("L3.down_proj:7"));
    QVERIFY((Neuron{1, Module::q_proj, 9}) < (Neuron{2, Module::q_proj, 0}));
}

void TestMaskSpec::inlineForm() {
    MaskSpec m = parse_mask_spec("L3.down_proj:7,L0.o_proj:12");
    QCOMPARE(m.size(), size_t(2));
    QVERIFY(m[0].neuron == (Neuron{3, Module::down_proj, 7}));
    QVERIFY(m[1].neuron == (Neuron{0, Module::o_proj, 12}));
    QVERIFY(m[0].positions.empty() && m[1].positions.empty());
    // Whitespace, lower-case 'l', a trailing comma.
    MaskSpec w = parse_mask_spec("  L1.act:3 , l2.post_attention_layernorm:0,");
    QCOMPARE(w.size(), size_t(2));
    QVERIFY(w[0].neuron == (Neuron{1, Module::act_fn, 3}));
    QVERIFY(w[1].neuron == (Neuron{2, Module::post_attention_layernorm, 0}));
    QVERIFY(parse_mask_spec("").empty());
    QVERIFY(parse_mask_spec("   ").empty());
}

void TestMaskSpec::inlinePositions() {
    // Positions follow '@', separated by ';' (',' separates entries).
    MaskSpec m = parse_mask_spec("L3.down_proj:7@0;5,L1.up_proj:2");
    QCOMPARE(m.size(), size_t(2));
    QCOMPARE(m[0].positions, (std::vector<int>{0, 5}));
    QVERIFY(m[1].positions.empty());
}

void TestMaskSpec::jsonForm() {
    MaskSpec m = parse_mask_spec(R"([{"layer":3,"module":"down_proj","channel":7},
                                     {"layer":0,"module":"q_proj","channel":1,"positions":[2,4]}])");
    QCOMPARE(m.size(), size_t(2));
    QVERIFY(m[0].neuron == (Neuron{3, Module::down_proj, 7}));
    QVERIFY(m[1].neuron == (Neuron{0, Module::q_proj, 1}));
    QCOMPARE(m[1].positions, (std::vector<int>{2, 4}));
    // A critical-set object from a result document: {"neurons": [...]}; extra keys are ignored.
    MaskSpec s = parse_mask_spec(R"({"name":"faithful","neurons":[{"layer":1,"module":"v_proj","channel":5}],"ppl":3.0})");
    QCOMPARE(s.size(), size_t(1));
    QVERIFY(s[0].neuron == (Neuron{1, Module::v_proj, 5}));
    QVERIFY(parse_mask_spec("[]").empty());
}

void TestMaskSpec::fileForm() {
    fs::path d = fs::path(test::build_scratch()) / "base_mask";
    fs::create_directories(d);
    fs::path p = d / "mask.json";
    {
        std::ofstream f(p);
        f << R"([{"layer":2,"module":"gate_proj","channel":11}])";
    }
    MaskSpec m = parse_mask_spec(p.string());
    QCOMPARE(m.size(), size_t(1));
    QVERIFY(m[0].neuron == (Neuron{2, Module::gate_proj, 11}));
    // A bad file names itself.
    fs::path bad = d / "bad.json";
    {
        std::ofstream f(bad);
        f << R"([{"layer":2,"module":"gate_proj"}])";
    }
    try {
        parse_mask_spec(bad.string());
        QFAIL("no Error");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find(bad.string()) != std::string::npos, e.what());
        QCOMPARE(e.field(), std::string("channel"));
    }
    try {
        parse_mask_spec((d / "nope.json").string());
        QFAIL("no Error for a missing file");
    } catch (const Error& e) {
        QVERIFY2(std::string(e.what()).find("nope.json") != std::string::npos, e.what());
    }
}

void TestMaskSpec::roundTrips() {
    MaskSpec m = {{{3, Module::down_proj, 7}, {}}, {{0, Module::o_proj, 12}, {1, 9}}, {{4, Module::act_fn, 0}, {}}};
    const std::string in = mask_spec_to_inline(m);
    QCOMPARE(in, std::string("L3.down_proj:7,L0.o_proj:12@1;9,L4.act_fn:0"));
    QVERIFY(parse_mask_spec(in) == m);
    const std::string js = mask_spec_to_json(m);
    QCOMPARE(js, std::string(R"([{"channel":7,"layer":3,"module":"down_proj"},)"
                             R"({"channel":12,"layer":0,"module":"o_proj","positions":[1,9]},)"
                             R"({"channel":0,"layer":4,"module":"act_fn"}])"));
    QVERIFY(parse_mask_spec(js) == m);
}

void TestMaskSpec::parseErrors() {
    expect_error("L3.mlp:7", "module", "mlp");
    expect_error("L3.down_proj:x", "channel");
    expect_error("L3.down_proj:7.5", "channel");
    expect_error("Lx.down_proj:7", "layer");
    expect_error("L3.down_proj:7@a", "position");
    expect_error("L3:down_proj.7", "module");
    expect_error("L3.down_proj:7,X1.q_proj:0", "layer");
    expect_error(R"({"layer":1})", "");                                    // not an array
    expect_error(R"([{"layer":1,"module":"down_proj"}])", "channel");      // missing channel
    expect_error(R"([{"layer":1,"module":"nope","channel":2}])", "module");
    expect_error(R"([{"layer":"1","module":"q_proj","channel":2}])", "layer");
    expect_error(R"([{"layer":1,"module":"q_proj","channel":2,"positions":3}])", "positions");
    expect_error(R"([{"layer":1,"module":"q_proj","channel":2,"positions":["a"]}])", "positions");
    expect_error(R"([3])", "");
    expect_error("[{", "[0]");  // invalid JSON: the file and where it broke
}

void TestMaskSpec::validateRanges() {
    const ModelShape s = shape();
    QCOMPARE(s.module_width(Module::act_fn), 172);
    validate_mask(parse_mask_spec("L3.down_proj:63,L0.act:171,L2.k_proj:31@0;100"), s);  // all in range
    auto bad = [&](const std::string& spec, const std::string& field) {
        try {
            validate_mask(parse_mask_spec(spec), s);
        } catch (const Error& e) {
            QCOMPARE(e.field(), field);
            QVERIFY2(std::string(e.what()).find(spec.substr(0, spec.find('@'))) != std::string::npos, e.what());
            return;
        }
        QFAIL(("no Error for " + spec).c_str());
    };
    bad("L4.down_proj:0", "layer");      // 4 layers: 0..3
    bad("L-1.down_proj:0", "layer");
    bad("L3.down_proj:64", "channel");   // down_proj has 64
    bad("L3.k_proj:32", "channel");      // k_proj has 32
    bad("L3.act:-1", "channel");
    bad("L3.act:5@-2", "position");
}

QTEST_APPLESS_MAIN(TestMaskSpec)
#include "test_mask_spec.moc"
