// SPDX-License-Identifier: GPL-3.0-or-later
// The safetensors header and layout checks: any bytes either open with every view inside the file,
// or fail with achilles::Error.
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "fuzz_util.h"
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    fuzz::MemFile f(data, size, "model.safetensors");
    try {
        auto st = SafetensorsFile::open(f.path());
        const std::byte* lo = st->mapped_data();
        const std::byte* hi = lo + st->file_size();
        for (const auto& [name, tv] : st->tensors()) {
            if (tv.data < lo || tv.data + tv.nbytes > hi) fuzz::finding("tensor view outside the mapping");
            if (size_t(tv.numel()) * dtype_size(tv.dtype) != tv.nbytes) fuzz::finding("numel x dtype != bytes");
            (void)first_non_finite(tv);
        }
    } catch (const Error&) {
    }
    return 0;
}
