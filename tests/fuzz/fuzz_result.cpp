// SPDX-License-Identifier: GPL-3.0-or-later
// The result document (achilles.result/1, also the "result" of a GUI session): an accepted document
// passes validate_result and is a fixed point of write-then-read.
#include "achilles/error.h"
#include "achilles/results.h"
#include "fuzz_util.h"
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    const std::string text(reinterpret_cast<const char*>(data), size);
    SearchResult r;
    try {
        r = result_from_json(text, "result.json");
    } catch (const Error&) {
        return 0;
    }
    try {
        validate_result(r, "result.json", nullptr);
    } catch (const Error&) {
        fuzz::finding("an accepted result fails validate_result");
    }
    std::string once;
    try {
        once = result_to_json(r, true, -1);
    } catch (const std::exception&) {
        return 0;  // strings that are not UTF-8 cannot be written back (the strict error handler)
    }
    try {
        const std::string twice = result_to_json(result_from_json(once, "written.json"), true, -1);
        if (once != twice) fuzz::finding("write(read(write(r))) != write(r)");
    } catch (const Error& e) {
        fprintf(stderr, "%s\n", e.what());
        fuzz::finding("a written result cannot be read back");
    }
    return 0;
}
