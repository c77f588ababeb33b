// SPDX-License-Identifier: GPL-3.0-or-later
// The bad-input corpus: every case in cases.json is a malformed file or argument given to
// achilles-cli (or to the GUI's session loader, offscreen). Each must end with the expected exit
// code and a message naming the file and the field; none may crash, hang or be silently accepted.
//
// A case: {"name", "model": fixture folder copied to $M (optional), "files": {rel path: content},
//          "args": [...], "gui": false, "rc": 1, "msg": [substrings of stderr],
//          "ulimit_f": KiB (optional), "keep": [files that must be unchanged afterwards]}
// Content is text with macros: {{deep:N}} N nested arrays, {{rep:TEXT:N}} TEXT N times,
// {{hex:C3 28}} raw bytes, {{file:rel}} a repository file; or {"from": rel, "set": {key: raw JSON}}
// that rewrites one top-level member of a repository JSON file (a raw value, so 1e400, duplicates
// and deep values can be written), or {"st_header": raw JSON, "data": N, "fill": "hex"} a
// safetensors file with that header and N data bytes.
#include "test_paths.h"
#include <QtTest>
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <csignal>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string expand(const std::string& t) {
    std::string out;
    size_t i = 0;
    while (i < t.size()) {
        const size_t a = t.find("{{", i);
        if (a == std::string::npos) {
            out += t.substr(i);
            break;
        }
        out += t.substr(i, a - i);
        const size_t b = t.find("}}", a);
        const std::string m = t.substr(a + 2, b - a - 2);
        if (m.rfind("deep:", 0) == 0) {
            const size_t n = std::stoul(m.substr(5));
            out += std::string(n, '[') + std::string(n, ']');
        } else if (m.rfind("rep:", 0) == 0) {
            const size_t c = m.rfind(':');
            const std::string what = m.substr(4, c - 4);
            const size_t n = std::stoul(m.substr(c + 1));
            out.reserve(out.size() + what.size() * n);
            for (size_t k = 0; k < n; ++k) out += what;
        } else if (m.rfind("hex:", 0) == 0) {
            std::istringstream hs(m.substr(4));
            std::string byte;
            while (hs >> byte) out += static_cast<char>(std::stoi(byte, nullptr, 16));
        } else if (m.rfind("file:", 0) == 0) {
            out += slurp(fs::path(achilles::test::source_dir()) / m.substr(5));
        } else {
            out += "{{" + m + "}}";
        }
        i = b + 2;
    }
    return out;
}

// Rewrites top-level members of a JSON object file with raw JSON text (kept verbatim).
std::string patched(const std::string& base, const ordered_json& set) {
    ordered_json j = ordered_json::parse(base);
    std::string members;
    for (auto it = set.begin(); it != set.end(); ++it) {
        const std::string key = it.key();
        const std::string raw = expand(it.value().get<std::string>());
        j.erase(key.substr(0, key.find('#')));  // "key#2" writes the key a second time
        members += "\"" + key.substr(0, key.find('#')) + "\": " + raw + ",\n";
    }
    std::string text = j.dump(1);
    const size_t brace = text.find('{');
    if (j.empty()) members = members.substr(0, members.size() - 2) + "\n";
    text.insert(brace + 1, "\n" + members);
    return text;
}

std::string safetensors(const std::string& header, size_t data, const std::string& fill_hex) {
    std::string fill = fill_hex.empty() ? std::string(1, '\0') : expand("{{hex:" + fill_hex + "}}");
    std::string out(8, '\0');
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[size_t(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
    out += header;
    for (size_t k = 0; k < data; ++k) out += fill[k % fill.size()];
    return out;
}

struct Outcome {
    int rc = 0;
    bool crashed = false, hung = false;
    QString err;
};

Outcome run(const QString& exe, const QStringList& args, int ulimit_kb, int timeout_ms) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::SeparateChannels);
    if (ulimit_kb > 0) {
        QStringList a{QStringLiteral("-c"), QStringLiteral("ulimit -f %1; exec \"$0\" \"$@\"").arg(ulimit_kb), exe};
        a += args;
        p.start(QStringLiteral("/bin/sh"), a);
    } else {
        p.start(exe, args);
    }
    Outcome o;
    if (!p.waitForFinished(timeout_ms)) {
        o.hung = true;
        p.kill();
        p.waitForFinished();
    }
    o.crashed = p.exitStatus() != QProcess::NormalExit;
    o.rc = p.exitCode();
    o.err = QString::fromUtf8(p.readAllStandardError()) + QString::fromUtf8(p.readAllStandardOutput());
    return o;
}

struct Tally {
    int cases = 0, crashes = 0, hangs = 0, silent = 0, unclear = 0, wrong_rc = 0, lost = 0;
} g_tally;

}  // namespace

class TestBadInputs : public QObject {
    Q_OBJECT

private slots:
    void corpus_data() {
        QTest::addColumn<QByteArray>("spec");
        const std::string text = slurp(fs::path(achilles::test::tests_dir()) / "bad_inputs" / "cases.json");
        const ordered_json cases = ordered_json::parse(text);
        QVERIFY(cases.is_array());
        for (const auto& c : cases) {
            const std::string name = c.at("name").get<std::string>();
            QTest::newRow(name.c_str()) << QByteArray::fromStdString(c.dump());
        }
    }

    void corpus() {
        QFETCH(QByteArray, spec);
        const ordered_json c = ordered_json::parse(spec.toStdString());
        const std::string name = c.at("name").get<std::string>();
        const fs::path dir = fs::path(achilles::test::build_scratch()) / "bad_inputs" / name;
        fs::remove_all(dir);
        fs::create_directories(dir);
        const fs::path src(achilles::test::source_dir());
        const fs::path model = dir / "model";
        if (c.contains("model")) {
            fs::create_directories(model);
            for (const auto& e : fs::directory_iterator(src / c.at("model").get<std::string>()))
                if (e.is_regular_file()) fs::copy_file(e.path(), model / e.path().filename());
        }
        auto subst = [&](std::string s) {
            for (auto [k, v] : {std::pair<std::string, std::string>{"$M", model.string()}, {"$D", dir.string()},
                                {"$S", src.string()}}) {
                for (size_t p = s.find(k); p != std::string::npos; p = s.find(k, p + v.size())) s.replace(p, k.size(), v);
            }
            return s;
        };
        if (c.contains("files")) {
            for (auto it = c.at("files").begin(); it != c.at("files").end(); ++it) {
                const fs::path target = subst(it.key());
                fs::create_directories(target.parent_path());
                std::string bytes;
                const auto& v = it.value();
                if (v.is_string()) {
                    bytes = expand(v.get<std::string>());
                } else if (v.contains("from")) {
                    bytes = patched(slurp(subst(v.at("from").get<std::string>())), v.at("set"));
                } else if (v.contains("st_header")) {
                    bytes = safetensors(expand(v.at("st_header").get<std::string>()), v.value("data", size_t(0)),
                                        v.value("fill", std::string()));
                }
                fs::remove(target);
                std::ofstream(target, std::ios::binary) << bytes;
            }
        }
        std::map<std::string, std::string> keep;
        for (const auto& k : c.value("keep", ordered_json::array())) keep[subst(k.get<std::string>())] = slurp(subst(k.get<std::string>()));

        QStringList args;
        for (const auto& a : c.at("args")) args << QString::fromStdString(expand(subst(a.get<std::string>())));
        const bool gui = c.value("gui", false);
#ifdef ACHILLES_GUI
        const QString exe = gui ? QStringLiteral(ACHILLES_GUI) : QStringLiteral(ACHILLES_CLI);
#else
        if (gui) QSKIP("the GUI is not built");
        const QString exe = QStringLiteral(ACHILLES_CLI);
#endif
        const int want_rc = c.value("rc", 1);
        const int timeout_ms = c.value("timeout_s", 60) * 1000;
        QElapsedTimer t;
        t.start();
        const Outcome o = run(exe, args, c.value("ulimit_f", 0), timeout_ms);
        ++g_tally.cases;
        const QString where = QString::fromStdString(name) + " (" + QString::number(t.elapsed()) + " ms): " + o.err.left(600);
        const bool sanitizer = o.err.contains(QLatin1String("AddressSanitizer")) || o.err.contains(QLatin1String("runtime error:"));
        if (o.hung) ++g_tally.hangs;
        else if (o.crashed || sanitizer || (o.rc > 128 && want_rc < 128)) ++g_tally.crashes;
        else if (o.rc == 0 && want_rc != 0) ++g_tally.silent;
        QVERIFY2(!o.hung, qPrintable("hang: " + where));
        QVERIFY2(!o.crashed && !sanitizer, qPrintable("crash: " + where));
        QVERIFY2(!(o.rc == 0 && want_rc != 0), qPrintable("silently accepted: " + where));
        if (o.rc != want_rc) ++g_tally.wrong_rc;
        QVERIFY2(o.rc == want_rc, qPrintable("exit " + QString::number(o.rc) + ", expected " + QString::number(want_rc) + ": " + where));
        for (const auto& m : c.value("msg", ordered_json::array())) {
            const QString s = QString::fromStdString(subst(m.get<std::string>()));
            if (!o.err.contains(s)) ++g_tally.unclear;
            QVERIFY2(o.err.contains(s), qPrintable("message lacks '" + s + "': " + where));
        }
        QVERIFY2(o.err.size() < 4000, qPrintable("message is " + QString::number(o.err.size()) + " bytes: " + where.left(300)));
        // Nothing the user had is lost and no temporary file is left behind.
        for (const auto& [path, before] : keep) {
            if (slurp(path) != before) ++g_tally.lost;
            QVERIFY2(slurp(path) == before, qPrintable("changed: " + QString::fromStdString(path) + " in " + where));
        }
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            const std::string fn = e.path().filename().string();
            QVERIFY2(fn.find(".tmp.") == std::string::npos && fn.find(".tmp-") == std::string::npos,
                     qPrintable("temporary file left: " + QString::fromStdString(e.path().string())));
        }
        fs::remove_all(dir);
    }

    // Ctrl-C early, Ctrl-C twice, SIGTERM and SIGHUP while a search with --out and --figures runs:
    // the exit is prompt, the previous --out file is untouched and no temporary file is left.
    void signalsCleanUp_data() {
        QTest::addColumn<int>("sig");
        QTest::addColumn<int>("count");
        QTest::addColumn<int>("after_ms");
        QTest::newRow("sigint_early") << int(SIGINT) << 1 << 150;
        QTest::newRow("sigint_once") << int(SIGINT) << 1 << 1200;
        QTest::newRow("sigint_twice") << int(SIGINT) << 2 << 1200;
        QTest::newRow("sigterm") << int(SIGTERM) << 1 << 1200;
        QTest::newRow("sighup") << int(SIGHUP) << 1 << 1200;
    }
    void signalsCleanUp() {
        QFETCH(int, sig);
        QFETCH(int, count);
        QFETCH(int, after_ms);
        const fs::path dir = fs::path(achilles::test::build_scratch()) / "bad_inputs" / ("signal_" + std::to_string(sig) +
                                                                                        "_" + std::to_string(count) + "_" + std::to_string(after_ms));
        fs::remove_all(dir);
        fs::create_directories(dir / "fig");
        std::ofstream(dir / "out.json") << "previous";
        QProcess p;
        p.start(QStringLiteral(ACHILLES_CLI),
                {"search", "--model", QString::fromStdString(achilles::test::tests_dir() + "/fixtures/search/planted"), "--ids",
                 "1,17,42,9,33,5,60,21,8,50,12,3", "--samples", "20000", "--quiet", "--out",
                 QString::fromStdString((dir / "out.json").string()), "--figures", QString::fromStdString((dir / "fig").string())});
        QVERIFY(p.waitForStarted());
        QThread::msleep(after_ms);
        for (int i = 0; i < count; ++i) {
            ::kill(pid_t(p.processId()), sig);
            QThread::msleep(20);
        }
        QElapsedTimer t;
        t.start();
        QVERIFY2(p.waitForFinished(10000), "no exit within 10 s of the signal");
        const qint64 ms = t.elapsed();
        const QString err = QString::fromUtf8(p.readAllStandardError());
        if (sig == SIGINT && p.exitStatus() == QProcess::NormalExit) QCOMPARE(p.exitCode(), 130);
        else QVERIFY2(p.exitStatus() == QProcess::CrashExit, qPrintable(err));  // died of the signal, as it should
        QVERIFY2(ms < 5000, qPrintable(QString::number(ms) + " ms"));
        QCOMPARE(slurp(dir / "out.json"), std::string("previous"));
        for (const auto& e : fs::recursive_directory_iterator(dir))
            QVERIFY2(e.path().filename().string().find(".tmp.") == std::string::npos, e.path().c_str());
        fs::remove_all(dir);
    }

    void cleanupTestCase() {
        qInfo("bad-input corpus: %d cases, %d crashes, %d hangs, %d silent accepts, %d wrong exit codes, "
              "%d messages missing the file or field, %d files changed",
              g_tally.cases, g_tally.crashes, g_tally.hangs, g_tally.silent, g_tally.wrong_rc, g_tally.unclear,
              g_tally.lost);
    }
};

QTEST_GUILESS_MAIN(TestBadInputs)
#include "test_bad_inputs.moc"
