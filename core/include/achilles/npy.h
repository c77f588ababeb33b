// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// NumPy .npy files (format versions 1.0, 2.0 and 3.0), as numpy.save writes them: little-endian
// float32 ('<f4') or float64 ('<f8'), C order. Used for the stage-1 noise of a run
// (achilles-cli search --noise / --dump-noise).
#include <cstdint>
#include <string>
#include <vector>

namespace achilles {

struct NpyHeader {
    std::string descr;               // "<f4" or "<f8"
    std::vector<int64_t> shape;
    uint64_t data_offset = 0;        // bytes from the start of the file to the first element
    size_t item_size() const { return descr == "<f8" ? 8 : 4; }
    int64_t elements() const;
};

// Reads and checks the header of path: magic, version, the header dictionary (exactly 'descr',
// 'fortran_order', 'shape'), a supported dtype, C order, and a file size equal to the header plus
// the elements. Throws Error(path, field, ...) naming what is wrong.
NpyHeader read_npy_header(const std::string& path);

// The bytes of a version-1.0 header (magic included, padded to 64 bytes) for a C-order array.
std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape);

// "(100, 12, 32)"
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace achilles
