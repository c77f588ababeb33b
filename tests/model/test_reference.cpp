// SPDX-License-Identifier: GPL-3.0-or-later
// The committed fixtures and goldens are exactly what tests/reference/make_fixtures.py produces
// (so the goldens come from the independent float64 reference, not from hand edits).
#include "test_paths.h"
#include <nlohmann/json.hpp>
#include <fstream>
#include <sstream>
#include <vector>
#include <QProcess>
#include <QtTest>
#include <filesystem>
#include <set>

using namespace achilles::test;
namespace fs = std::filesystem;

namespace {
const std::vector<std::string> kFixtures = {"llama3", "mistral", "qwen2", "qwen3", "gemma", "gemma2",
                                            "phi3", "llama_sharded", "llama_bf16", "llama_f16"};
std::string fixture_dir(const std::string& name) { return tests_dir() + "/fixtures/" + name; }
std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
// Same structure, numbers equal to 1e-9 relative (float printing may differ across numpy builds).
bool close(const nlohmann::json& a, const nlohmann::json& b, std::string& where) {
    if (a.is_number() && b.is_number()) {
        const double x = a.get<double>(), y = b.get<double>();
        if (std::abs(x - y) <= 1e-9 * std::max(1.0, std::abs(y))) return true;
        where = std::to_string(x) + " vs " + std::to_string(y);
        return false;
    }
    if (a.type() != b.type()) {
        where = "type " + a.dump().substr(0, 40) + " vs " + b.dump().substr(0, 40);
        return false;
    }
    if (a.is_array()) {
        if (a.size() != b.size()) return where = "array size", false;
        for (size_t i = 0; i < a.size(); ++i)
            if (!close(a[i], b[i], where)) return where = "[" + std::to_string(i) + "]" + where, false;
        return true;
    }
    if (a.is_object()) {
        if (a.size() != b.size()) return where = "object size", false;
        for (auto it = a.begin(); it != a.end(); ++it) {
            if (!b.contains(it.key())) return where = "missing " + it.key(), false;
            if (!close(it.value(), b[it.key()], where)) return where = "." + it.key() + where, false;
        }
        return true;
    }
    if (a != b) return where = a.dump() + " vs " + b.dump(), false;
    return true;
}
}  // namespace

class TestReference : public QObject {
    Q_OBJECT
private slots:
    void regenerated_fixtures_match() {
        const QString py = QStringLiteral(ACHILLES_PYTHON3);
        QProcess probe;
        probe.start(py, {"-c", "import torch, numpy"});
        if (!probe.waitForFinished(60000) || probe.exitStatus() != QProcess::NormalExit || probe.exitCode() != 0)
            QSKIP("/usr/bin/python3 with torch and numpy is not available");
        const fs::path out = fs::path(build_scratch()) / "model-fixtures-regen";
        fs::remove_all(out);
        fs::create_directories(out);
        QProcess p;
        p.start(py, {QString::fromStdString(tests_dir() + "/reference/make_fixtures.py"), QString::fromStdString(out.string())});
        QVERIFY(p.waitForFinished(170000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        for (const auto& name : kFixtures) {
            const fs::path a = out / name, b = fs::path(fixture_dir(name));
            std::set<std::string> fa, fb;
            for (const auto& e : fs::directory_iterator(a)) fa.insert(e.path().filename().string());
            for (const auto& e : fs::directory_iterator(b)) fb.insert(e.path().filename().string());
            QVERIFY2(fa == fb, name.c_str());
            for (const auto& f : fa) {
                if (f == "golden.json") {
                    std::string where;
                    QVERIFY2(close(nlohmann::json::parse(slurp(a / f)), nlohmann::json::parse(slurp(b / f)), where),
                             (name + "/golden.json" + where).c_str());
                } else {
                    QVERIFY2(slurp(a / f) == slurp(b / f), (name + "/" + f).c_str());
                }
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestReference)
#include "test_reference.moc"
