// SPDX-License-Identifier: GPL-3.0-or-later
// Tokenizer tests. Golden ids come from independent implementations: Hugging Face's Rust
// tokenizers (npm `tokenizers`, tools/tokref/ref_hf.js) and Python sentencepiece
// (tools/tokref/ref_sp.py, or run live through /usr/bin/python3).
#include "achilles/error.h"
#include "achilles/tokenizer.h"
#include "test_paths.h"
#include "tokenizer/utf8.h"

#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

using namespace achilles;
namespace fs = std::filesystem;
using json = nlohmann::json;
namespace tok = achilles::tok;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void spit(const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary);
    f << s;
}

fs::path scratch(const std::string& name) {
    fs::path d = fs::path(test::build_scratch()) / "tokenizer" / name;
    fs::create_directories(d);
    return d;
}

// Deterministic pseudo-text: syllable words with punctuation, digits and some Unicode.
std::string generated_corpus(int lines, unsigned seed) {
    static const char* syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "or", "us",
                                "the", "ing", "qu", "st", "ph", "é", "ü", "ß"};
    std::mt19937 rng(seed);
    std::string out;
    for (int l = 0; l < lines; ++l) {
        int words = 4 + rng() % 10;
        for (int w = 0; w < words; ++w) {
            int ns = 1 + rng() % 3;
            for (int s = 0; s < ns; ++s) out += syl[rng() % 20];
            unsigned r = rng() % 20;
            if (r == 0) out += ",";
            else if (r == 1) out += " " + std::to_string(rng() % 10000);
            else if (r == 2) out += "'s";
            out += (w + 1 == words) ? ".\n" : " ";
        }
    }
    return out;
}

std::string hex(const std::string& s) {
    std::string h;
    char b[4];
    for (unsigned char c : s) { snprintf(b, sizeof b, "%02x", c); h += b; }
    return h;
}

std::vector<int> ids_of(const json& j) { return j.get<std::vector<int>>(); }

QString show(const std::vector<int>& v) {
    QStringList l;
    for (int x : v) l << QString::number(x);
    return "[" + l.join(",") + "]";
}

#define COMPARE_IDS(actual, expected, what)                                                                  \
    do {                                                                                                     \
        const auto a_ = (actual);                                                                           \
        const auto e_ = (expected);                                                                         \
        if (a_ != e_)                                                                                       \
            QFAIL(qPrintable(QString("%1\n  got      %2\n  expected %3").arg(what, show(a_), show(e_))));   \
    } while (0)

bool throws_error(const std::function<void()>& f, QString* msg = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (msg) *msg = e.what();
        return true;
    } catch (...) {
        return false;
    }
    return false;
}

json load_golden(const std::string& name) {
    fs::path p = fs::path(test::tests_dir()) / "tokenizer" / "golden" / (name + ".json");
    return json::parse(slurp(p));
}

// Where the golden's tokenizer lives; empty when it is on ../shared and that is absent.
std::string golden_source(const json& g) {
    const std::string base = g.at("base"), rel = g.at("path");
    if (base == "shared") return test::shared_path(rel);
    return (fs::path(test::tests_dir()) / rel).string();
}

QString label(const std::string& tok, const std::string& what, const std::string& text) {
    return QString::fromStdString(tok + " " + what + " " + json(text).dump());
}

// Compares every case of a golden file: ids without / with special tokens, split_special, the
// token strings and the decoded text.
void check_golden(const json& g, const Tokenizer& tok) {
    const std::string name = g.at("tokenizer");
    QCOMPARE(tok.vocab_size(), g.at("vocab_size").get<int>());
    if (!g.at("bos_id").is_null()) QCOMPARE(tok.bos_id(), g.at("bos_id").get<int>());
    else QCOMPARE(tok.bos_id(), -1);
    int n = 0;
    for (const json& c : g.at("cases")) {
        const std::string text = c.at("text");
        COMPARE_IDS(tok.encode(text, {false, false}), ids_of(c.at("ids_plain")), label(name, "plain", text));
        COMPARE_IDS(tok.encode(text, {true, false}), ids_of(c.at("ids_special")), label(name, "special", text));
        COMPARE_IDS(tok.encode(text, {false, true}), ids_of(c.at("ids_split_special")), label(name, "split_special", text));
        std::vector<int> plain = ids_of(c.at("ids_plain"));
        const json& toks = c.at("tokens_plain");
        for (size_t i = 0; i < plain.size(); ++i)
            QCOMPARE(QString::fromStdString(tok.token_string(plain[i])), QString::fromStdString(toks[i].get<std::string>()));
        if (c.contains("decoded"))
            QCOMPARE(QString::fromStdString(tok.decode(plain)), QString::fromStdString(c.at("decoded")));
        if (c.contains("decoded_each")) {
            const json& each = c.at("decoded_each");
            QCOMPARE(each.size(), plain.size());
            for (size_t i = 0; i < plain.size(); ++i)
                QCOMPARE(QString::fromStdString(tok.decode({plain[i]})), QString::fromStdString(each[i].get<std::string>()));
        }
        if (c.contains("decoded_special_skipped"))
            QCOMPARE(QString::fromStdString(tok.decode(ids_of(c.at("ids_special")), true)),
                     QString::fromStdString(c.at("decoded_special_skipped")));
        if (c.contains("decoded_split_special"))
            QCOMPARE(QString::fromStdString(tok.decode(ids_of(c.at("ids_split_special")))),
                     QString::fromStdString(c.at("decoded_split_special")));
        ++n;
    }
    QVERIFY(n >= 60);
}

}  // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

    fs::path sp_model_;   // trained once in initTestCase

private slots:
    void initTestCase() {
        fs::path d = scratch("sp");
        spit(d / "corpus.txt", generated_corpus(1500, 1234));
        fs::remove(d / "tiny.model");
        train_sentencepiece("--input=" + (d / "corpus.txt").string() + " --model_prefix=" + (d / "tiny").string() +
                            " --vocab_size=320 --model_type=bpe --byte_fallback=true --character_coverage=1.0"
                            " --remove_extra_whitespaces=false --normalization_rule_name=identity --minloglevel=2 --num_threads=1");
        sp_model_ = d / "tiny.model";
        QVERIFY(fs::is_regular_file(sp_model_));
    }

    // ---------------------------------------------------------------- SentencePiece (always on)
    void spTrainedRoundTrip() {
        auto tok = load_tokenizer(sp_model_.string());
        QCOMPARE(QString::fromStdString(tok->kind()), QString("sentencepiece"));
        QCOMPARE(tok->vocab_size(), 320);
        QCOMPARE(tok->bos_id(), 1);
        QCOMPARE(tok->eos_id(), 2);
        QVERIFY(tok->is_special(1) && tok->is_special(2) && !tok->is_special(300));
        const std::vector<std::string> texts = {"kalomi nerusa tovi.", "the quick élan 1234, ßüph", "  two  spaces",
                                                "日本語 & emoji 👍🏽", ""};
        for (const auto& t : texts) {
            std::vector<int> ids = tok->encode(t, {});
            QVERIFY(!ids.empty());
            QCOMPARE(ids.front(), 1);
            std::vector<int> plain = tok->encode(t, {false, false});
            QCOMPARE(plain.size() + 1, ids.size());
            // Lossless: identity normalization, whitespace kept, byte fallback.
            const std::string expect = t;
            QCOMPARE(QString::fromStdString(tok->decode(ids, true)), QString::fromStdString(expect));
            QCOMPARE(QString::fromStdString(tok->decode(ids, false)), QString::fromStdString("<s>" + expect));
        }
        QCOMPARE(QString::fromStdString(tok->token_string(1)), QString("<s>"));
        QVERIFY(throws_error([&] { tok->token_string(320); }));
        QVERIFY(throws_error([&] { tok->decode({5, 320}); }));
        QVERIFY(throws_error([&] { tok->decode({-1}); }));
    }

    void spSpecialText() {
        auto tok = load_tokenizer(sp_model_.string());
        // split_special=false: "<s>" / "</s>" in the text are the control tokens.
        std::vector<int> a = tok->encode("ka</s>lo<s>", {false, false});
        std::vector<int> ka = tok->encode("ka", {false, false});
        std::vector<int> lo = tok->encode("lo", {false, false});
        std::vector<int> want = ka;
        want.push_back(2);
        want.insert(want.end(), lo.begin(), lo.end());
        want.push_back(1);
        COMPARE_IDS(a, want, "special split");
        // split_special=true: plain text, no control ids.
        std::vector<int> b = tok->encode("ka</s>lo<s>", {false, true});
        for (int id : b) QVERIFY(id != 1 && id != 2);
        QCOMPARE(QString::fromStdString(tok->decode(b)), QString("ka</s>lo<s>"));
    }

    void spAddedTokensAndFolderFallback() {
        // A model folder as Phi-3/Mistral ship it: tokenizer.model, a tokenizer.json this library does
        // not read (Unigram/Metaspace), and added tokens past the SentencePiece vocabulary.
        fs::path d = scratch("sp_folder");
        fs::copy_file(sp_model_, d / "tokenizer.model", fs::copy_options::overwrite_existing);
        spit(d / "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "Metaspace"}})");
        spit(d / "tokenizer_config.json", R"({"add_bos_token": true, "bos_token": "<s>", "eos_token": {"content": "<|endoftext|>"},
            "added_tokens_decoder": {"320": {"content": "<|endoftext|>", "special": true},
                                     "321": {"content": "<|user|>", "special": false},
                                     "323": {"content": "<|end|>", "special": true}}})");
        auto tok = load_tokenizer(d.string());
        QCOMPARE(QString::fromStdString(tok->kind()), QString("sentencepiece"));
        QCOMPARE(tok->vocab_size(), 324);
        QCOMPARE(tok->eos_id(), 320);
        QCOMPARE(tok->bos_id(), 1);
        QCOMPARE(QString::fromStdString(tok->token_string(320)), QString("<|endoftext|>"));
        QVERIFY(tok->is_special(320) && !tok->is_special(321));
        QVERIFY(throws_error([&] { tok->token_string(322); }));   // a gap in the added ids
        QVERIFY(throws_error([&] { tok->decode({322}); }));
        const std::vector<int> ka = tok->encode("ka", {false, false}), lo = tok->encode("lo", {false, false});
        std::vector<int> want{1};
        want.insert(want.end(), ka.begin(), ka.end());
        want.push_back(320);
        want.push_back(321);
        want.insert(want.end(), lo.begin(), lo.end());
        COMPARE_IDS(tok->encode("ka<|endoftext|><|user|>lo", {}), want, "added tokens");
        QCOMPARE(QString::fromStdString(tok->decode(want)), QString("<s>ka<|endoftext|><|user|>lo"));
        QCOMPARE(QString::fromStdString(tok->decode(want, true)), QString("ka<|user|>lo"));
        // split_special: the special one is plain text, the non-special one is still split out.
        std::vector<int> split = tok->encode("ka<|endoftext|><|user|>lo", {false, true});
        QVERIFY(std::find(split.begin(), split.end(), 320) == split.end());
        QVERIFY(std::find(split.begin(), split.end(), 321) != split.end());
        QCOMPARE(QString::fromStdString(tok->decode(split)), QString("ka<|endoftext|><|user|>lo"));
        // Without tokenizer.model the unsupported tokenizer.json is a clear error naming the field.
        fs::remove(d / "tokenizer.model");
        QString msg;
        QVERIFY(throws_error([&] { load_tokenizer(d.string()); }, &msg));
        QVERIFY2(msg.contains("tokenizer.json") && msg.contains("model.type"), qPrintable(msg));
        // A corrupt tokenizer.json is an error even when tokenizer.model exists (no silent fallback).
        fs::copy_file(sp_model_, d / "tokenizer.model", fs::copy_options::overwrite_existing);
        spit(d / "tokenizer.json", "{\"model\": ");
        QVERIFY(throws_error([&] { load_tokenizer(d.string()); }, &msg));
        QVERIFY2(msg.contains("tokenizer.json"), qPrintable(msg));
    }

    void spAgreesWithPython() {
#ifndef ACHILLES_PYTHON3
        QSKIP("no python3");
#else
        const QString py = QStringLiteral(ACHILLES_PYTHON3);
        if (py.isEmpty() || !QFileInfo::exists(py)) QSKIP("/usr/bin/python3 is absent");
        QProcess probe;
        probe.start(py, {"-c", "import sentencepiece"});
        probe.waitForFinished(30000);
        if (probe.exitCode() != 0) QSKIP("python3 has no sentencepiece module");

        std::vector<std::string> texts;
        std::mt19937 rng(99);
        std::string corpus = generated_corpus(60, 777);
        std::istringstream ls(corpus);
        for (std::string line; std::getline(ls, line);) texts.push_back(line);
        texts.insert(texts.end(), {"  leading spaces", "tabs\tand\r\nnewlines", "日本語のテキスト 中文",
                                   "e\xcc\x81 combining", "👩‍👩‍👧‍👦 family", "for(i=0;i<10;i++){}",
                                   "<s> looks special </s>", "", "   "});
        json in = json::array();
        for (const auto& t : texts) in.push_back(hex(t));
        fs::path d = scratch("sp");
        spit(d / "py_in.json", in.dump());
        const char* script =
            "import json,sys,sentencepiece as s\n"
            "p=s.SentencePieceProcessor(model_file=sys.argv[1])\n"
            "t=[bytes.fromhex(h).decode('utf-8') for h in json.load(open(sys.argv[2]))]\n"
            "print(json.dumps([p.encode(x) for x in t]))\n";
        QProcess proc;
        proc.start(py, {"-c", script, QString::fromStdString(sp_model_.string()),
                        QString::fromStdString((d / "py_in.json").string())});
        QVERIFY(proc.waitForFinished(60000));
        QCOMPARE(proc.exitCode(), 0);
        json ref = json::parse(proc.readAllStandardOutput().toStdString());
        QCOMPARE(ref.size(), texts.size());
        auto tok = load_tokenizer(sp_model_.string());
        for (size_t i = 0; i < texts.size(); ++i)
            COMPARE_IDS(tok->encode(texts[i], {false, true}), ids_of(ref[i]), QString::fromStdString(texts[i]));
#endif
    }


    // ---------------------------------------------------------------- byte-level BPE fixtures (always on)
    void bpeFixtures_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("qwenlike") << "bpe_qwenlike";
        QTest::newRow("llama3like") << "bpe_llama3like";
        QTest::newRow("gpt2like") << "bpe_gpt2like";
        QTest::newRow("deepseeklike") << "bpe_deepseeklike";
    }
    void bpeFixtures() {
        QFETCH(QString, name);
        json g = load_golden(name.toStdString());
        auto tok = load_tokenizer(golden_source(g));
        QCOMPARE(QString::fromStdString(tok->kind()), QString("bpe"));
        check_golden(g, *tok);
        // Loading the tokenizer.json file directly (not the folder) reads the config beside it too.
        auto tok2 = load_tokenizer((fs::path(golden_source(g)) / "tokenizer.json").string());
        COMPARE_IDS(tok2->encode("Hello world", {}), tok->encode("Hello world", {}), "file vs folder");
    }

    // ---------------------------------------------------------------- real tokenizers on ../shared
    void sharedTokenizers_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("llama3") << "llama3";
        QTest::newRow("qwen3") << "qwen3";
        QTest::newRow("llama2") << "llama2";
        QTest::newRow("stories260k") << "stories260k";
    }
    void sharedTokenizers() {
        QFETCH(QString, name);
        json g = load_golden(name.toStdString());
        const std::string src = golden_source(g);
        if (src.empty()) QSKIP("../shared (ACHILLES_SHARED) is absent: real-tokenizer goldens skipped");
        auto t0 = std::chrono::steady_clock::now();
        auto tok = load_tokenizer(src);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("%s: loaded in %.3f s", qPrintable(name), secs);
#if defined(__SANITIZE_ADDRESS__)
        const double limit = 30.0;   // sanitizer builds are ~10x slower
#else
        const double limit = 5.0;    // typically 0.4-0.6 s for the 128k/151k vocabularies
#endif
        QVERIFY2(secs < limit, qPrintable(QString("load took %1 s").arg(secs)));
        check_golden(g, *tok);
    }

    void sharedEncodeSpeed() {
        const std::string src = test::shared_path("tokenizers/qwen3");
        const std::string text_path = test::shared_path("text/wikitext2-test.raw");
        if (src.empty() || text_path.empty()) QSKIP("../shared (ACHILLES_SHARED) is absent");
        std::string text = slurp(text_path).substr(0, 300000);
        while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();
        if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
        auto tok = load_tokenizer(src);
        auto t0 = std::chrono::steady_clock::now();
        std::vector<int> ids = tok->encode(text, {false, false});
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("qwen3: encoded %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)", text.size(), ids.size(), secs,
              text.size() / secs / 1e6);
        QVERIFY(ids.size() > text.size() / 10);
        QCOMPARE(QString::fromStdString(tok->decode(ids)), QString::fromStdString(text));
    }

    // ---------------------------------------------------------------- NFC against Python unicodedata
    void nfcAgreesWithPython() {
        const QString py = QStringLiteral(ACHILLES_PYTHON3);
        if (py.isEmpty() || !QFileInfo::exists(py)) QSKIP("/usr/bin/python3 is absent");
        // Random strings of bases, combining marks (several classes), Hangul jamo and precomposed letters.
        const std::vector<uint32_t> pool = {'a', 'e', 'o', 'A', 'u', 0xE9, 0x1E0B, 0x300, 0x301, 0x302, 0x303, 0x308,
                                            0x323, 0x327, 0x328, 0x31B, 0x334, 0x345, 0x3B1, 0x3B9, 0x1100, 0x1161,
                                            0x11A8, 0xAC00, 0xD4DB, 0x0915, 0x093C, 0x094D, 0x212B, 0x2126, 0xFB01,
                                            0x0F73, 0x0F71, 0x0F72, 0x1D15F, 0x1D165, 0x05D1, 0x05BC, ' '};
        std::mt19937 rng(2024);
        std::vector<std::string> in;
        for (int k = 0; k < 400; ++k) {
            std::string s;
            int len = 1 + rng() % 12;
            for (int i = 0; i < len; ++i) {
                uint32_t cp = pool[rng() % pool.size()];
                std::string u;
                QString q = QString::fromUcs4(reinterpret_cast<const char32_t*>(&cp), 1);
                s += q.toStdString();
            }
            in.push_back(s);
        }
        json hexes = json::array();
        for (const auto& s : in) hexes.push_back(hex(s));
        fs::path d = scratch("nfc");
        spit(d / "in.json", hexes.dump());
        QProcess proc;
        proc.start(py, {"-c",
                        "import json,sys,unicodedata as u\n"
                        "t=[bytes.fromhex(h).decode('utf-8') for h in json.load(open(sys.argv[1]))]\n"
                        "print(json.dumps([u.normalize('NFC',x).encode('utf-8').hex() for x in t]))\n",
                        QString::fromStdString((d / "in.json").string())});
        QVERIFY(proc.waitForFinished(60000));
        QCOMPARE(proc.exitCode(), 0);
        json ref = json::parse(proc.readAllStandardOutput().toStdString());
        QCOMPARE(ref.size(), in.size());
        int changed = 0;
        for (size_t i = 0; i < in.size(); ++i) {
            std::string got = hex(tok::nfc(in[i]));
            if (ref[i].get<std::string>() != hex(in[i])) ++changed;
            QCOMPARE(QString::fromStdString(got), QString::fromStdString(ref[i].get<std::string>()));
        }
        QVERIFY(changed > 50);   // the sample really exercises composition and reordering
    }

    // ---------------------------------------------------------------- BPE error cases
    void bpeErrors() {
        fs::path d = scratch("bpe_bad");
        const fs::path good = fs::path(test::tests_dir()) / "tokenizer" / "data" / "bpe_qwenlike" / "tokenizer.json";
        json base = json::parse(slurp(good));
        QString msg;
        auto expect_error = [&](const std::string& file_text, const QString& must_contain) {
            spit(d / "tokenizer.json", file_text);
            QVERIFY2(throws_error([&] { load_tokenizer((d / "tokenizer.json").string()); }, &msg),
                     qPrintable(must_contain));
            QVERIFY2(msg.contains("tokenizer.json") && msg.contains(must_contain), qPrintable(msg));
        };
        expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {", "not valid JSON");
        expect_error("", "not valid JSON");
        expect_error("[1,2,3]", "JSON object");
        { json j = base; j["model"]["type"] = "WordPiece"; expect_error(j.dump(), "model.type"); }
        { json j = base; j["model"].erase("vocab"); expect_error(j.dump(), "model.vocab"); }
        { json j = base; j["model"]["vocab"]["x"] = "seven"; expect_error(j.dump(), "model.vocab"); }
        { json j = base; j["model"]["merges"][3] = 17; expect_error(j.dump(), "model.merges[3]"); }
        { json j = base; j["model"]["merges"][5] = json::array({"\u00e4\u00f6", "zz"}); expect_error(j.dump(), "model.merges[5]"); }
        { json j = base; j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; expect_error(j.dump(), "pattern"); }
        { json j = base; j["pre_tokenizer"] = {{"type", "Metaspace"}}; expect_error(j.dump(), "pre_tokenizer"); }
        { json j = base; j["normalizer"] = {{"type", "Lowercase"}}; expect_error(j.dump(), "normalizer"); }
        { json j = base; j["added_tokens"][0]["id"] = "x"; expect_error(j.dump(), "added_tokens[0].id"); }
        { json j = base; j["added_tokens"][0]["id"] = 4000000000LL; expect_error(j.dump(), "added_tokens[0].id"); }
        { json j = base; j["model"]["vocab"]["zz"] = 99999999; expect_error(j.dump(), "model.vocab"); }
        { json j = base; json nest = j["pre_tokenizer"];
          for (int k = 0; k < 200; ++k) nest = {{"type", "Sequence"}, {"pretokenizers", json::array({nest})}};
          j["pre_tokenizer"] = nest; expect_error(j.dump(), "deeper than 64 levels"); }
        { json j = base; j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", json::array({{{"SpecialToken", {{"id", "<nope>"}}}}, {{"Sequence", {{"id", "A"}}}}})}};
          expect_error(j.dump(), "post_processor"); }
        // Random bytes.
        std::mt19937 rng(9);
        for (int k = 0; k < 5; ++k) {
            std::string junk;
            for (int i = 0; i < 200; ++i) junk += char(rng() & 0xff);
            spit(d / "tokenizer.json", junk);
            QVERIFY(throws_error([&] { load_tokenizer((d / "tokenizer.json").string()); }, &msg));
        }
        // Truncated real file.
        std::string text = slurp(good);
        spit(d / "tokenizer.json", text.substr(0, text.size() / 3));
        QVERIFY(throws_error([&] { load_tokenizer((d / "tokenizer.json").string()); }, &msg));
        // Config naming a token the vocabulary lacks.
        fs::create_directories(d / "cfg");
        fs::copy_file(good, d / "cfg" / "tokenizer.json", fs::copy_options::overwrite_existing);
        spit(d / "cfg" / "tokenizer_config.json", "{\"bos_token\": {\"content\": \"<nope>\"}}");
        QVERIFY(throws_error([&] { load_tokenizer((d / "cfg").string()); }, &msg));
        QVERIFY2(msg.contains("bos_token") && msg.contains("tokenizer_config.json"), qPrintable(msg));
        spit(d / "cfg" / "tokenizer_config.json", "{\"bos_token\": 5}");
        QVERIFY(throws_error([&] { load_tokenizer((d / "cfg").string()); }, &msg));
        QVERIFY2(msg.contains("bos_token"), qPrintable(msg));
        // Invalid UTF-8 and out-of-range ids on a good tokenizer.
        auto tok = load_tokenizer(good.string());
        for (std::string b : {"\xff", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "x\x80y", "<|im_start|>\xfe"}) {
            QVERIFY(throws_error([&] { tok->encode(b, {}); }, &msg));
            QVERIFY2(msg.contains("text"), qPrintable(msg));
        }
        QVERIFY(throws_error([&] { tok->decode({0, tok->vocab_size()}); }, &msg));
        QVERIFY(throws_error([&] { tok->decode({-3}); }, &msg));
        QVERIFY(throws_error([&] { tok->token_string(-1); }, &msg));
        // Decoding a partial UTF-8 sequence gives U+FFFD, not a crash.
        std::vector<int> ids = tok->encode("\xe6\x97\xa5", {false, false});
        QVERIFY(!ids.empty());
        std::string first = tok->decode({ids.front()});
        if (ids.size() > 1) QVERIFY(first.find("\xEF\xBF\xBD") != std::string::npos);
    }

    // 10 MB of whitespace: PCRE2's default limits (10M steps) stop `\s*[\r\n]+|\s+(?!\S)` on such a
    // run; the tokenizer must not depend on them. The split of a long run is the split of a short
    // one with more spaces (checked against HF tokenizers for 200k-space runs, where Oniguruma
    // still finishes; at 10 MB HF itself gives up with "retry-limit-in-match over").
    void bpeHugeWhitespaceRuns() {
        // The Llama-3 and Qwen patterns (the ones PCRE2's defaults stopped) and GPT-2's.
        for (const char* name : {"bpe_llama3like", "bpe_qwenlike", "bpe_gpt2like"}) {
            auto tok = load_tokenizer((fs::path(test::tests_dir()) / "tokenizer" / "data" / name).string());
            for (const char* tail : {"b", "\n\n b"}) {
                const std::string small = "a" + std::string(1000, ' ') + tail;
                const std::string huge = "a" + std::string(10'000'000, ' ') + tail;
                const std::vector<int> s = tok->encode(small, {false, false});
                std::vector<int> h;
                try {
                    h = tok->encode(huge, {false, false});
                } catch (const Error& e) {
                    QFAIL(e.what());
                }
                QCOMPARE(h.size() - s.size(), size_t(10'000'000 - 1000));
                QVERIFY(std::equal(s.begin(), s.begin() + 2, h.begin()));
                QVERIFY(std::equal(s.end() - 3, s.end(), h.end() - 3));
                // Decoding gives the text back exactly when it does so for the short run (the
                // gpt2-like fixture adds a prefix space).
                QCOMPARE(tok->decode(h) == huge, tok->decode(s) == small);
            }
        }
    }

    void bpeLongInputs() {
        const fs::path good = fs::path(test::tests_dir()) / "tokenizer" / "data" / "bpe_llama3like";
        auto tok = load_tokenizer(good.string());
        // Long runs must not be quadratic or crash: 200k spaces, a 100k-letter word, 50k emoji.
        std::string spaces(200000, ' '), word(100000, 'k'), emoji;
        for (int i = 0; i < 50000; ++i) emoji += "\xf0\x9f\x98\x80";
        for (const std::string* s : {&spaces, &word, &emoji}) {
            auto t0 = std::chrono::steady_clock::now();
            std::vector<int> ids = tok->encode(*s, {false, false});
            double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            QVERIFY(!ids.empty());
            QVERIFY2(secs < 10.0, qPrintable(QString("took %1 s").arg(secs)));
            QCOMPARE(tok->decode(ids), *s);
        }
    }

    // ---------------------------------------------------------------- error cases
    void errorsMissingAndCorrupt() {
        fs::path d = scratch("bad");
        QString msg;
        QVERIFY(throws_error([&] { load_tokenizer((d / "nope.model").string()); }, &msg));
        QVERIFY2(msg.contains("nope.model"), qPrintable(msg));
        QVERIFY(throws_error([&] { load_tokenizer((d / "nope.json").string()); }, &msg));
        // A folder with no tokenizer files.
        fs::create_directories(d / "empty");
        QVERIFY(throws_error([&] { load_tokenizer((d / "empty").string()); }, &msg));
        QVERIFY2(msg.contains("empty"), qPrintable(msg));
        // Random bytes as .model.
        std::mt19937 rng(5);
        for (int k = 0; k < 8; ++k) {
            std::string junk;
            for (int i = 0; i < 64 + 97 * k; ++i) junk += char(rng() & 0xff);
            spit(d / "junk.model", junk);
            QVERIFY(throws_error([&] { load_tokenizer((d / "junk.model").string()); }, &msg));
            QVERIFY2(msg.contains("junk.model"), qPrintable(msg));
        }
        spit(d / "empty.model", "");
        QVERIFY(throws_error([&] { load_tokenizer((d / "empty.model").string()); }, &msg));
        // A truncated real model.
        std::string good = slurp(sp_model_);
        spit(d / "trunc.model", good.substr(0, good.size() / 2));
        QVERIFY(throws_error([&] { load_tokenizer((d / "trunc.model").string()); }, &msg));
        // Corrupt tokenizer_config.json beside a good model.
        fs::create_directories(d / "cfg");
        fs::copy_file(sp_model_, d / "cfg" / "tokenizer.model", fs::copy_options::overwrite_existing);
        spit(d / "cfg" / "tokenizer_config.json", "{\"add_bos_token\": \"yes\"}");
        QVERIFY(throws_error([&] { load_tokenizer((d / "cfg").string()); }, &msg));
        QVERIFY2(msg.contains("add_bos_token") && msg.contains("tokenizer_config.json"), qPrintable(msg));
        spit(d / "cfg" / "tokenizer_config.json", "{\"add_bos_token\": fal");
        QVERIFY(throws_error([&] { load_tokenizer((d / "cfg").string()); }, &msg));
        QVERIFY2(msg.contains("tokenizer_config.json"), qPrintable(msg));
        // add_bos_token false / add_eos_token true are honoured.
        spit(d / "cfg" / "tokenizer_config.json", "{\"add_bos_token\": false, \"add_eos_token\": true}");
        auto tok = load_tokenizer((d / "cfg").string());
        std::vector<int> ids = tok->encode("kalo", {});
        QVERIFY(!ids.empty());
        QVERIFY(ids.front() != 1);
        QCOMPARE(ids.back(), 2);
    }

    void trainErrors() {
        fs::path d = scratch("train_bad");
        spit(d / "small.txt", "hello world\nfoo bar\n");
        QString msg;
        QVERIFY(throws_error([&] { train_sentencepiece("--input=" + (d / "absent.txt").string() + " --model_prefix=" + (d / "x").string() + " --vocab_size=50"); }, &msg));
        QVERIFY2(msg.contains("absent.txt"), qPrintable(msg));
        QVERIFY(throws_error([&] { train_sentencepiece("--bogus_flag=1"); }, &msg));
        QVERIFY2(msg.contains("bogus_flag"), qPrintable(msg));
        QVERIFY(throws_error([&] { train_sentencepiece("--input=" + (d / "small.txt").string() + " --model_prefix=" + (d / "x").string() + " --vocab_size=5000"); }, &msg));
        QVERIFY2(msg.contains("5000"), qPrintable(msg));
        QVERIFY(throws_error([&] { train_sentencepiece("--input=" + (d / "small.txt").string() + " --model_prefix=/nonexistent-dir/x --vocab_size=14"); }, &msg));
        QVERIFY(throws_error([&] { train_sentencepiece(""); }, &msg));
    }

    void errorsInvalidUtf8() {
        auto tok = load_tokenizer(sp_model_.string());
        const std::vector<std::string> bad = {"\xff", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                              "x\x80y", "\xe2\x82"};
        for (const auto& b : bad) {
            QString msg;
            QVERIFY2(throws_error([&] { tok->encode(b, {}); }, &msg), qPrintable(QString::fromStdString(hex(b))));
            QVERIFY2(msg.contains("text"), qPrintable(msg));
        }
    }
};

QTEST_APPLESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
