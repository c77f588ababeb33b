// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/npy.h"
#include "achilles/error.h"
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace achilles {

namespace {

// A cursor over the header dictionary, a Python literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (100, 12, 32), }
struct Literal {
    const std::string& path;
    std::string_view s;
    size_t i = 0;
    [[noreturn]] void fail(const std::string& field, const std::string& why) const { throw Error(path, field, why); }
    void ws() {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    }
    bool eat(char c) {
        ws();
        if (i < s.size() && s[i] == c) { ++i; return true; }
        return false;
    }
    void expect(char c, const std::string& field) {
        if (!eat(c)) fail(field, std::string("malformed header: expected '") + c + "' at byte " + std::to_string(i));
    }
    std::string quoted(const std::string& field) {
        ws();
        if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail(field, "malformed header: expected a quoted string");
        const char q = s[i++];
        const size_t start = i;
        while (i < s.size() && s[i] != q) ++i;
        if (i >= s.size()) fail(field, "malformed header: unterminated string");
        return std::string(s.substr(start, i++ - start));
    }
    std::string word() {
        ws();
        const size_t start = i;
        while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
        return std::string(s.substr(start, i - start));
    }
    int64_t integer(const std::string& field) {
        ws();
        const size_t start = i;
        int64_t v = 0;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
            const int d = s[i] - '0';
            if (v > (std::numeric_limits<int64_t>::max() - d) / 10) fail(field, "a dimension is out of range");
            v = v * 10 + d;
            ++i;
        }
        if (i == start) fail(field, "malformed header: expected a non-negative integer");
        if (i < s.size() && (s[i] == 'L' || s[i] == 'l')) ++i;  // Python 2 longs
        return v;
    }
};

}  // namespace

int64_t NpyHeader::elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;  // read_npy_header() checked that this does not overflow
    return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

NpyHeader read_npy_header(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path, "", "no such file");
    if (!std::filesystem::is_regular_file(path, ec)) throw Error(path, "", "is not a regular file");
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path, "", "cannot read its size: " + ec.message());
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path, "", "cannot open for reading");
    unsigned char pre[12] = {};
    f.read(reinterpret_cast<char*>(pre), 10);
    if (f.gcount() < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
        throw Error(path, "magic", "is not a NumPy .npy file (no \\x93NUMPY magic)");
    const int major = pre[6];
    uint64_t hlen = 0, pre_len = 10;
    if (major == 1) {
        hlen = pre[8] | (uint64_t(pre[9]) << 8);
    } else if (major == 2 || major == 3) {
        f.read(reinterpret_cast<char*>(pre + 10), 2);
        if (f.gcount() < 2) throw Error(path, "header", "truncated");
        hlen = pre[8] | (uint64_t(pre[9]) << 8) | (uint64_t(pre[10]) << 16) | (uint64_t(pre[11]) << 24);
        pre_len = 12;
    } else {
        throw Error(path, "version", "unsupported .npy format version " + std::to_string(major) + "." +
                                         std::to_string(pre[7]) + " (this build reads 1.0, 2.0 and 3.0)");
    }
    if (hlen > 1u << 20 || pre_len + hlen > size)
        throw Error(path, "header", "header length " + std::to_string(hlen) + " does not fit the file of " +
                                        std::to_string(size) + " bytes");
    std::string text(hlen, '\0');
    f.read(text.data(), static_cast<std::streamsize>(hlen));
    if (static_cast<uint64_t>(f.gcount()) != hlen) throw Error(path, "header", "truncated");

    NpyHeader h;
    h.data_offset = pre_len + hlen;
    Literal p{path, text};
    p.expect('{', "header");
    bool have_descr = false, have_order = false, have_shape = false;
    while (!p.eat('}')) {
        const std::string key = p.quoted("header");
        p.expect(':', key);
        if (key == "descr") {
            if (have_descr) p.fail("descr", "appears twice");
            have_descr = true;
            h.descr = p.quoted("descr");
            if (h.descr == "float32" || h.descr == "f4") h.descr = "<f4";
            if (h.descr == "float64" || h.descr == "f8") h.descr = "<f8";
            if (h.descr != "<f4" && h.descr != "<f8")
                p.fail("descr", "dtype '" + h.descr.substr(0, 20) +
                                    "' is not supported (expected little-endian float32 '<f4' or float64 '<f8')");
        } else if (key == "fortran_order") {
            if (have_order) p.fail("fortran_order", "appears twice");
            have_order = true;
            const std::string w = p.word();
            if (w == "True") p.fail("fortran_order", "is True: save a C-order array (numpy.ascontiguousarray)");
            if (w != "False") p.fail("fortran_order", "malformed header: expected True or False");
        } else if (key == "shape") {
            if (have_shape) p.fail("shape", "appears twice");
            have_shape = true;
            p.expect('(', "shape");
            while (!p.eat(')')) {
                h.shape.push_back(p.integer("shape"));
                if (h.shape.size() > 32) p.fail("shape", "has more than 32 dimensions");
                if (!p.eat(',')) {
                    p.expect(')', "shape");
                    break;
                }
            }
        } else {
            p.fail(key.substr(0, 40), "unknown key in the .npy header");
        }
        if (!p.eat(',')) {
            p.expect('}', "header");
            break;
        }
    }
    if (!have_descr) throw Error(path, "descr", "missing from the header");
    if (!have_order) throw Error(path, "fortran_order", "missing from the header");
    if (!have_shape) throw Error(path, "shape", "missing from the header");
    uint64_t n = 1;
    for (int64_t d : h.shape) {
        if (d != 0 && n > std::numeric_limits<uint64_t>::max() / 8 / uint64_t(d))
            throw Error(path, "shape", shape_text(h.shape) + " is too large");
        n *= uint64_t(d);
    }
    const uint64_t want = h.data_offset + n * h.item_size();
    if (size != want)
        throw Error(path, "shape", shape_text(h.shape) + " of " + h.descr + " needs " + std::to_string(want) +
                                       " bytes, but the file has " + std::to_string(size) +
                                       (size < want ? " (truncated)" : " (trailing bytes)"));
    return h;
}

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
    const size_t unpadded = 10 + dict.size() + 1;  // + '\n'
    dict.append((64 - unpadded % 64) % 64, ' ');
    dict += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(dict.size() & 0xff);
    out += static_cast<char>((dict.size() >> 8) & 0xff);
    return out + dict;
}

}  // namespace achilles
