// SPDX-License-Identifier: GPL-3.0-or-later
// Tokenizer tests. Golden ids come from independent implementations: Hugging Face's Rust
// tokenizers (npm `tokenizers`, tools/tokref/ref_hf.js) and Python sentencepiece
// (tools/tokref/ref_sp.py, or run live through /usr/bin/python3).
#include "achilles/error.h"
#include "achilles/tokenizer.h"
#include "test_paths.h"

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
