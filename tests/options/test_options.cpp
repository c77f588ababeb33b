// SPDX-License-Identifier: GPL-3.0-or-later
// The one description of the search options: every row is bound to its own member, JSON -> struct
// -> JSON is exact (as numbers and with 64-bit values as strings), the CLI flags come from the
// table and give the same struct, and absurd values are rejected with a message naming the field.
#include "achilles/error.h"
#include "achilles/options.h"
#include "achilles/results.h"
#include "search_flags.h"
#include <QtTest>
#include <cmath>
#include <limits>

using namespace achilles;

namespace {
// A valid value of f different from its default.
OptionValue otherValue(const SearchOptionField& f) {
    switch (f.type) {
        case OptionType::real: return std::get<double>(f.default_value()) == f.min ? f.max : f.min;
        case OptionType::integer: return int64_t(std::get<int64_t>(f.default_value()) == int64_t(f.max) ? f.min : f.max);
        case OptionType::unsigned64: return uint64_t(18446744073709551557ull);
        case OptionType::boolean: return !std::get<bool>(f.default_value());
        case OptionType::choice: return f.choices.back();
        case OptionType::text: return std::string("/data/wiki ü.raw");
        case OptionType::list: return std::vector<std::string>(f.choices.rbegin(), f.choices.rend());
    }
    return {};
}

SearchOptions sample() {
    SearchOptions o;
    o.alpha = 2.5;
    o.samples = 7;
    o.seed = 18446744073709551615ull;
    o.epsilon = 0.1 + 0.2;  // not exactly 0.3
    o.step = 3;
    o.max_steps = 99;
    o.mode = SearchMode::channel_mean;
    o.strategy = SearchStrategy::bisect;
    o.minimize = true;
    o.top = 500;
    o.batch = 4;
    o.max_tokens = 64;
    o.eval_dataset = "/data/wiki.raw";
    o.eval_max_samples = 10;
    o.baselines = {"random", "gradient"};
    o.random_runs = 3;
    o.sweep = 20;
    return o;
}

// Parses argv-style flags into SearchOptions through the table-driven CLI flags.
SearchOptions parseFlags(std::vector<std::string> args) {
    CLI::App app;
    achilles::cli::SearchFlags flags;
    flags.add(&app);
    std::vector<const char*> argv{"search"};
    for (const auto& a : args) argv.push_back(a.c_str());
    app.parse(int(argv.size()), argv.data());
    return flags.options();
}

void expectFieldError(const std::function<void()>& f, const std::string& field) {
    try {
        f();
    } catch (const Error& e) {
        QVERIFY2(e.field() == field, (std::string(e.what()) + "  [wanted field " + field + "]").c_str());
        return;
    }
    QFAIL(("no Error for " + field).c_str());
}
}  // namespace

class TestOptions : public QObject {
    Q_OBJECT
private slots:
    void everyRowIsBoundToItsOwnMember() {
        const SearchOptions def;
        std::set<std::string> keys, flags;
        for (const SearchOptionField& f : search_option_fields()) {
            QVERIFY(keys.insert(std::string(f.key)).second);
            QVERIFY(flags.insert(std::string(f.flag)).second);
            QVERIFY2(f.problem(f.default_value()).empty(), std::string(f.key).c_str());  // defaults are valid
            const OptionValue v = otherValue(f);
            QVERIFY2(f.problem(v).empty(), std::string(f.key).c_str());
            SearchOptions o;
            f.set(o, v);
            QVERIFY2(!(o == def), std::string(f.key).c_str());  // the row writes a member...
            QVERIFY(f.get(o) == v);                             // ...and reads back the same one
            for (const SearchOptionField& g : search_option_fields())
                if (g.key != f.key) QVERIFY2(g.get(o) == g.get(def), (std::string(f.key) + " wrote " + std::string(g.key)).c_str());
        }
        QCOMPARE(int(search_option_fields().size()), 19);
        validate(def);
    }

    void jsonRoundTrip() {
        const SearchOptions o = sample();
        for (bool asString : {false, true}) {
            const std::string text = search_options_to_json(o, asString);
            const SearchOptions back = search_options_from_json(text, "mem");
            QVERIFY(back == o);
            QCOMPARE(back.epsilon, 0.1 + 0.2);  // bit-exact
            QCOMPARE(back.seed, 18446744073709551615ull);
            QCOMPARE(search_options_to_json(back, asString), text);  // JSON -> struct -> JSON is stable
        }
        QVERIFY(search_options_to_json(o, true).find("\"seed\":\"18446744073709551615\"") != std::string::npos);
        QVERIFY(search_options_to_json(o, false).find("\"seed\":18446744073709551615") != std::string::npos);
        // Key order is the table's, and the result document embeds the same object.
        const std::string text = search_options_to_json(o);
        size_t at = 0;
        for (const SearchOptionField& f : search_option_fields()) {
            const size_t p = text.find("\"" + std::string(f.key) + "\":");
            QVERIFY2(p != std::string::npos && p >= at, std::string(f.key).c_str());
            at = p;
        }
        SearchResult r;
        r.options = o;
        QVERIFY(result_from_json(result_to_json(r), "mem").options == o);
        // Absent keys keep the defaults; unknown keys are ignored.
        QVERIFY(search_options_from_json(R"({"future_option": 1})", "mem") == SearchOptions{});
        QCOMPARE(search_options_from_json(R"({"samples": 8.0})", "mem").samples, 8);  // an integral double
    }

    void jsonRejectsAbsurdValues_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("field");
        QTest::newRow("seed -1") << R"({"seed": -1})" << "options.seed";
        QTest::newRow("seed text") << R"({"seed": "many"})" << "options.seed";
        QTest::newRow("alpha 1e308") << R"({"alpha": 1e308})" << "options.alpha";
        QTest::newRow("alpha nan") << R"({"alpha": "nan"})" << "options.alpha";
        QTest::newRow("samples -1") << R"({"samples": -1})" << "options.samples";
        QTest::newRow("samples 1e300") << R"({"samples": 1e300})" << "options.samples";
        QTest::newRow("samples 2.5") << R"({"samples": 2.5})" << "options.samples";
        QTest::newRow("sweep 2e9") << R"({"sweep": 2000000000})" << "options.sweep";
        QTest::newRow("batch huge") << R"({"batch": 100000})" << "options.batch";
        QTest::newRow("mode") << R"({"mode": "fastest"})" << "options.mode";
        QTest::newRow("baselines") << R"({"baselines": ["random", "oracle"]})" << "options.baselines";
        QTest::newRow("baselines twice") << R"({"baselines": ["random", "random"]})" << "options.baselines";
        QTest::newRow("minimize") << R"({"minimize": 1})" << "options.minimize";
        QTest::newRow("eval_dataset") << R"({"eval_dataset": 3})" << "options.eval_dataset";
    }
    void jsonRejectsAbsurdValues() {
        QFETCH(QString, json);
        QFETCH(QString, field);
        expectFieldError([&] { search_options_from_json(json.toStdString(), "doc.json"); }, field.toStdString());
        try {
            search_options_from_json(json.toStdString(), "doc.json");
        } catch (const Error& e) {
            QCOMPARE(e.file(), std::string("doc.json"));
        }
    }

    void validateUsesTheRanges() {
        SearchOptions o;
        o.alpha = 1e308;
        expectFieldError([&] { validate(o); }, "alpha");
        o = {};
        o.sweep = 2000000000;
        expectFieldError([&] { validate(o); }, "sweep");
        o = {};
        o.epsilon = std::numeric_limits<double>::infinity();
        expectFieldError([&] { validate(o); }, "epsilon");
        o = {};
        o.samples = -3;
        try {
            validate(o);
            QFAIL("no Error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("-3") != std::string::npos, e.what());  // the value is named too
        }
    }

    void cliFlagsGiveTheStruct() {
        const SearchOptions o = parseFlags({"--alpha", "2.5", "--samples", "7", "--seed", "18446744073709551615",
                                            "--epsilon", "0.30000000000000004", "--step", "3", "--max-steps", "99",
                                            "--mode", "channel_mean", "--strategy", "bisect", "--minimize", "--top", "500",
                                            "--batch", "4", "--max-tokens", "64", "--eval-dataset", "/data/wiki.raw",
                                            "--eval-max-samples", "10", "--baselines", "random, gradient",
                                            "--random-runs", "3", "--sweep", "20"});
        QVERIFY(o == sample());
        QVERIFY(parseFlags({}) == SearchOptions{});  // no flags: the struct's defaults
        // Every row of the table is a flag: each one alone changes exactly its field.
        for (const SearchOptionField& f : search_option_fields()) {
            const OptionValue v = otherValue(f);
            std::vector<std::string> args{std::string(f.flag)};
            if (f.type != OptionType::boolean) args.push_back(f.format(v));
            const SearchOptions got = parseFlags(args);
            QVERIFY2(f.get(got) == v, std::string(f.flag).c_str());
            SearchOptions want;
            f.set(want, v);
            QVERIFY(got == want);
        }
    }

    void cliRejectsAbsurdValues_data() {
        QTest::addColumn<QString>("flag");
        QTest::addColumn<QString>("value");
        QTest::addColumn<bool>("usage");  // a usage error (not a value of the type) or a range error
        QTest::newRow("seed -1") << "--seed" << "-1" << false;
        QTest::newRow("seed 2^64") << "--seed" << "18446744073709551616" << true;
        QTest::newRow("alpha 1e308") << "--alpha" << "1e308" << false;
        QTest::newRow("alpha inf") << "--alpha" << "inf" << false;
        QTest::newRow("alpha abc") << "--alpha" << "abc" << true;
        QTest::newRow("sweep 2e9") << "--sweep" << "2e9" << true;
        QTest::newRow("sweep 2000000000") << "--sweep" << "2000000000" << false;
        QTest::newRow("samples -5") << "--samples" << "-5" << false;
        QTest::newRow("samples 1e300") << "--samples" << "1e300" << true;
        QTest::newRow("samples huge") << "--samples" << "99999999999999999999999" << true;
        QTest::newRow("top 0") << "--top" << "0" << false;
        QTest::newRow("mode") << "--mode" << "fastest" << false;
        QTest::newRow("baselines") << "--baselines" << "random,psychic" << false;
    }
    void cliRejectsAbsurdValues() {
        QFETCH(QString, flag);
        QFETCH(QString, value);
        QFETCH(bool, usage);
        try {
            parseFlags({flag.toStdString(), value.toStdString()});
            QFAIL("accepted");
        } catch (const CLI::ValidationError& e) {
            QVERIFY2(usage, e.what());
            QVERIFY2(std::string(e.what()).find(flag.toStdString()) != std::string::npos, e.what());
        } catch (const Error& e) {
            QVERIFY2(!usage, e.what());
            QCOMPARE(QString::fromStdString(e.field()), flag);
        }
    }

    void textParsing() {
        const SearchOptionField& seed = search_option_field("seed");
        QVERIFY(seed.parse("42") == OptionValue(uint64_t(42)));
        QVERIFY(!seed.problem(seed.parse("-1")).empty());  // kept signed, never wrapped to 2^64-1
        QVERIFY(!seed.syntax_problem("4x").empty());
        const SearchOptionField& alpha = search_option_field("alpha");
        QCOMPARE(alpha.format(alpha.parse("0.30000000000000004")), std::string("0.30000000000000004"));
        QVERIFY_THROWS_EXCEPTION(Error, search_option_field("nope"));
        QCOMPARE(dtype_names(), (std::vector<std::string>{"auto", "f32", "f16", "bf16"}));
        check_dtype("bf16", "x", "dtype");
        expectFieldError([] { check_dtype("f8", "command line", "--dtype"); }, "--dtype");
    }
};

QTEST_MAIN(TestOptions)
#include "test_options.moc"
