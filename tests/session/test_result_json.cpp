// SPDX-License-Identifier: GPL-3.0-or-later
// The result document achilles.result/1: exact round trip, determinism, clear errors,
// option validation and atomic writes.
#include "achilles/error.h"
#include "achilles/results.h"
#include "test_paths.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sys/resource.h>
#include <unistd.h>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

SearchResult sample() {
    SearchResult r;
    r.model = {"/models/tiny", "0123456789abcdef", "fedcba9876543210"};
    r.model_type = "llama";
    r.text = "Once upon a time, \"there\" was a \u00e9l\u00e8ve \xF0\x9F\x98\x80 with a tab\t.";
    r.ids = {1, 415, 2501, 0, 31999};
    r.options.alpha = 2.5;
    r.options.samples = 7;
    r.options.seed = 18446744073709551615ull;  // full uint64 range
    r.options.epsilon = 0.1 + 0.2;             // not exactly 0.3
    r.options.step = 3;
    r.options.max_steps = 99;
    r.options.mode = SearchMode::channel_mean;
    r.options.strategy = SearchStrategy::bisect;
    r.options.minimize = true;
    r.options.top = 500;
    r.options.batch = 4;
    r.options.max_tokens = 64;
    r.options.eval_dataset = "/data/wiki.raw";
    r.options.eval_max_samples = 10;
    r.options.baselines = {"random", "gradient"};
    r.options.random_runs = 3;
    r.options.sweep = 20;
    r.layers = 5;
    r.total_entries = 123456789012LL;
    r.ppl_orig = 12.345678901234567;
    r.ranking = {{{3, Module::down_proj, 7}, 4, 1e300},
                 {{0, Module::o_proj, 12}, 0, 2.0 / 3.0},
                 {{4, Module::act_fn, 171}, -1, -0.0},
                 {{1, Module::post_attention_layernorm, 63}, 2, 5e-324}};
    r.curve = {{1, 1, 13.5, 0.04}, {2, 2, 1e5, 3.9}, {3, 2, std::numeric_limits<double>::infinity(), 100}};
    r.faithful = {"faithful", 2, {{3, Module::down_proj, 7}, {0, Module::o_proj, 12}}, 1e5, 3.9, true, 3};
    r.bisected = CriticalSet{"bisected", 2, {{3, Module::down_proj, 7}}, 9e4, 3.86, true, 5};
    r.forwards_linear = 3;
    r.forwards_literal = 1000;
    r.evaluations = {{"faithful", "/data/wiki.raw", 10, 5000, 20.5, 1.5e6}};
    r.sweep = {{"ours", {{0, 1.09, 0}, {1, 2.5, 0}}}, {"random", {{0, 1.09, 0.001}, {1, 1.1, 0.25}}}};
    r.timings = {{"stage1", 1.25}, {"stage2", 0.5}};
    r.libtorch_version = "1.13.0";
    r.app_version = "0.1.0";
    return r;
}

void compare(const SearchResult& a, const SearchResult& b) {
    QCOMPARE(a.schema, b.schema);
    QVERIFY(a.model == b.model);
    QCOMPARE(a.model_type, b.model_type);
    QCOMPARE(a.text, b.text);
    QCOMPARE(a.ids, b.ids);
    QVERIFY(a.options == b.options);
    QCOMPARE(a.layers, b.layers);
    QCOMPARE(a.total_entries, b.total_entries);
    QCOMPARE(a.ppl_orig, b.ppl_orig);
    QVERIFY(a.ranking == b.ranking);
    QVERIFY(a.curve == b.curve);
    QVERIFY(a.faithful == b.faithful);
    QVERIFY(a.bisected == b.bisected);
    QVERIFY(a.minimal == b.minimal);
    QCOMPARE(a.forwards_linear, b.forwards_linear);
    QCOMPARE(a.forwards_literal, b.forwards_literal);
    QVERIFY(a.evaluations == b.evaluations);
    QVERIFY(a.sweep == b.sweep);
    QVERIFY(a.timings == b.timings);
    QCOMPARE(a.libtorch_version, b.libtorch_version);
    QCOMPARE(a.app_version, b.app_version);
}

void expect_error(const std::string& text, const std::string& field) {
    try {
        result_from_json(text, "res.json");
    } catch (const Error& e) {
        const std::string msg = e.what();
        QVERIFY2(msg.find("res.json") != std::string::npos, msg.c_str());
        if (!field.empty())
            QVERIFY2(msg.find("'" + field + "'") != std::string::npos, (msg + "  [wanted field " + field + "]").c_str());
        return;
    }
    QFAIL(("no Error for field " + field).c_str());
}

// Edits a valid document through Qt's JSON (independent of the code under test).
std::string edit(const std::function<void(QJsonObject&)>& f) {
    SearchResult r = sample();
    r.options.seed = 42;  // Qt's JSON holds integers as qint64; 2^64-1 would become a double
    QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(result_to_json(r))).object();
    f(o);
    return QJsonDocument(o).toJson().toStdString();
}

fs::path scratch_dir(const std::string& name) {
    fs::path d = fs::path(test::build_scratch()) / "session" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

class TestResultJson : public QObject {
    Q_OBJECT
private slots:
    void enums();
    void validateOptions_data();
    void validateOptions();
    void roundTrip();
    void deterministic();
    void documentShape();
    void nonFinite();
    void criticalSetFeedsBackAsMask();
    void badDocuments();
    void olderSchemaOpensWithWarning();
    void atomicWrite();
    void atomicWriteFailureKeepsOldFile();
    void readFileErrors();
    void mutationsNeverCrash();
};

void TestResultJson::enums() {
    QCOMPARE(std::string(to_string(SearchMode::paper)), std::string("paper"));
    QCOMPARE(std::string(to_string(SearchMode::channel_max)), std::string("channel-max"));
    QCOMPARE(std::string(to_string(SearchMode::channel_mean)), std::string("channel-mean"));
    QCOMPARE(std::string(to_string(SearchStrategy::linear)), std::string("linear"));
    QCOMPARE(std::string(to_string(SearchStrategy::bisect)), std::string("bisect"));
    for (auto m : {SearchMode::paper, SearchMode::channel_max, SearchMode::channel_mean})
        QVERIFY(search_mode_from(to_string(m)) == m);
    for (auto s : {SearchStrategy::linear, SearchStrategy::bisect}) QVERIFY(search_strategy_from(to_string(s)) == s);
    QVERIFY_THROWS_EXCEPTION(Error, search_mode_from("fast"));
    QVERIFY_THROWS_EXCEPTION(Error, search_strategy_from("binary"));
    try {
        search_mode_from("fast");
    } catch (const Error& e) {
        QCOMPARE(e.field(), std::string("mode"));
    }
}

void TestResultJson::validateOptions_data() {
    QTest::addColumn<QString>("field");
    QTest::addColumn<int>("which");
    const char* fields[] = {"alpha", "alpha", "samples", "epsilon", "step", "max_steps", "top",
                            "batch", "max_tokens", "random_runs", "sweep", "baselines", "baselines", "eval_max_samples",
                            "epsilon"};
    for (int i = 0; i < int(std::size(fields)); ++i)
        QTest::newRow((std::to_string(i) + ":" + fields[i]).c_str()) << QString(fields[i]) << i;
}

void TestResultJson::validateOptions() {
    QFETCH(QString, field);
    QFETCH(int, which);
    SearchOptions o;
    validate(o);  // the defaults are valid
    switch (which) {
        case 0: o.alpha = 0; break;
        case 1: o.alpha = std::nan(""); break;
        case 2: o.samples = 0; break;
        case 3: o.epsilon = -1; break;
        case 4: o.step = 0; break;
        case 5: o.max_steps = 0; break;
        case 6: o.top = 0; break;
        case 7: o.batch = -1; break;
        case 8: o.max_tokens = 1; break;
        case 9: o.random_runs = 0; break;
        case 10: o.sweep = -1; break;
        case 11: o.baselines = {"random", "oracle"}; break;
        case 12: o.baselines = {"random", "random"}; break;
        case 13: o.eval_max_samples = -2; break;
        case 14: o.epsilon = std::numeric_limits<double>::infinity(); break;
    }
    try {
        validate(o);
        QFAIL("no Error");
    } catch (const Error& e) {
        QCOMPARE(QString::fromStdString(e.field()), field);
        QCOMPARE(e.file(), std::string("search options"));
    }
}

void TestResultJson::roundTrip() {
    const SearchResult r = sample();
    const std::string text = result_to_json(r);
    SearchResult back = result_from_json(text, "mem");
    compare(back, r);
    QCOMPARE(back.options.epsilon, 0.1 + 0.2);  // bit-exact doubles
    QCOMPARE(back.ranking[0].importance, 1e300);
    QCOMPARE(back.ranking[3].importance, 5e-324);
    QVERIFY(std::signbit(back.ranking[2].importance));  // -0.0 stays negative zero
    QCOMPARE(back.options.seed, 18446744073709551615ull);
    QVERIFY(!back.minimal.has_value());
    // Compact form too, and a minimal set.
    SearchResult m = r;
    m.minimal = CriticalSet{"minimal", 0, {{0, Module::q_proj, 1}}, 1e4, 3.1, true, 12};
    compare(result_from_json(result_to_json(m, true, -1), "mem"), m);
    QVERIFY(result_to_json(m, true, -1).find('\n') == result_to_json(m, true, -1).size() - 1);
}

void TestResultJson::deterministic() {
    const SearchResult r = sample();
    const std::string a = result_to_json(r);
    QCOMPARE(result_to_json(sample()), a);                    // same struct, same bytes
    QCOMPARE(result_to_json(result_from_json(a, "mem")), a);  // stable through a round trip
    // Timings are excluded on request, so runs that differ only in timings compare equal.
    SearchResult slow = r;
    slow.timings = {{"stage1", 99.0}, {"extra", 1.0}};
    QVERIFY(result_to_json(slow) != a);
    QCOMPARE(result_to_json(slow, false), result_to_json(r, false));
    QVERIFY(result_to_json(r, false).find("\"timings\"") == std::string::npos);
    QVERIFY(result_from_json(result_to_json(r, false), "mem").timings.empty());
}

void TestResultJson::documentShape() {
    // Read back with Qt's JSON parser: the schema the GUI and scripts rely on.
    QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(result_to_json(sample()))).object();
    QCOMPARE(o["schema"].toString(), QString("achilles.result/2"));
    QCOMPARE(o["model"].toObject()["config_hash"].toString(), QString("0123456789abcdef"));
    QCOMPARE(o["model"].toObject()["header_hash"].toString(), QString("fedcba9876543210"));
    QCOMPARE(o["model"].toObject()["path"].toString(), QString("/models/tiny"));
    QCOMPARE(o["options"].toObject()["mode"].toString(), QString("channel-mean"));
    QCOMPARE(o["options"].toObject()["strategy"].toString(), QString("bisect"));
    QCOMPARE(o["options"].toObject()["baselines"].toArray(), (QJsonArray{"random", "gradient"}));
    QJsonObject e0 = o["ranking"].toArray()[0].toObject();
    QCOMPARE(e0.keys(), (QStringList{"channel", "importance", "layer", "module", "position"}));
    QCOMPARE(e0["layer"].toInt(), 3);
    QCOMPARE(e0["module"].toString(), QString("down_proj"));
    QCOMPARE(e0["channel"].toInt(), 7);
    QCOMPARE(e0["position"].toInt(), 4);
    QJsonArray fn = o["faithful"].toObject()["neurons"].toArray();
    QCOMPARE(fn.size(), 2);
    QCOMPARE(fn[1].toObject().keys(), (QStringList{"channel", "layer", "module"}));
    QCOMPARE(fn[1].toObject()["module"].toString(), QString("o_proj"));
    QVERIFY(o.contains("bisected"));
    QVERIFY(!o.contains("minimal"));
    QCOMPARE(o["text"].toString(), QString::fromUtf8(sample().text.c_str()));
    QCOMPARE(o["ids"].toArray().size(), 5);
    QCOMPARE(o["libtorch_version"].toString(), QString("1.13.0"));
    QCOMPARE(o["timings"].toObject()["stage1"].toDouble(), 1.25);
    // rate = faithful size / total entries
    QCOMPARE(o["rate"].toDouble(), 2.0 / 123456789012.0);
    QCOMPARE(sample().rate(), 2.0 / 123456789012.0);
}

void TestResultJson::nonFinite() {
    SearchResult r = sample();
    r.ppl_orig = std::numeric_limits<double>::quiet_NaN();
    r.faithful.delta = -std::numeric_limits<double>::infinity();
    const std::string text = result_to_json(r);
    QVERIFY(text.find("\"inf\"") != std::string::npos);
    QVERIFY(text.find("\"-inf\"") != std::string::npos);
    QVERIFY(text.find("\"nan\"") != std::string::npos);
    SearchResult back = result_from_json(text, "mem");
    QVERIFY(std::isnan(back.ppl_orig));
    QVERIFY(std::isinf(back.faithful.delta) && back.faithful.delta < 0);
    QVERIFY(std::isinf(back.curve[2].ppl) && back.curve[2].ppl > 0);
}

void TestResultJson::criticalSetFeedsBackAsMask() {
    const SearchResult r = sample();
    const std::string mask = result_mask_json(r.faithful);
    MaskSpec spec = parse_mask_spec(mask);
    QCOMPARE(spec.size(), size_t(2));
    QVERIFY(spec[0].neuron == (Neuron{3, Module::down_proj, 7}));
    QVERIFY(spec[1].neuron == (Neuron{0, Module::o_proj, 12}));
    QVERIFY(spec[0].positions.empty());
    // A saved document's "faithful" object is itself accepted as a mask spec ({"neurons": [...]}).
    QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(result_to_json(r))).object();
    const std::string faithful = QJsonDocument(o["faithful"].toObject()).toJson().toStdString();
    MaskSpec again = parse_mask_spec(faithful);
    QCOMPARE(again.size(), size_t(2));
    QVERIFY(again[0].neuron == spec[0].neuron && again[1].neuron == spec[1].neuron);
}

// A schema-1 document (whose "act" site was act_fn(gate)*up) still opens: its "act" entries read
// as act_fn (a mask on either zeroes the same down_proj input), and the reader says why the
// importances differ from paper mode. A schema-2 document carries no warning.
void TestResultJson::olderSchemaOpensWithWarning() {
    const SearchResult now = result_from_json(result_to_json(sample()), "new.json");
    QVERIFY(now.warnings.empty());
    const std::string old = edit([](QJsonObject& o) {
        o["schema"] = "achilles.result/1";
        QJsonArray rk = o["ranking"].toArray();
        QJsonObject e = rk[2].toObject();
        QCOMPARE(e["module"].toString(), QString("act_fn"));
        e["module"] = "act";
        rk[2] = e;
        o["ranking"] = rk;
    });
    const SearchResult r = result_from_json(old, "old.json");
    QCOMPARE(r.schema, std::string("achilles.result/1"));
    QCOMPARE(r.ranking.at(2).neuron, (Neuron{4, Module::act_fn, 171}));
    QCOMPARE(int(r.warnings.size()), 1);
    const std::string& w = r.warnings[0];
    QVERIFY2(w.find("old.json") != std::string::npos && w.find("mlp.act_fn") != std::string::npos &&
                 w.find("act_fn(gate)*up") != std::string::npos, w.c_str());
    // Written back, it keeps the schema it was computed under.
    QVERIFY(result_to_json(r).find("\"achilles.result/1\"") != std::string::npos);
}

void TestResultJson::badDocuments() {
    expect_error(R"({"schema":"achilles.result/1","ids":[1,2,})", "ids[2]");  // invalid JSON names the file and where
    try {
        result_from_json("{not json", "res.json");
        QFAIL("no Error");
    } catch (const Error& e) {
        QVERIFY(std::string(e.what()).find("res.json") != std::string::npos);
    }
    expect_error("[1,2]", "");
    expect_error("{}", "schema");
    expect_error(edit([](QJsonObject& o) { o["schema"] = "achilles.result/3"; }), "schema");
    expect_error(edit([](QJsonObject& o) { o["ids"] = QJsonArray{1, "x"}; }), "ids[1]");
    expect_error(edit([](QJsonObject& o) { o["ids"] = QJsonArray{1, -4}; }), "ids[1]");
    expect_error(edit([](QJsonObject& o) { o["ids"] = "1,2"; }), "ids");
    expect_error(edit([](QJsonObject& o) {
                     QJsonArray a = o["ranking"].toArray();
                     QJsonObject e = a[1].toObject();
                     e["module"] = "mlp";
                     a[1] = e;
                     o["ranking"] = a;
                 }),
                 "ranking[1].module");
    expect_error(edit([](QJsonObject& o) {
                     QJsonArray a = o["ranking"].toArray();
                     QJsonObject e = a[0].toObject();
                     e["channel"] = -1;
                     a[0] = e;
                     o["ranking"] = a;
                 }),
                 "ranking[0].channel");
    expect_error(edit([](QJsonObject& o) {
                     QJsonArray a = o["ranking"].toArray();
                     QJsonObject e = a[2].toObject();
                     e.remove("importance");
                     a[2] = e;
                     o["ranking"] = a;
                 }),
                 "ranking[2].importance");
    expect_error(edit([](QJsonObject& o) {
                     QJsonObject f = o["faithful"].toObject();
                     QJsonArray n = f["neurons"].toArray();
                     QJsonObject x = n[0].toObject();
                     x.remove("layer");
                     n[0] = x;
                     f["neurons"] = n;
                     o["faithful"] = f;
                 }),
                 "faithful.neurons[0].layer");
    expect_error(edit([](QJsonObject& o) {
                     QJsonObject f = o["faithful"].toObject();
                     f["size"] = 5;
                     o["faithful"] = f;
                 }),
                 "faithful.size");
    expect_error(edit([](QJsonObject& o) {
                     QJsonObject op = o["options"].toObject();
                     op["alpha"] = -1;
                     o["options"] = op;
                 }),
                 "options.alpha");
    expect_error(edit([](QJsonObject& o) {
                     QJsonObject op = o["options"].toObject();
                     op["mode"] = "random";
                     o["options"] = op;
                 }),
                 "options.mode");
    expect_error(edit([](QJsonObject& o) {
                     QJsonObject op = o["options"].toObject();
                     op["seed"] = -5;
                     o["options"] = op;
                 }),
                 "options.seed");
    expect_error(edit([](QJsonObject& o) { o["ppl_orig"] = "big"; }), "ppl_orig");
    expect_error(edit([](QJsonObject& o) { o["curve"] = QJsonObject{}; }), "curve");
    expect_error(edit([](QJsonObject& o) { o["layers"] = 1.5; }), "layers");
    // Integral doubles (as some JSON writers emit them) are accepted.
    QCOMPARE(result_from_json(edit([](QJsonObject& o) { o["layers"] = 7.0; }), "res.json").layers, 7);
    {
        std::string t = result_to_json(sample());
        const std::string from = "\"forwards_linear\": 3", to = "\"forwards_linear\": 3.0";
        QVERIFY(t.find(from) != std::string::npos);
        t.replace(t.find(from), from.size(), to);
        QCOMPARE(result_from_json(t, "res.json").forwards_linear, 3);
    }
    expect_error(edit([](QJsonObject& o) { o["layers"] = 1e20; }), "layers");
    expect_error(edit([](QJsonObject& o) {
                     QJsonArray s = o["sweep"].toArray();
                     QJsonObject x = s[0].toObject();
                     x["points"] = QJsonArray{QJsonObject{{"n", 0}}};
                     s[0] = x;
                     o["sweep"] = s;
                 }),
                 "sweep[0].points[0].log10_ppl");
}

void TestResultJson::atomicWrite() {
    fs::path d = scratch_dir("atomic");
    fs::path p = d / "result.json";
    const std::string a = result_to_json(sample());
    write_file_atomic(p.string(), a);
    QCOMPARE(slurp(p), a);
    QCOMPARE(read_file(p.string()), a);
    write_file_atomic(p.string(), "second");
    QCOMPARE(slurp(p), std::string("second"));
    // Only the target remains: no temporary files.
    int n = 0;
    for (const auto& e : fs::directory_iterator(d)) {
        ++n;
        QCOMPARE(e.path().filename().string(), std::string("result.json"));
    }
    QCOMPARE(n, 1);
    // A directory as target, or a missing folder: clear errors, nothing created.
    QVERIFY_THROWS_EXCEPTION(Error, write_file_atomic(d.string(), "x"));
    QVERIFY_THROWS_EXCEPTION(Error, write_file_atomic((d / "no" / "such" / "dir.json").string(), "x"));
    QVERIFY(!fs::exists(d / "no"));
}

void TestResultJson::atomicWriteFailureKeepsOldFile() {
    fs::path d = scratch_dir("atomic_fail");
    fs::path p = d / "result.json";
    write_file_atomic(p.string(), "old contents");
    // Make the write itself fail half-way: a file size limit (works even as root, where
    // permission bits would not stop us). SIGXFSZ is ignored so write() returns EFBIG.
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit old{};
    QCOMPARE(getrlimit(RLIMIT_FSIZE, &old), 0);
    rlimit small = old;
    small.rlim_cur = 4096;
    QCOMPARE(setrlimit(RLIMIT_FSIZE, &small), 0);
    bool threw = false;
    std::string msg;
    try {
        write_file_atomic(p.string(), std::string(100000, 'x'));
    } catch (const Error& e) {
        threw = true;
        msg = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    QVERIFY(threw);
    QVERIFY2(msg.find(p.string()) != std::string::npos, msg.c_str());
    QCOMPARE(slurp(p), std::string("old contents"));  // untouched
    int n = 0;
    for (const auto& e : fs::directory_iterator(d)) {
        ++n;
        QCOMPARE(e.path().filename().string(), std::string("result.json"));  // temp file removed
    }
    QCOMPARE(n, 1);

    // Without root, a read-only folder must fail cleanly too.
    if (::geteuid() != 0) {
        fs::permissions(d, fs::perms::owner_read | fs::perms::owner_exec);
        QVERIFY_THROWS_EXCEPTION(Error, write_file_atomic(p.string(), "new"));
        fs::permissions(d, fs::perms::owner_all);
        QCOMPARE(slurp(p), std::string("old contents"));
    }
}

void TestResultJson::readFileErrors() {
    fs::path d = scratch_dir("read");
    try {
        read_file((d / "missing.json").string());
        QFAIL("no Error");
    } catch (const Error& e) {
        QVERIFY(std::string(e.what()).find("missing.json") != std::string::npos);
    }
    QVERIFY_THROWS_EXCEPTION(Error, read_file(d.string()));
}

void TestResultJson::mutationsNeverCrash() {
    // Seeded byte mutations of a valid document: each either parses or throws Error.
    const std::string base = result_to_json(sample(), true, -1);
    std::mt19937_64 rng(7);
    int parsed = 0, rejected = 0;
    static const char interesting[] = {'0', '9', '-', '"', '[', ']', '{', '}', ',', ':', 'e', '.', '\xff', '\0', ' ', 'n'};
    for (int it = 0; it < 2000; ++it) {
        std::string b = base;
        if (it % 10 == 0) {
            b.resize(rng() % b.size());
        } else {
            for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k)
                b[rng() % b.size()] = (rng() % 2) ? interesting[rng() % sizeof interesting] : char(rng());
        }
        try {
            SearchResult r = result_from_json(b, "fuzz.json");
            ++parsed;
            QVERIFY(r.schema == kResultSchema);
            validate(r.options);
        } catch (const Error& e) {
            ++rejected;
            QVERIFY(std::string(e.what()).find("fuzz.json") != std::string::npos);
        }
    }
    qInfo() << "mutations: parsed" << parsed << "rejected" << rejected;
    QVERIFY(rejected > 500);
}

QTEST_APPLESS_MAIN(TestResultJson)
#include "test_result_json.moc"
