// SPDX-License-Identifier: GPL-3.0-or-later
// Chat templates (achilles/chat_template.h): byte-equality with jinja2's renders of the templates
// in data/chat (goldens by tests/reference/make_chat_goldens.py), the error for every unsupported
// feature (feature, line, column, field), tokenizer_config.json loading, bounded work on hostile
// templates, and the real Qwen3 / Llama-3 templates on ../shared against transformers'
// apply_chat_template (run at test time through the venv's python; skipped without either).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "test_paths.h"
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace achilles;
using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

std::string chat_dir() { return test::tests_dir() + "/tokenizer/data/chat"; }
std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
ojson read_json(const std::string& p) { return ojson::parse(slurp(p)); }

std::string hf_python() {
    if (const char* e = std::getenv("ACHILLES_HF_PYTHON"); e && *e) return e;
    return ACHILLES_HF_PYTHON;
}

// The message of the Error that `f` throws ("" when it does not throw one).
template <class F>
std::string error_of(F&& f, Error* out = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (out) *out = e;
        return e.what();
    }
    return {};
}

}  // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT
private slots:
    // ---------------------------------------------------------------- goldens from jinja2
    void goldens_data() {
        QTest::addColumn<QString>("tpl");
        QTest::addColumn<QString>("ctx");
        const ojson contexts = read_json(chat_dir() + "/contexts.json");
        std::vector<fs::path> tpls;
        for (const auto& e : fs::directory_iterator(chat_dir() + "/templates")) tpls.push_back(e.path());
        std::sort(tpls.begin(), tpls.end());
        QVERIFY(tpls.size() >= 8);
        for (const auto& t : tpls)
            for (const auto& [name, c] : contexts.items()) {
                const std::string row = t.stem().string() + "." + name;
                QTest::newRow(row.c_str()) << QString::fromStdString(t.string()) << QString::fromStdString(name);
            }
    }
    void goldens() {
        QFETCH(QString, tpl);
        QFETCH(QString, ctx);
        const fs::path tp = tpl.toStdString();
        const std::string base = chat_dir() + "/golden/" + tp.stem().string() + "." + ctx.toStdString();
        const ojson contexts = read_json(chat_dir() + "/contexts.json");
        const std::string context = contexts[ctx.toStdString()].dump();
        const ChatTemplate t(slurp(tp.string()), tp.string());
        if (fs::exists(base + ".txt")) {
            std::string got;
            try {
                got = t.render_json(context);
            } catch (const Error& e) {
                QFAIL(e.what());
            }
            const std::string want = slurp(base + ".txt");
            if (got != want) {
                qWarning("got:\n%s\nwant:\n%s", got.c_str(), want.c_str());
                QFAIL("render differs from jinja2's");
            }
        } else {
            QVERIFY2(fs::exists(base + ".error.txt"), base.c_str());
            const std::string want = slurp(base + ".error.txt");
            const std::string msg = error_of([&] { (void)t.render_json(context); });
            QVERIFY2(!msg.empty(), "jinja2 raised, the renderer did not");
            QVERIFY2(msg.find("field 'chat_template'") != std::string::npos, msg.c_str());
            // raise_exception: the template's own message comes through.
            if (msg.find("raised an exception") != std::string::npos) QVERIFY2(msg.find(want) != std::string::npos, msg.c_str());
        }
    }

    // ---------------------------------------------------------------- unsupported features
    void unsupported_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("feature");
        QTest::addColumn<int>("line");
        QTest::addColumn<int>("column");
        const ojson cases = read_json(chat_dir() + "/unsupported/cases.json");
        QVERIFY(cases.size() >= 10);
        for (const auto& c : cases)
            QTest::newRow(c["file"].get<std::string>().c_str())
                << QString::fromStdString(c["file"].get<std::string>()) << QString::fromStdString(c["feature"].get<std::string>())
                << c["line"].get<int>() << c["column"].get<int>();
    }
    void unsupported() {
        QFETCH(QString, file);
        QFETCH(QString, feature);
        QFETCH(int, line);
        QFETCH(int, column);
        const std::string path = chat_dir() + "/unsupported/" + file.toStdString();
        const std::string context = read_json(chat_dir() + "/contexts.json")["multi"].dump();
        Error err("");
        const std::string msg = error_of([&] { (void)ChatTemplate(slurp(path), path).render_json(context); }, &err);
        QVERIFY2(!msg.empty(), "no error");
        QCOMPARE(err.file(), path);
        QCOMPARE(err.field(), std::string("chat_template"));
        const std::string where = "line " + std::to_string(line) + ", column " + std::to_string(column);
        for (const std::string& want : {std::string("unsupported feature: ") + feature.toStdString(), where})
            QVERIFY2(msg.find(want) != std::string::npos, (msg + "  [wanted: " + want + "]").c_str());
    }

    // ---------------------------------------------------------------- syntax errors and jinja2 details
    void syntaxErrors_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("want");
        QTest::newRow("unclosed") << "a\n{{ x " << "unclosed tag {{ at line 2, column 1";
        QTest::newRow("no endif") << "{% if x %}y" << "missing {% endif %} at line 1, column 1";
        QTest::newRow("stray endfor") << "x\n  {% endfor %}" << "unexpected {% endfor %} at line 2, column 6";
        QTest::newRow("unknown tag") << "{% frobnicate %}" << "unsupported feature: the tag 'frobnicate' at line 1, column 4";
        QTest::newRow("bad string") << "{{ 'abc }}" << "unterminated string literal at line 1, column 4";
        QTest::newRow("chained") << "{{ 1 < 2 < 3 }}" << "unsupported feature: the chained comparison at line 1, column 10";
        QTest::newRow("unclosed comment") << "{# x" << "unclosed comment";
        QTest::newRow("bad char") << "{{ a ; b }}" << "unexpected character ';'";
        QTest::newRow("leading zero") << "{{ 01 }}" << "an integer literal with a leading zero at line 1, column 4";
        QTest::newRow("hex") << "{{ 0x1F }}" << "unsupported feature: the hexadecimal, octal or binary literal";
        QTest::newRow("type in message") << "{{ 5[0] }}" << "cannot index an integer at line 1, column 5";
    }
    void syntaxErrors() {
        QFETCH(QString, text);
        QFETCH(QString, want);
        const std::string msg = error_of([&] { (void)ChatTemplate(text.toStdString(), "cfg.json").render({}, false); });
        QVERIFY2(msg.find("cfg.json: field 'chat_template'") == 0, msg.c_str());
        QVERIFY2(msg.find(want.toStdString()) != std::string::npos, msg.c_str());
    }
    void newlines() {
        // jinja2 normalises \r\n and \r to \n and drops one trailing newline.
        QCOMPARE(ChatTemplate("a\r\nb\rc\n\n", "t").render({}, false), std::string("a\nb\nc\n"));
        QCOMPARE(ChatTemplate("{{ 'x' }}\n", "t").render({}, false), std::string("x"));
        // A }} inside a dict literal does not close the tag.
        QCOMPARE(ChatTemplate("{{ {'a': {'b': 1}}['a']['b'] }}", "t").render({}, false), std::string("1"));
    }
    void raiseException() {
        const ChatTemplate t("line one\n{{ raise_exception('Roles must alternate: ' ~ messages|length) }}", "tc.json");
        Error err("");
        const std::string msg = error_of([&] { (void)t.render({{"user", "x", {}}}, true); }, &err);
        QCOMPARE(err.field(), std::string("chat_template"));
        QVERIFY2(msg.find("Roles must alternate: 1") != std::string::npos, msg.c_str());
        QVERIFY2(msg.find("line 2, column 4") != std::string::npos, msg.c_str());
    }
    void renderApi() {
        ChatTemplate t("{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ m.extra }}{% endfor %}"
                       "{% if add_generation_prompt %}<assistant>{% endif %}{% if flag is false %}!{% endif %}{{ s }}",
                       "t");
        t.set_variables({{"bos_token", "<s>"}});
        QCOMPARE(t.render_user_prompt("Q?"), std::string("<s><user>Q?<assistant>"));
        QCOMPARE(t.render({{"user", "a", {{"extra", "+"}}}, {"assistant", "b", {}}}, false, {{"flag", false}}, {{"s", "z"}}),
                 std::string("<s><user>a+<assistant>b!z"));
        // The special tokens can be overridden by the context.
        QCOMPARE(t.render_json(R"({"messages": [], "bos_token": "[B]"})"), std::string("[B]"));
    }

    // ---------------------------------------------------------------- loading tokenizer_config.json
    void loadConfig() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string d = dir.path().toStdString();
        const std::string cfg = d + "/tokenizer_config.json";
        auto write = [&](const std::string& s) { std::ofstream(cfg, std::ios::binary) << s; };
        Error err("");
        // No file.
        QVERIFY(!has_chat_template(d));
        QVERIFY(!error_of([&] { load_chat_template(d); }).empty());
        // No template.
        write(R"({"bos_token": "<s>"})");
        QVERIFY(!has_chat_template(d));
        std::string msg = error_of([&] { load_chat_template(d); }, &err);
        QCOMPARE(err.file(), cfg);
        QCOMPARE(err.field(), std::string("chat_template"));
        QVERIFY2(msg.find("no chat template") != std::string::npos, msg.c_str());
        // A string template, tokens as strings or AddedToken objects; null tokens are left out.
        write(R"({"chat_template": "{{ bos_token }}|{{ eos_token }}|{{ pad_token }}|{{ unk_token is defined }}",
                 "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": "<pad>", "unk_token": null})");
        QVERIFY(has_chat_template(d));
        for (const std::string& path : {d, cfg}) {
            const ChatTemplate t = load_chat_template(path);
            QCOMPARE(t.file(), cfg);
            QVERIFY(t.note().empty());
            QCOMPARE(t.render({}, false), std::string("<s>|</s>|<pad>|False"));
        }
        // Named templates: "default" is picked, and the note says so.
        write(R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
        const ChatTemplate t = load_chat_template(d);
        QCOMPARE(t.render({}, false), std::string("D"));
        QVERIFY2(t.note().find("'default'") != std::string::npos && t.note().find("tool_use") != std::string::npos,
                 t.note().c_str());
        write(R"({"chat_template": [{"name": "rag", "template": "R"}]})");
        msg = error_of([&] { load_chat_template(d); });
        QVERIFY2(msg.find("none is named 'default'") != std::string::npos && msg.find("rag") != std::string::npos, msg.c_str());
        write(R"({"chat_template": 7})");
        QVERIFY(!error_of([&] { load_chat_template(d); }).empty());
        write(R"({"chat_template": "{% macro x() %}{% endmacro %}"})");
        msg = error_of([&] { load_chat_template(d); }, &err);
        QCOMPARE(err.file(), cfg);
        QVERIFY2(msg.find("'macro'") != std::string::npos, msg.c_str());
        write("not json");
        QVERIFY(!error_of([&] { load_chat_template(d); }).empty());
    }

    // ---------------------------------------------------------------- hostile templates finish quickly
    void limits_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("want");
        QTest::newRow("nested loops") << "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
                                      << "evaluation steps";
        QTest::newRow("string repeat") << "{{ 'x' * 1000000000 }}" << "exceeds";
        QTest::newRow("doubling") << "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"
                                  << "exceeds";
        QTest::newRow("output") << "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}"
                                << "exceeds";
        QTest::newRow("range") << "{{ range(100000000) | length }}" << "range() longer";
        QTest::newRow("parens") << QString("{{ ") + QString("(").repeated(500) + "1" + QString(")").repeated(500) + " }}"
                                << "nesting deeper";
        QTest::newRow("blocks") << QString("{% if true %}").repeated(500) + QString("{% endif %}").repeated(500) << "nesting deeper";
        QTest::newRow("chain") << QString("{{ 1") + QString(" + 1").repeated(5000) + " }}" << "operator chain";
        QTest::newRow("attributes") << QString("{{ a") + QString(".b").repeated(5000) + " }}" << "nesting deeper";
        QTest::newRow("not") << QString("{{ ") + QString("not ").repeated(5000) + "x }}" << "nesting deeper";
        QTest::newRow("list nesting") << QString("{{ ") + QString("[").repeated(5000) + QString("]").repeated(5000) + " }}"
                                      << "nesting deeper";
    }
    void limits() {
        QFETCH(QString, text);
        QFETCH(QString, want);
        const auto t0 = std::chrono::steady_clock::now();
        const std::string msg = error_of([&] { (void)ChatTemplate(text.toStdString(), "h.json").render({}, false); });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QVERIFY2(msg.find(want.toStdString()) != std::string::npos, msg.c_str());
        QVERIFY2(s < 20, "took too long");
    }

    // ---------------------------------------------------------------- real templates vs transformers
    void realTemplates_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("qwen3") << "qwen3";
        QTest::newRow("llama3") << "llama3";
    }
    void realTemplates() {
        QFETCH(QString, name);
        const std::string folder = test::shared_path("tokenizers/" + name.toStdString());
        if (folder.empty() || !fs::exists(folder + "/tokenizer_config.json"))
            QSKIP("../shared (ACHILLES_SHARED) is absent: real chat templates skipped");
        const ChatTemplate t = load_chat_template(folder);
        const ojson convs = read_json(chat_dir() + "/conversations.json");
        for (const auto& [cname, c] : convs.items()) (void)t.render_json(c.dump());  // renders without error
        const std::string py = hf_python();
        if (!fs::exists(py)) QSKIP(("no python with transformers at " + py + " (set ACHILLES_HF_PYTHON)").c_str());
        QTemporaryDir out;
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(QString::fromStdString(py), {QString::fromStdString(test::tests_dir() + "/reference/make_chat_goldens.py"),
                                              "--hf", out.path(), QString::fromStdString(folder)});
        QVERIFY(p.waitForFinished(300000));
        if (p.exitCode() != 0) {
            const QByteArray log = p.readAll();
            if (log.contains("No module named")) QSKIP(("python lacks transformers: " + log.right(300)).constData());
            QFAIL(log.constData());
        }
        int compared = 0;
        for (const auto& [cname, c] : convs.items()) {
            const std::string base = out.path().toStdString() + "/" + name.toStdString() + "." + cname;
            if (fs::exists(base + ".error.txt")) {
                QVERIFY2(!error_of([&] { (void)t.render_json(c.dump()); }).empty(), ("HF raised on " + cname).c_str());
                continue;
            }
            const std::string want = slurp(base + ".txt"), got = t.render_json(c.dump());
            if (got != want) qWarning("%s got:\n%s\nwant:\n%s", cname.c_str(), got.c_str(), want.c_str());
            QVERIFY2(got == want, (name.toStdString() + "." + cname + " differs from transformers").c_str());
            ++compared;
        }
        QCOMPARE(compared, static_cast<int>(convs.size()));
    }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
