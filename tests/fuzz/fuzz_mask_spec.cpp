// SPDX-License-Identifier: GPL-3.0-or-later
// Mask specs, inline ("L3.down_proj:7@0;5") and JSON: accepted specs hold only non-negative
// indices and survive a round trip through both written forms.
#include "achilles/error.h"
#include "achilles/neuron.h"
#include "fuzz_util.h"
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    std::string text(reinterpret_cast<const char*>(data), size);
    // Only the inline and JSON forms: anything else would be taken as a file name.
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return 0;
    if (text[first] != '[' && text[first] != '{') text.insert(first, "L");
    try {
        const MaskSpec spec = parse_mask_spec(text);
        for (const auto& e : spec) {
            if (e.neuron.layer < 0 || e.neuron.channel < 0) fuzz::finding("negative index accepted");
            for (int p : e.positions)
                if (p < 0) fuzz::finding("negative position accepted");
        }
        if (parse_mask_spec(mask_spec_to_json(spec)) != spec) fuzz::finding("JSON round trip differs");
        if (!spec.empty() && parse_mask_spec(mask_spec_to_inline(spec)) != spec) fuzz::finding("inline round trip differs");
    } catch (const Error&) {
    }
    return 0;
}
