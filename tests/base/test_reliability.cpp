// SPDX-License-Identifier: GPL-3.0-or-later
// Regression tests of issue 12's defect classes in the plain-C++ base: the one strict JSON reader
// (depth, duplicate keys, number overflow, short messages), range checks before casts, reads of
// devices, and writes that are checked to the end, atomic over several files, and leave no
// temporary file behind on errors, SIGTERM, a second SIGINT-style exit or a file size limit.
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/neuron.h"
#include "test_paths.h"
#include "util/json_util.h"
#include <QtTest>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace achilles;

namespace {
fs::path scratch(const std::string& name) {
    fs::path p = fs::path(test::build_scratch()) / ("reliability_" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}
std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
int temp_files_in(const fs::path& dir) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().find(".tmp.") != std::string::npos;
    return n;
}
// Message of the Error thrown by f, or "" when it does not throw.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}
}  // namespace

class TestReliability : public QObject {
    Q_OBJECT

private slots:
    void deepNestingIsRefusedAtTheLimit() {
        const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
        QCOMPARE(parse_json(ok, "f.json").size(), size_t(1));
        const std::string deep = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
        const std::string m = error_of([&] { parse_json(deep, "f.json"); });
        QVERIFY2(m.find("f.json") != std::string::npos && m.find("'a[0]") != std::string::npos, m.c_str());
        QVERIFY2(m.find("deeper than 64") != std::string::npos, m.c_str());
        QVERIFY2(m.size() < 400, m.c_str());
        QVERIFY(!error_of([&] { check_json(deep, "f.json"); }).empty());
    }

    void duplicateKeysAreRefusedWithTheirPath() {
        const std::string m = error_of([] { parse_json(R"({"a": {"b": 1, "c": [{"k": 1, "k": 2}]}})", "d.json"); });
        QVERIFY2(m.find("d.json: field 'a.c[0]'") != std::string::npos && m.find("'k' appears twice") != std::string::npos, m.c_str());
        QVERIFY(!error_of([] { check_json(R"({"k": 1, "k": 1})", "d.json"); }).empty());
        QVERIFY(error_of([] { parse_json(R"({"k": 1, "K": 1, "o": {"k": 2}})", "d.json"); }).empty());
    }

    void numberOverflowNamesTheField() {
        const std::string m = error_of([] { parse_json(R"({"x": [1, 2, {"y": 1e400}]})", "n.json"); });
        QVERIFY2(m.find("n.json: field 'x[2].y'") != std::string::npos && m.find("out of range") != std::string::npos, m.c_str());
        const std::string m2 = error_of([] { parse_json(R"({"x": [1, 2, 3)", "n.json"); });
        QVERIFY2(m2.find("n.json") != std::string::npos && m2.find("not valid JSON (at byte") != std::string::npos, m2.c_str());
    }

    void rangeChecksBeforeCasts() {
        const json j = parse_json(R"({"a": 1e300, "b": 4294967301, "c": -1, "d": 5.0, "e": 2.5, "f": 18446744073709551615})", "r");
        QVERIFY(error_of([&] { json_int(j["a"], 0, 100, "r", "a"); }).find("out of range") != std::string::npos);
        QVERIFY(error_of([&] { (void)get_field<int>(j, "b", "r"); }).find("out of range") != std::string::npos);
        QVERIFY(error_of([&] { json_u64(j["c"], "r", "c"); }).find("negative") != std::string::npos);
        QCOMPARE(json_int(j["d"], 0, 10, "r", "d"), int64_t(5));
        QVERIFY(error_of([&] { json_int(j["e"], 0, 10, "r", "e"); }).find("expected an integer") != std::string::npos);
        QCOMPARE(json_u64(j["f"], "r", "f"), uint64_t(18446744073709551615ull));
        QVERIFY(error_of([&] { json_int(j["f"], 0, 10, "r", "f"); }).find("out of range") != std::string::npos);
    }

    void untrustedValuesAreCutShort() {
        const json big = json(std::string(100000, 'x'));
        QVERIFY(brief(big).size() < 80);
        QCOMPARE(brief(json::array({1, 2, 3})), std::string("an array of 3 items"));
        const std::string m = error_of([&] { get_field<int>(json{{"k", big}}, "k", "s"); });
        QVERIFY2(m.size() < 200, m.c_str());
        QCOMPARE(brief_key("\xC3\xA9\xC3\xA9", 3), std::string("\xC3\xA9..."));  // not cut inside a code point
    }

    void maskIndicesNeverWrap() {
        QVERIFY(error_of([] { parse_mask_spec("L4294967296.down_proj:1"); }).find("out of range") != std::string::npos);
        QVERIFY(error_of([] { parse_mask_spec(R"([{"layer": 0, "module": "down_proj", "channel": 1, "positions": [4294967296]}])"); })
                    .find("mask spec[0]: field 'positions'") != std::string::npos);
        QVERIFY(error_of([] { parse_mask_spec(R"([{"layer": 4294967296, "module": "down_proj", "channel": 1}])"); })
                    .find("mask spec[0]: field 'layer'") != std::string::npos);
        const std::string deep = "{\"faithful\": {\"neurons\": " + std::string(200000, '[') + std::string(200000, ']') + "}}";
        QVERIFY(error_of([&] { parse_mask_spec(deep); }).find("deeper than 64") != std::string::npos);
        QCOMPARE(parse_mask_spec(R"([{"layer": 2, "module": "down_proj", "channel": 7, "positions": [0, 3]}])").at(0).positions.size(), size_t(2));
    }

    void devicesAreNotRead() {
        QVERIFY(error_of([] { read_file("/dev/zero"); }).find("not a regular file") != std::string::npos);
        const fs::path d = scratch("read");
        std::ofstream(d / "f") << std::string(100, 'a');
        QVERIFY(error_of([&] { read_file((d / "f").string(), 10); }).find("more than the 10 bytes") != std::string::npos);
        QCOMPARE(read_file((d / "f").string()).size(), size_t(100));
    }

    void fileSizeLimitFailsTheWriteAndKeepsThePreviousFile() {
        const fs::path d = scratch("ulimit");
        const fs::path f = d / "out.json";
        std::ofstream(f) << "previous";
        const pid_t pid = fork();
        if (pid == 0) {  // a child under ulimit -f 4 (KiB)
            install_exit_cleanup();
            rlimit rl{4096, 4096};
            setrlimit(RLIMIT_FSIZE, &rl);
            try {
                write_file_atomic(f.string(), std::string(100000, 'x'));
                _exit(3);  // the write must not succeed
            } catch (const Error& e) {
                _exit(std::string(e.what()).find("file size limit") != std::string::npos ? 0 : 4);
            }
        }
        int st = 0;
        waitpid(pid, &st, 0);
        QVERIFY2(WIFEXITED(st) && WEXITSTATUS(st) == 0, qPrintable(QString::number(st)));
        QCOMPARE(slurp(f), std::string("previous"));
        QCOMPARE(temp_files_in(d), 0);
    }

    void severalFilesAreWrittenAsOne() {
        const fs::path d = scratch("multi");
        std::ofstream(d / "a.csv") << "old a";
        std::ofstream(d / "b.csv") << "old b";
        const std::string big(100000, 'y');
        const pid_t pid = fork();
        if (pid == 0) {
            install_exit_cleanup();
            rlimit rl{8192, 8192};
            setrlimit(RLIMIT_FSIZE, &rl);
            const FileContents files[] = {{(d / "a.csv").string(), "new a"}, {(d / "b.csv").string(), big}};
            try {
                write_files_atomic(files);
                _exit(3);
            } catch (const Error&) {
                _exit(0);
            }
        }
        int st = 0;
        waitpid(pid, &st, 0);
        QVERIFY(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        QCOMPARE(slurp(d / "a.csv"), std::string("old a"));  // not replaced: b failed, so nothing is
        QCOMPARE(slurp(d / "b.csv"), std::string("old b"));
        QCOMPARE(temp_files_in(d), 0);
        const FileContents ok[] = {{(d / "a.csv").string(), "new a"}, {(d / "b.csv").string(), "new b"}};
        write_files_atomic(ok);
        QCOMPARE(slurp(d / "a.csv"), std::string("new a"));
        QCOMPARE(slurp(d / "b.csv"), std::string("new b"));
    }

    void sigtermDuringAWriteLeavesNoTemporary() {
        // A child writes 1 GiB; once its temporary file exists the parent sends SIGTERM, long
        // before the write could end. The handler removes the temporary and the child dies of
        // the signal; the previous file is untouched.
        const fs::path d = scratch("sigterm");
        const fs::path f = d / "big.bin";
        std::ofstream(f) << "previous";
        int pfd[2];
        QVERIFY(pipe(pfd) == 0);
        const pid_t pid = fork();
        if (pid == 0) {
            install_exit_cleanup();
            close(pfd[0]);
            // Tell the parent when the temporary exists, then keep writing.
            std::string chunk(8 << 20, 'z');
            std::vector<std::string_view> parts(128, chunk);
            if (write(pfd[1], "g", 1) != 1) _exit(5);
            try {
                write_file_atomic(f.string(), std::span<const std::string_view>(parts));
            } catch (...) {
            }
            _exit(6);
        }
        close(pfd[1]);
        char c = 0;
        QVERIFY(read(pfd[0], &c, 1) == 1);
        close(pfd[0]);
        // Wait until the temporary file is there, then terminate the writer.
        for (int i = 0; i < 400 && temp_files_in(d) == 0; ++i) usleep(5000);
        QVERIFY(temp_files_in(d) == 1);
        kill(pid, SIGTERM);
        int st = 0;
        waitpid(pid, &st, 0);
        QVERIFY2(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, qPrintable(QString::number(st)));
        QCOMPARE(temp_files_in(d), 0);
        QCOMPARE(slurp(f), std::string("previous"));
    }
};

QTEST_GUILESS_MAIN(TestReliability)
#include "test_reliability.moc"
