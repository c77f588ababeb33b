// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Where tests find their data. No Qt here so core tests can share it.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace achilles::test {

// The repository's tests/ folder (compiled in).
inline std::string tests_dir() { return ACHILLES_TESTS_DIR; }
inline std::string source_dir() { return ACHILLES_SOURCE_DIR; }
// A scratch folder inside the build tree for generated fixtures.
inline std::string build_scratch() { return ACHILLES_TEST_SCRATCH; }

// ../shared beside the checkout, or $ACHILLES_SHARED. Empty string when absent (tests QSKIP).
inline std::string shared_dir() {
    if (const char* e = std::getenv("ACHILLES_SHARED"); e && *e)
        return std::filesystem::is_directory(e) ? std::string(e) : std::string();
    std::filesystem::path p = std::filesystem::path(ACHILLES_SOURCE_DIR).parent_path() / "shared";
    return std::filesystem::is_directory(p) ? p.string() : std::string();
}
inline std::string shared_path(const std::string& rel) {
    std::string d = shared_dir();
    if (d.empty()) return {};
    std::filesystem::path p = std::filesystem::path(d) / rel;
    return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace achilles::test
