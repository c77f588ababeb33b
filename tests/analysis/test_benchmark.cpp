// SPDX-License-Identifier: GPL-3.0-or-later
// achilles-cli eval's core (achilles/benchmark.h) against the independent float64 reference
// (tests/reference/ref_bench.py; fixtures and golden values in tests/fixtures/bench): the three
// readers and their errors, per-choice log-likelihoods, acc and acc_norm with and without a mask,
// greedy generations and answer extraction, the Wilson interval, the random set, determinism,
// cancellation, and the CLI. Real ARC/MMLU files in ../shared/benchmarks are used when present.
#include <QProcess>
#include <QtTest>
#ifndef Q_MOC_RUN  // moc parses with C++17 predefines and trips over <compare>; it needs none of these
#include "achilles/benchmark.h"
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "achilles/tokenizer.h"
#endif
#include "test_paths.h"
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

using namespace achilles;
using json = nlohmann::json;

namespace {

std::string bench_dir() { return test::tests_dir() + "/fixtures/bench"; }

json golden() {
    std::ifstream in(bench_dir() + "/golden.json");
    return json::parse(in);
}

const Engine& default_engine() {
    static std::unique_ptr<Engine> e = [] {
        LoadOptions lo;
        lo.path = test::source_dir() + "/resources/default-model";
        return Engine::load(lo, null_progress());
    }();
    return *e;
}

MaskSpec golden_mask(const json& g) {
    MaskSpec m;
    for (const auto& n : g["mask"])
        m.push_back(MaskEntry{Neuron{n["layer"].get<int>(), *module_from_name(n["module"].get<std::string>()),
                                     n["channel"].get<int>()},
                              {}});
    return m;
}

std::string scratch(const std::string& name) {
    return (std::filesystem::path(test::build_scratch()) / ("bench_" + name)).string();
}
std::string write_temp(const std::string& name, const std::string& contents) {
    const std::string p = scratch(name);
    std::ofstream(p, std::ios::binary) << contents;
    return p;
}

// The message of the Error that f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

// The default model in a scratch folder whose tokenizer_config.json carries `chat_template`.
std::string chat_model(const std::string& name, const std::string& chat_template) {
    namespace fs = std::filesystem;
    const fs::path dir = scratch("chat_" + name), src = test::source_dir() + "/resources/default-model";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* f : {"config.json", "generation_config.json", "model.safetensors", "tokenizer.model"})
        fs::copy_file(src / f, dir / f);
    json cfg = json::parse(std::ifstream((src / "tokenizer_config.json").string()));
    cfg["chat_template"] = chat_template;
    std::ofstream((dir / "tokenizer_config.json").string()) << cfg.dump(2);
    return dir.string();
}

}  // namespace

class TestBenchmark : public QObject {
    Q_OBJECT
private slots:
    void readers_match_reference() {
        const json g = golden();
        for (const auto& [file, items] : g["files"].items()) {
            const BenchSet s = load_benchmark(bench_dir() + "/" + file);
            QCOMPARE(s.format, std::string(file.ends_with(".csv") ? "csv" : "jsonl"));
            QCOMPARE(s.items.size(), items.size());
            for (size_t i = 0; i < items.size(); ++i) {
                const BenchItem& it = s.items[i];
                const json& r = items[i];
                QCOMPARE(it.question, r["question"].get<std::string>());
                QCOMPARE(it.choices, r["choices"].get<std::vector<std::string>>());
                QCOMPARE(it.labels, r["labels"].get<std::vector<std::string>>());
                QCOMPARE(it.answer, r["answer"].get<int>());
                QCOMPARE(it.subject, r["subject"].get<std::string>());
                QCOMPARE(it.id, r["id"].get<std::string>());
                QCOMPARE(it.line, r["line"].get<int>());
            }
        }
        // --limit reads the first N rows only.
        QCOMPARE(load_benchmark(bench_dir() + "/tiny.jsonl", 2).items.size(), size_t(2));
        QCOMPARE(load_benchmark(bench_dir() + "/astronomy_test.csv", 1).items.size(), size_t(1));
        QCOMPARE(load_benchmark(bench_dir() + "/tiny.jsonl").subjects(), (std::vector<std::string>{"animals", "numbers"}));
    }

    void jsonl_bad_inputs_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QStringList>("expect");
        auto row = [](const char* name, const std::string& text, QStringList e) {
            QTest::newRow(name) << QByteArray::fromStdString(text) << e;  // bytes: bad UTF-8 survives
        };
        const std::string ok = R"({"question": "q?", "choices": ["a", "b"], "answer": 0})";
        row("missing_answer", R"({"question": "q?", "choices": ["a", "b"]})", {"b.jsonl:1", "'answer'", "missing"});
        row("answer_out_of_range", ok + "\n" + R"({"question": "q?", "choices": ["a", "b"], "answer": 2})",
            {"b.jsonl:2", "'answer'", "out of range"});
        row("answer_negative", R"({"question": "q?", "choices": ["a", "b"], "answer": -1})", {"'answer'", "out of range"});
        row("answer_float", R"({"question": "q?", "choices": ["a", "b"], "answer": 0.5})", {"'answer'", "expected an integer"});
        row("answer_1e400", R"({"question": "q?", "choices": ["a", "b"], "answer": 1e400})", {"b.jsonl:1", "out of range"});
        row("one_choice", R"({"question": "q?", "choices": ["a"], "answer": 0})", {"'choices'", "fewer than 2 choices"});
        row("no_choices", R"({"question": "q?", "answer": 0})", {"'choices'", "missing"});
        row("choices_string", R"({"question": "q?", "choices": "ab", "answer": 0})", {"'choices'", "expected an array"});
        row("choice_number", R"({"question": "q?", "choices": ["a", 3], "answer": 0})", {"'choices[1]'", "expected a string"});
        row("choice_empty", R"({"question": "q?", "choices": ["a", " "], "answer": 0})", {"'choices[1]'", "empty"});
        row("no_question", R"({"choices": ["a", "b"], "answer": 0})", {"'question'", "missing"});
        row("question_empty", R"({"question": "", "choices": ["a", "b"], "answer": 0})", {"'question'", "empty"});
        row("not_object", "[1, 2]", {"b.jsonl:1", "JSON object"});
        row("not_json", ok + "\n\n" + "{\"question\": ", {"b.jsonl:3", "not valid JSON"});
        row("duplicate_key", R"({"question": "q?", "question": "r", "choices": ["a", "b"], "answer": 0})", {"'question'", "appears twice"});
        row("deep", "{\"question\": " + std::string(100, '[') + std::string(100, ']') + "}", {"'question", "deeper than 64"});
        row("non_utf8", ok + "\n" + "{\"question\": \"caf\xC3\x28\", \"choices\": [\"a\", \"b\"], \"answer\": 0}",
            {"b.jsonl:2", "'question'", "not valid UTF-8 (byte 0xC3"});
        row("arc_key_unknown", R"({"question": "q?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"})",
            {"'answerKey'", "'E' is not one of the labels A, B"});
        row("arc_labels_count", R"({"question": "q?", "choices": {"text": ["a", "b", "c"], "label": ["A", "B"]}, "answerKey": "A"})",
            {"'choices.label'", "2 labels for 3 choices"});
        row("arc_no_text", R"({"question": "q?", "choices": {"label": ["A", "B"]}, "answerKey": "A"})", {"'choices.text'", "missing"});
        row("both_answers", R"({"question": "q?", "choices": ["a", "b"], "answer": 0, "answerKey": "A"})", {"'answerKey'", "not both"});
        row("labels_duplicate", R"({"question": "q?", "choices": ["a", "b"], "labels": ["A", "A"], "answer": 0})", {"'labels[1]'", "twice"});
        row("subject_number", R"({"question": "q?", "choices": ["a", "b"], "answer": 0, "subject": 5})", {"'subject'", "expected a string"});
        row("empty", "", {"b.jsonl", "no questions"});
        row("blank", "\n  \n\r\n", {"b.jsonl", "no questions"});
        std::string many = R"({"question": "q?", "choices": [)";
        for (int i = 0; i < 100000; ++i) many += i ? ",\"x\"" : "\"x\"";
        row("absurd_choices", many + "], \"answer\": 0}", {"'choices'", "100000 choices (at most 26"});
        row("absurd_question", "{\"question\": \"" + std::string((1 << 20) + 1, 'x') + "\", \"choices\": [\"a\", \"b\"], \"answer\": 0}",
            {"'question'", "bytes long (at most 1048576)"});
    }
    void jsonl_bad_inputs() {
        QFETCH(QByteArray, text);
        QFETCH(QStringList, expect);
        const std::string t = text.toStdString();
        const std::string msg = error_of([&] { (void)parse_benchmark_jsonl(t, "b.jsonl"); });
        QVERIFY2(!msg.empty(), "accepted");
        for (const QString& e : expect)
            QVERIFY2(msg.find(e.toStdString()) != std::string::npos, (msg + "  [wanted: " + e.toStdString() + "]").c_str());
    }

    void csv_bad_inputs_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QStringList>("expect");
        auto row = [](const char* name, const std::string& text, QStringList e) {
            QTest::newRow(name) << QByteArray::fromStdString(text) << e;  // bytes: bad UTF-8 survives
        };
        const std::string ok = "q?,a,b,c,d,A\n";
        row("answer_out_of_range", ok + "q?,a,b,c,d,E\n", {"b.csv:2", "'answer'", "'E' is out of range: 4 choices (A-D)"});
        row("answer_missing", ok + "q?,a,b,c,d,\n", {"b.csv:2", "'answer'", "empty"});
        row("answer_word", "q?,a,b,c,d,yes\n", {"b.csv:1", "'answer'", "expected a letter A-D"});
        row("columns", ok + "q?,a,b,c,A\n", {"b.csv:2", "5 columns, expected 6"});
        row("too_few_columns", "q?,a,A\n", {"b.csv:1", "3 columns"});
        row("choice_empty", "q?,a,,c,d,A\n", {"b.csv:1", "'B'", "empty"});
        row("question_empty", " ,a,b,c,d,A\n", {"b.csv:1", "'question'", "empty"});
        row("unclosed_quote", ok + "\"q?,a,b,c,d,A\n", {"b.csv:2", "not closed"});
        row("after_quote", "\"q\"x,a,b,c,d,A\n", {"b.csv:1", "after a closing quote"});
        row("non_utf8", ok + ok + "q?,a,b\xFF,c,d,A\n", {"b.csv:3", "'B'", "not valid UTF-8 (byte 0xFF"});
        row("header_no_answer", "question,A,B\nq,a,b\n", {"b.csv:1", "'answer'", "no answer column"});
        row("header_one_choice", "question,A,answer\nq,a,A\n", {"b.csv:1", "fewer than 2 choices"});
        row("header_index_range", "question,choice0,choice1,answer\nq,a,b,2\n", {"b.csv:2", "'answer'", "index 2 is out of range"});
        row("empty", "", {"b.csv", "no questions"});
        row("header_only", "question,A,B,answer\n", {"b.csv", "no questions"});
        row("absurd_field", "q," + std::string((1 << 20) + 10, 'x') + ",b,A\n", {"b.csv:1", "column 2", "longer than 1048576"});
    }
    void csv_bad_inputs() {
        QFETCH(QByteArray, text);
        QFETCH(QStringList, expect);
        const std::string t = text.toStdString();
        const std::string msg = error_of([&] { (void)parse_benchmark_csv(t, "b.csv"); });
        QVERIFY2(!msg.empty(), "accepted");
        for (const QString& e : expect)
            QVERIFY2(msg.find(e.toStdString()) != std::string::npos, (msg + "  [wanted: " + e.toStdString() + "]").c_str());
    }

    void file_errors() {
        QVERIFY(error_of([] { (void)load_benchmark(scratch("none.jsonl")); }).find("none.jsonl") != std::string::npos);
        QVERIFY(!error_of([] { (void)load_benchmark("/dev/zero"); }).empty());
        const std::string empty = write_temp("empty.csv", "");
        QVERIFY(error_of([&] { (void)load_benchmark(empty); }).find("no questions") != std::string::npos);
        // A CSV's subject comes from its file name (Hendrycks' <subject>_test.csv).
        const std::string p = write_temp("college_physics_test.csv", "q?,a,b,B\n");
        const BenchSet s = load_benchmark(p);
        QCOMPARE(s.items[0].subject, std::string("bench_college_physics"));
        QCOMPARE(s.items[0].answer, 1);
    }

    void wilson() {
        const Interval a = wilson_interval(8, 10);
        QVERIFY(std::abs(a.lo - 0.49016247153664183) < 1e-12);
        QVERIFY(std::abs(a.hi - 0.9433178485456247) < 1e-12);
        const Interval b = wilson_interval(0, 10);
        QCOMPARE(b.lo, 0.0);
        QVERIFY(std::abs(b.hi - 0.2775327998628892) < 1e-12);
        const Interval c = wilson_interval(10, 10);
        QCOMPARE(c.hi, 1.0);
        QVERIFY(std::abs(c.lo - (1.0 - 0.2775327998628892)) < 1e-12);
        const Interval d = wilson_interval(50, 200);
        QVERIFY(std::abs(d.lo - 0.19508168006817497) < 1e-12 && std::abs(d.hi - 0.31434098312045833) < 1e-12);
        const Interval e = wilson_interval(0, 0);
        QCOMPARE(e.lo, 0.0);
        QCOMPARE(e.hi, 1.0);
    }

    void extraction() {
        struct Case { const char* out; int n; int choice; AnswerHow how; };
        const Case cases[] = {
            {"so it is red. The answer is (B).", 4, 1, AnswerHow::regex},
            {"The answer is C", 4, 2, AnswerHow::regex},
            {"The answer is (D) and The answer is (A)", 4, 3, AnswerHow::regex},   // first match
            {"The answer is (E)", 4, 4, AnswerHow::regex},                       // past the choices: answered, wrong
            {"the answer is (B)", 4, 1, AnswerHow::fallback},                    // case matters: fallback finds B
            {"The answer is: B", 4, 1, AnswerHow::fallback},                     // no regex match (colon)
            {"I think (C) fits", 4, 2, AnswerHow::fallback},
            {"Alice chose D.", 4, 3, AnswerHow::fallback},                        // 'A' of Alice is not standalone
            {"DNA and E", 4, -1, AnswerHow::none},                               // E is past D; DNA not standalone
            {"B2 or xA", 2, -1, AnswerHow::none},
            {"", 4, -1, AnswerHow::none},
            {"The answer is (", 4, -1, AnswerHow::none},
        };
        for (const auto& c : cases) {
            const Extracted e = extract_answer(c.out, c.n);
            QVERIFY2(e.choice == c.choice && e.how == c.how, c.out);
        }
    }

    void random_set() {
        ModelShape shape = default_engine().info().shape;
        const auto a = random_channels(shape, 40, 7), b = random_channels(shape, 40, 7), c = random_channels(shape, 40, 8);
        QCOMPARE(a, b);
        QVERIFY(a != c);
        QCOMPARE(std::set<Neuron>(a.begin(), a.end()).size(), size_t(40));
        QVERIFY(std::is_sorted(a.begin(), a.end()));
        std::set<Module> modules;
        std::set<int> layers;
        for (const auto& n : a) {
            QVERIFY(n.layer >= 0 && n.layer < shape.layers);
            QVERIFY(n.channel >= 0 && n.channel < shape.module_width(n.module));
            modules.insert(n.module);
            layers.insert(n.layer);
        }
        QVERIFY(modules.size() >= 4);  // drawn over all sites, not one
        QVERIFY(layers.size() >= 3);
        // The whole population: every channel exactly once.
        ModelShape small;
        small.layers = 2;
        small.width.fill(3);
        const auto all = random_channels(small, 54, 1);
        QCOMPARE(std::set<Neuron>(all.begin(), all.end()).size(), size_t(54));
        QVERIFY(!error_of([&] { (void)random_channels(small, 55, 1); }).empty());
    }

    void ll_matches_reference() {
        const json g = golden();
        const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl");
        std::vector<BenchCondition> conds{{"unmasked", {}}, {"masked", golden_mask(g)}};
        BenchOptions o;
        o.method = BenchMethod::ll;
        const BenchReport r = run_benchmark(default_engine(), set, conds, o, null_progress());
        QCOMPARE(r.conditions.size(), size_t(2));
        bool differs = false;
        for (const auto& c : r.conditions) {
            const json& gc = g["conditions"][c.name];
            for (size_t i = 0; i < set.items.size(); ++i) {
                const ItemScore& s = c.items[i];
                const json& gi = gc["items"][i];
                QCOMPARE(s.tokens, gi["tokens"].get<std::vector<int>>());
                QCOMPARE(s.bytes, gi["bytes"].get<std::vector<int>>());
                const auto lp = gi["logprob"].get<std::vector<double>>();
                QCOMPARE(s.logprob.size(), lp.size());
                for (size_t k = 0; k < lp.size(); ++k) {
                    const double tol = 2e-4 * std::max(1.0, std::abs(lp[k]));
                    QVERIFY2(std::abs(s.logprob[k] - lp[k]) < tol,
                             (c.name + " item " + std::to_string(i) + " choice " + std::to_string(k) + ": " +
                              std::to_string(s.logprob[k]) + " vs " + std::to_string(lp[k])).c_str());
                    if (c.name == "masked" && std::abs(lp[k] - g["conditions"]["unmasked"]["items"][i]["logprob"][k].get<double>()) > 1e-2)
                        differs = true;
                }
                QCOMPARE(s.ll_pred, gi["ll_pred"].get<int>());
                QCOMPARE(s.ll_norm_pred, gi["ll_norm_pred"].get<int>());
            }
            QCOMPARE(c.overall.ll_acc.correct, gc["ll_correct"].get<int64_t>());
            QCOMPARE(c.overall.ll_acc_norm.correct, gc["ll_norm_correct"].get<int64_t>());
            QCOMPARE(c.overall.ll_acc.n, int64_t(6));
            const Interval w = wilson_interval(c.overall.ll_acc.correct, 6);
            QCOMPARE(c.overall.ll_acc.ci.lo, w.lo);
            // Per subject: t1, t2, t5 animals; t3, t4 numbers; the sixth has none.
            QCOMPARE(c.subjects.size(), size_t(2));
            QCOMPARE(c.subjects.at("animals").ll_acc.n + c.subjects.at("numbers").ll_acc.n, int64_t(5));
        }
        QVERIFY(differs);  // the mask changes the scores
        QCOMPARE(r.conditions[1].neurons.size(), size_t(4));
    }

    void gen_matches_reference() {
        const json g = golden();
        const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl");
        std::vector<BenchCondition> conds{{"unmasked", {}}, {"masked", golden_mask(g)}};
        BenchOptions o;
        o.method = BenchMethod::gen;
        o.max_new = 50;
        const BenchReport r = run_benchmark(default_engine(), set, conds, o, null_progress());
        for (const auto& c : r.conditions) {
            const json& gc = g["conditions"][c.name];
            int64_t fallback = 0, none = 0;
            for (size_t i = 0; i < set.items.size(); ++i) {
                const ItemScore& s = c.items[i];
                const json& gi = gc["items"][i];
                QCOMPARE(s.gen_text, gi["gen_text"].get<std::string>());
                QCOMPARE(s.gen_pred, gi["gen_pred"].get<int>());
                QCOMPARE(std::string(answer_how_name(s.gen_how)), gi["gen_how"].get<std::string>());
                QVERIFY(s.logprob.empty());  // gen only
                fallback += gi["gen_how"] == "fallback";
                none += gi["gen_how"] == "none";
            }
            QCOMPARE(c.overall.gen_fallback, fallback);
            QCOMPARE(c.overall.gen_no_answer, none);
            QCOMPARE(c.overall.gen_acc.n, int64_t(6));
        }
    }

    void deterministic_json() {
        const BenchSet set = load_benchmark(bench_dir() + "/astronomy_test.csv", 2);
        MaskSpec crit = parse_mask_spec("L5.down_proj:3,L0.act_fn:10");
        MaskSpec rnd;
        for (const auto& n : random_channels(default_engine().info().shape, 2, 42)) rnd.push_back({n, {}});
        std::vector<BenchCondition> conds{{"unmasked", {}}, {"critical", crit}, {"random", rnd}};
        BenchOptions o;
        o.max_new = 8;
        const std::string a = bench_report_to_json(run_benchmark(default_engine(), set, conds, o, null_progress()));
        const BenchReport rb = run_benchmark(default_engine(), set, conds, o, null_progress());
        QCOMPARE(a, bench_report_to_json(rb));
        const json j = json::parse(a);
        QCOMPARE(j["schema"].get<std::string>(), std::string(kBenchSchema));
        QCOMPARE(j["conditions"].size(), size_t(3));
        QCOMPARE(j["conditions"][2]["size"].get<int>(), 2);
        QCOMPARE(j["items"].size(), size_t(2));
        QVERIFY(j["conditions"][0]["overall"].contains("ll") && j["conditions"][0]["overall"].contains("gen"));
        QCOMPARE(j["conditions"][0]["subjects"].begin().key(), std::string("astronomy"));
        const std::string csv = bench_report_to_csv(rb);
        QVERIFY(csv.starts_with("condition,size,method,subject,"));
        QVERIFY(csv.find("random,2,gen,astronomy,") != std::string::npos);
        const std::string table = bench_report_table(rb);
        QVERIFY(table.find("critical") != std::string::npos && table.find("[") != std::string::npos);
    }

    void cancellation() {
        const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl");
        std::vector<BenchCondition> conds{{"unmasked", {}}};
        int reports = 0;
        Progress* self = nullptr;
        Progress p([&](std::string_view stage, double, std::string_view) {
            if (stage == "eval" && ++reports == 2) self->cancel();
        });
        self = &p;
        bool cancelled = false;
        try {
            (void)run_benchmark(default_engine(), set, conds, BenchOptions{}, p);
        } catch (const Cancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        QCOMPARE(reports, 2);
        Progress pre;
        pre.cancel();
        QVERIFY_THROWS_EXCEPTION(Cancelled, (void)run_benchmark(default_engine(), set, conds, BenchOptions{}, pre));
    }

    void options_errors() {
        const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl", 1);
        BenchOptions o;
        o.max_new = 0;
        QVERIFY(error_of([&] { (void)run_benchmark(default_engine(), set, {{"unmasked", {}}}, o, null_progress()); })
                    .find("max_new") != std::string::npos);
        QVERIFY(error_of([&] {
                    (void)run_benchmark(default_engine(), set, {{"c", parse_mask_spec("L99.down_proj:1")}}, BenchOptions{},
                                        null_progress());
                }).find("99") != std::string::npos);
        LoadOptions lo;
        lo.path = test::tests_dir() + "/fixtures/llama3";  // no tokenizer
        auto e = Engine::load(lo, null_progress());
        QVERIFY(error_of([&] { (void)run_benchmark(*e, set, {{"unmasked", {}}}, BenchOptions{}, null_progress()); })
                    .find("tokenizer") != std::string::npos);
    }

    void cli() {
        const QString out = QString::fromStdString(scratch("cli.json")), csv = QString::fromStdString(scratch("cli.csv"));
        QFile::remove(out);
        QProcess p;
        const QStringList args{"eval", "--model", "default", "--bench", QString::fromStdString(bench_dir() + "/tiny.jsonl"),
                               "--mask", "L5.down_proj:3,L0.act_fn:10", "--limit", "3", "--max-new", "6", "--out", out,
                               "--csv", csv, "--quiet"};
        p.start(ACHILLES_CLI, args);
        QVERIFY(p.waitForFinished(300000));
        const QString stdout_text = QString::fromUtf8(p.readAllStandardOutput());
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        QVERIFY(stdout_text.contains("unmasked") && stdout_text.contains("critical") && stdout_text.contains("random"));
        std::ifstream in(out.toStdString());
        const json j = json::parse(in);
        QCOMPARE(j["benchmark"]["rows"].get<int>(), 3);
        QCOMPARE(j["conditions"].size(), size_t(3));
        QCOMPARE(j["conditions"][1]["name"].get<std::string>(), std::string("critical"));
        QCOMPARE(j["conditions"][2]["name"].get<std::string>(), std::string("random"));
        QCOMPARE(j["conditions"][2]["size"].get<int>(), 2);
        QVERIFY(QFile::exists(csv));
        // Bad input through the CLI: a message naming the file, line and field; exit code 1.
        const std::string bad = write_temp("bad.jsonl", "{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n");
        QProcess q;
        q.start(ACHILLES_CLI, {"eval", "--model", "default", "--bench", QString::fromStdString(bad), "--quiet"});
        QVERIFY(q.waitForFinished(60000));
        QCOMPARE(q.exitCode(), 1);
        const QString err = QString::fromUtf8(q.readAllStandardError());
        QVERIFY2(err.contains("bad.jsonl:1") && err.contains("choices") && err.contains("fewer than 2"), qPrintable(err));
    }

    void chat_template() {
        // A template that emits the BOS text and one that does not: the scored sequences are the rendered
        // prompt's tokens with nothing prepended (transformers' rule), so BOS once or not at all.
        for (const bool emits_bos : {true, false}) {
            const std::string tpl = emits_bos ? "{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]"
                                              : "<<{% for m in messages %}{{ m.role }}: {{ m.content }}{% endfor %}>>"
                                                "{% if add_generation_prompt %}\nassistant:{% endif %}";
            const std::string dir = chat_model(emits_bos ? "bos" : "nobos", tpl);
            LoadOptions lo;
            lo.path = dir;
            const auto engine = Engine::load(lo, null_progress());
            const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl", 2);
            BenchOptions o;
            o.method = BenchMethod::both;
            o.max_new = 4;
            o.chat_template = std::make_shared<const ChatTemplate>(load_chat_template(dir));
            const BenchReport r = run_benchmark(*engine, set, {{"unmasked", {}}}, o, null_progress());
            QCOMPARE(r.chat_template, dir + "/tokenizer_config.json");
            const Tokenizer* tok = engine->tokenizer();
            const int bos = engine->info().bos_id;
            QVERIFY(bos >= 0);
            EncodeOptions plain;
            plain.add_special = false;
            for (size_t i = 0; i < set.items.size(); ++i) {
                const BenchItem& it = set.items[i];
                const std::string ctx = o.chat_template->render_user_prompt(ll_context(it));
                QCOMPARE(ctx.rfind("<s>", 0) == 0, emits_bos);
                const std::vector<int> ctx_ids = tok->encode(ctx, plain);
                QCOMPARE(ctx_ids[0] == bos, emits_bos);  // the BOS text is the BOS token
                for (size_t k = 0; k < it.choices.size(); ++k) {
                    const std::vector<int> whole = tok->encode(ctx + ll_continuation(it, static_cast<int>(k)), plain);
                    std::vector<int> seq;
                    seq.insert(seq.end(), ctx_ids.begin(), ctx_ids.end());
                    seq.insert(seq.end(), whole.begin() + static_cast<ptrdiff_t>(ctx_ids.size()), whole.end());
                    QCOMPARE(seq[0] == bos, emits_bos);
                    QVERIFY(seq[1] != bos);
                    const int cl = static_cast<int>(whole.size() - ctx_ids.size());
                    const PplResult pr = engine->perplexity(seq, {}, null_progress());
                    double lp = 0;
                    for (size_t t = seq.size() - 1 - static_cast<size_t>(cl); t < seq.size() - 1; ++t) lp -= pr.nll[t];
                    const double got = r.conditions[0].items[i].logprob[k];
                    QVERIFY2(std::abs(got - lp) < 1e-9, (std::to_string(got) + " vs " + std::to_string(lp)).c_str());
                }
                // gen: the same greedy output as decoding the rendered prompt by hand.
                std::vector<int> prompt = tok->encode(o.chat_template->render_user_prompt(gen_prompt(it)), plain);
                GenerateOptions go;
                go.max_new = 4;
                go.greedy = true;
                go.alternatives = 0;
                go.stop_at_eos = true;
                QCOMPARE(r.conditions[0].items[i].gen_text, engine->generate(prompt, go, {}, null_progress()).text);
            }
            const json j = json::parse(bench_report_to_json(r));
            QCOMPARE(j["options"]["chat_template"].get<std::string>(), dir + "/tokenizer_config.json");
            QVERIFY(j["protocol"].contains("chat_template"));
            QVERIFY(bench_report_table(r).find("chat template of " + dir) != std::string::npos);
        }
        // Without one: null, and no protocol entry.
        const BenchSet set = load_benchmark(bench_dir() + "/tiny.jsonl", 1);
        BenchOptions o;
        o.method = BenchMethod::ll;
        const json j = json::parse(bench_report_to_json(run_benchmark(default_engine(), set, {{"unmasked", {}}}, o, null_progress())));
        QVERIFY(j["options"]["chat_template"].is_null());
        QVERIFY(!j["protocol"].contains("chat_template"));
    }

    void chat_template_cli() {
        const std::string bench = bench_dir() + "/tiny.jsonl";
        auto run = [&](const std::string& model, QString* err) {
            QProcess p;
            const QString out = QString::fromStdString(scratch("chat_cli.json"));
            QFile::remove(out);
            p.start(ACHILLES_CLI, {"eval", "--model", QString::fromStdString(model), "--bench", QString::fromStdString(bench),
                                   "--limit", "2", "--method", "ll", "--chat-template", "--out", out, "--quiet"});
            p.waitForFinished(300000);
            if (err) *err = QString::fromUtf8(p.readAllStandardError());
            return p.exitCode();
        };
        QString err;
        const std::string dir = chat_model("cli", "{{ bos_token }}{{ messages[0].content }}");
        QCOMPARE(run(dir, &err), 0);
        const json j = json::parse(std::ifstream(scratch("chat_cli.json")));
        QCOMPARE(j["options"]["chat_template"].get<std::string>(), dir + "/tokenizer_config.json");
        // generate --chat-template: the rendered prompt, with BOS once (the template emits it).
        {
            QProcess p;
            p.start(ACHILLES_CLI, {"generate", "--model", QString::fromStdString(dir), "--prompt", "Once upon", "--max-new", "3",
                                   "--chat-template", "--json", "--quiet"});
            QVERIFY(p.waitForFinished(120000));
            QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
            const json g = json::parse(p.readAllStandardOutput().toStdString());
            const auto ids = g["prompt_ids"].get<std::vector<int>>();
            QVERIFY(ids.size() > 2);
            QCOMPARE(ids[0], default_engine().info().bos_id);
            QVERIFY(ids[1] != ids[0]);
            QProcess q;
            q.start(ACHILLES_CLI, {"generate", "--model", "default", "--prompt", "x", "--chat-template", "--quiet"});
            QVERIFY(q.waitForFinished(120000));
            QCOMPARE(q.exitCode(), 1);
            QVERIFY(QString::fromUtf8(q.readAllStandardError()).contains("no chat template"));
        }
        // No template: a clear message and exit 1 (before the model loads, and with --model default too).
        for (const std::string& m : {test::source_dir() + "/resources/default-model", std::string("default")}) {
            QCOMPARE(run(m, &err), 1);
            QVERIFY2(err.contains("tokenizer_config.json: field 'chat_template'") && err.contains("no chat template"), qPrintable(err));
        }
        // An unsupported feature: named with its line and column.
        const std::string bad = chat_model("bad", "{{ bos_token }}\n{% macro m() %}{% endmacro %}");
        QCOMPARE(run(bad, &err), 1);
        QVERIFY2(err.contains("field 'chat_template'") && err.contains("unsupported feature: the 'macro' tag at line 2, column 4"),
                 qPrintable(err));
    }

    void shared_benchmarks() {
        const std::string arc = test::shared_path("benchmarks/arc_easy_test.jsonl");
        const std::string mmlu = test::shared_path("benchmarks/mmlu_test.jsonl");
        if (arc.empty() || mmlu.empty()) QSKIP("shared/benchmarks/arc_easy_test.jsonl or mmlu_test.jsonl not present");
        const BenchSet a = load_benchmark(arc);
        QCOMPARE(a.items.size(), size_t(2376));  // README: 2376 rows
        QCOMPARE(a.items[0].id, std::string("Mercury_417466"));
        QCOMPARE(a.items[0].answer, 0);
        const BenchSet m = load_benchmark(mmlu, 300);
        QCOMPARE(m.items.size(), size_t(300));
        QCOMPARE(m.items[0].subject, std::string("abstract_algebra"));
        QCOMPARE(m.items[0].answer, 1);  // README: the first abstract_algebra answer is B
        QCOMPARE(m.items[1].answer, 2);
        BenchSet few = a;
        few.items.resize(3);
        BenchOptions o;
        o.method = BenchMethod::ll;
        const BenchReport r = run_benchmark(default_engine(), few, {{"unmasked", {}}}, o, null_progress());
        QCOMPARE(r.conditions[0].overall.ll_acc.n, int64_t(3));
        for (const auto& s : r.conditions[0].items)
            for (double v : s.logprob) QVERIFY(std::isfinite(v) && v < 0);
    }
};

QTEST_GUILESS_MAIN(TestBenchmark)
#include "test_benchmark.moc"
