// SPDX-License-Identifier: GPL-3.0-or-later
// The NumPy .npy header (--noise FILE.npy): an accepted header names a supported dtype and a shape
// whose elements exactly fill the rest of the file.
#include "achilles/error.h"
#include "achilles/npy.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    fuzz::MemFile f(data, size, "noise.npy");
    try {
        const NpyHeader h = read_npy_header(f.path());
        if (h.descr != "<f4" && h.descr != "<f8") fuzz::finding("unsupported dtype accepted");
        if (h.data_offset + uint64_t(h.elements()) * h.item_size() != size) fuzz::finding("size mismatch accepted");
        for (int64_t d : h.shape)
            if (d < 0) fuzz::finding("negative dimension accepted");
    } catch (const Error&) {
    }
    return 0;
}
