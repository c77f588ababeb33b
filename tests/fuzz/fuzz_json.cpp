// SPDX-License-Identifier: GPL-3.0-or-later
// The project's strict JSON reader (every JSON file goes through it): no crash, no hang, the check-only
// and the document-building modes agree, and messages stay short.
#include "util/json_util.h"
#include <cstdio>
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    bool checked = true, parsed = true;
    try {
        check_json(text, "fuzz.json");
    } catch (const Error& e) {
        checked = false;
        if (std::string(e.what()).size() > 1000) fuzz::finding("check_json message longer than 1000 bytes");
    }
    try {
        json j = parse_json(text, "fuzz.json");
        (void)brief(j);
        (void)j.dump();  // depth is bounded, so the recursive dump is safe
    } catch (const Error& e) {
        parsed = false;
        if (std::string(e.what()).size() > 1000) fuzz::finding("parse_json message longer than 1000 bytes");
    }
    if (checked != parsed) fuzz::finding("check_json and parse_json disagree");
    return 0;
}
