// SPDX-License-Identifier: GPL-3.0-or-later
// The safetensors format: u64 little-endian header length N, N bytes of UTF-8 JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the byte buffer. Offsets are relative to the buffer, which must be covered exactly:
// no overlap, no holes, nothing after the last tensor.
#include "achilles/safetensors.h"
#include "achilles/fileio.h"
#include "achilles/utf8.h"
#include "achilles/error.h"
#include "util/json_util.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace achilles {

namespace {

struct DTypeInfo {
    DType d;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1}};

std::string known_dtypes() {
    std::string s;
    for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
    return s;
}

std::string errno_text(int e) { return std::strerror(e); }

// Reads a non-negative integer that fits in uint64 from a JSON value.
bool json_to_u64(const json& v, uint64_t& out) {
    if (v.is_number_unsigned()) { out = v.get<uint64_t>(); return true; }
    if (v.is_number_integer()) {
        int64_t x = v.get<int64_t>();
        if (x < 0) return false;
        out = static_cast<uint64_t>(x);
        return true;
    }
    return false;
}

struct Mapping {
    void* addr = nullptr;
    size_t size = 0;
    ~Mapping() {
        if (addr && addr != MAP_FAILED) ::munmap(addr, size);
    }
};

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

size_t dtype_size(DType d) {
    for (const auto& x : kDTypes)
        if (x.d == d) return x.size;
    return 0;
}

const char* dtype_name(DType d) {
    for (const auto& x : kDTypes)
        if (x.d == d) return x.name;
    return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& x : kDTypes)
        if (name == x.name) return x.d;
    return std::nullopt;
}

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) throw Error(path, "", "safetensors file does not exist");
    if (fs::is_directory(st)) throw Error(path, "", "is a directory, not a safetensors file");
    if (!fs::is_regular_file(st)) throw Error(path, "", "is not a regular file");

    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) throw Error(path, "", "cannot open: " + errno_text(errno));
    struct stat sb {};
    if (::fstat(fd.fd, &sb) != 0) throw Error(path, "", "cannot stat: " + errno_text(errno));
    const uint64_t size = static_cast<uint64_t>(sb.st_size);
    if (size == 0) throw Error(path, "header length", "file is empty (a safetensors file starts with an 8-byte header length)");
    if (size < 8)
        throw Error(path, "header length", "file is " + std::to_string(size) +
                                               " bytes, shorter than the 8-byte header length");

    auto mapping = std::make_shared<Mapping>();
    mapping->size = static_cast<size_t>(size);
    mapping->addr = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (mapping->addr == MAP_FAILED) {
        int e = errno;
        mapping->addr = nullptr;
        throw Error(path, "", "cannot memory-map: " + errno_text(e));
    }
    const auto* base = static_cast<const unsigned char*>(mapping->addr);

    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
    if (n == 0) throw Error(path, "header length", "is 0; the JSON header cannot be empty");
    if (n > kMaxSafetensorsHeader)
        throw Error(path, "header length", std::to_string(n) + " bytes exceeds the " +
                                               std::to_string(kMaxSafetensorsHeader) + "-byte bound");
    if (n > size - 8)
        throw Error(path, "header length", std::to_string(n) + " bytes runs past the end of the file (" +
                                               std::to_string(size - 8) + " bytes after the length)");

    const unsigned char* hdr = base + 8;
    if (size_t bad = find_invalid_utf8(std::string_view(reinterpret_cast<const char*>(hdr), n)); bad != std::string::npos)
        throw Error(path, "header", "is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    std::string header(reinterpret_cast<const char*>(hdr), n);
    // Depth, duplicate tensor names (duplicate keys) and number overflow are refused here.
    json j;
    try {
        j = parse_json(header, path);
    } catch (const Error& e) {
        throw Error(path, e.field().empty() ? "header" : "header." + e.field(),
                    e.problem());
    }
    if (!j.is_object()) throw Error(path, "header", "must be a JSON object, got " + std::string(j.type_name()));

    const uint64_t data_size = size - 8 - n;
    const std::byte* data = reinterpret_cast<const std::byte*>(base + 8 + n);

    auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
    file->path_ = path;
    file->header_ = std::move(header);
    file->size_ = static_cast<size_t>(size);
    file->map_ = mapping->addr;
    file->mapping_ = mapping;

    struct Range {
        uint64_t begin, end;
        const std::string* name;
    };
    std::vector<Range> ranges;

    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& name = it.key();
        const std::string where = brief_key(name);
        const json& v = it.value();
        if (name == "__metadata__") {
            if (v.is_null()) continue;
            if (!v.is_object()) throw Error(path, "__metadata__", "must be an object of strings");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string())
                    throw Error(path, "__metadata__." + brief_key(m.key()), "must be a string, got " + brief(m.value()));
                file->metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!v.is_object()) throw Error(path, where, "tensor entry must be an object {dtype, shape, data_offsets}");

        if (!v.contains("dtype")) throw Error(path, where + ".dtype", "is missing");
        if (!v["dtype"].is_string()) throw Error(path, where + ".dtype", "must be a string, got " + brief(v["dtype"]));
        std::string dname = v["dtype"].get<std::string>();
        auto dt = dtype_from_name(dname);
        if (!dt) throw Error(path, where + ".dtype", "unknown dtype '" + dname + "' (known: " + known_dtypes() + ")");

        if (!v.contains("shape")) throw Error(path, where + ".shape", "is missing");
        const json& sh = v["shape"];
        if (!sh.is_array()) throw Error(path, where + ".shape", "must be an array of non-negative integers");
        if (sh.size() > 16) throw Error(path, where + ".shape", "has " + std::to_string(sh.size()) + " dimensions (at most 16)");
        std::vector<int64_t> shape;
        unsigned __int128 numel = 1;
        for (const auto& d : sh) {
            uint64_t x = 0;
            if (!json_to_u64(d, x) || x > uint64_t(std::numeric_limits<int64_t>::max()))
                throw Error(path, where + ".shape", "must hold non-negative integers, got " + brief(d));
            numel *= x;
            if (numel > (unsigned __int128)(std::numeric_limits<int64_t>::max()))
                throw Error(path, where + ".shape", "element count overflows");
            shape.push_back(static_cast<int64_t>(x));
        }

        if (!v.contains("data_offsets")) throw Error(path, where + ".data_offsets", "is missing");
        const json& off = v["data_offsets"];
        uint64_t b = 0, e = 0;
        if (!off.is_array() || off.size() != 2 || !json_to_u64(off[0], b) || !json_to_u64(off[1], e))
            throw Error(path, where + ".data_offsets", "must be [begin, end] with non-negative integers, got " + brief(off));
        if (b > e) throw Error(path, where + ".data_offsets", "begin " + std::to_string(b) + " > end " + std::to_string(e));
        if (e > data_size)
            throw Error(path, where + ".data_offsets",
                        "end " + std::to_string(e) + " is beyond the data section (" + std::to_string(data_size) + " bytes)");
        unsigned __int128 want = numel * dtype_size(*dt);
        if (want != (unsigned __int128)(e - b))
            throw Error(path, where + ".data_offsets",
                        "byte range is " + std::to_string(e - b) + " bytes but shape " + brief(sh) + " of " + dname +
                            " needs " + std::to_string(static_cast<uint64_t>(want)));

        TensorView tv;
        tv.name = name;
        tv.dtype = *dt;
        tv.shape = std::move(shape);
        tv.data = data + b;
        tv.nbytes = static_cast<size_t>(e - b);
        tv.file = path;
        tv.owner = mapping;
        file->tensors_.emplace(name, std::move(tv));
        ranges.push_back({b, e, &it.key()});
    }

    // The buffer must be covered exactly: sorted ranges, each starting where the previous ended.
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t pos = 0;
    const std::string* prev = nullptr;
    for (const auto& r : ranges) {
        if (r.begin < pos)
            throw Error(path, brief_key(*r.name) + ".data_offsets",
                        "overlaps tensor '" + (prev ? brief_key(*prev) : std::string()) + "' (starts at " + std::to_string(r.begin) +
                            ", previous ends at " + std::to_string(pos) + ")");
        if (r.begin > pos)
            throw Error(path, brief_key(*r.name) + ".data_offsets",
                        "leaves a gap of " + std::to_string(r.begin - pos) + " bytes before it (starts at " +
                            std::to_string(r.begin) + ", previous data ends at " + std::to_string(pos) + ")");
        pos = r.end;
        prev = r.name;
    }
    if (pos != data_size)
        throw Error(path, "data_offsets",
                    "tensors cover " + std::to_string(pos) + " bytes but the data section holds " +
                        std::to_string(data_size) + " bytes");
    return file;
}

std::optional<int64_t> first_non_finite(const TensorView& t) {
    // Exponent bits all ones: Inf or NaN, by dtype. Plain loops over the mapped bytes (memcpy for
    // alignment), fast enough to run on every load.
    const auto* p = reinterpret_cast<const unsigned char*>(t.data);
    const int64_t n = t.numel();
    switch (t.dtype) {
        case DType::F32:
            for (int64_t i = 0; i < n; ++i) {
                uint32_t u;
                std::memcpy(&u, p + 4 * i, 4);
                if ((u & 0x7F800000u) == 0x7F800000u) return i;
            }
            break;
        case DType::F64:
            for (int64_t i = 0; i < n; ++i) {
                uint64_t u;
                std::memcpy(&u, p + 8 * i, 8);
                if ((u & 0x7FF0000000000000ull) == 0x7FF0000000000000ull) return i;
            }
            break;
        case DType::F16:
        case DType::BF16: {
            const uint16_t mask = t.dtype == DType::F16 ? 0x7C00 : 0x7F80;
            for (int64_t i = 0; i < n; ++i) {
                uint16_t u;
                std::memcpy(&u, p + 2 * i, 2);
                if ((u & mask) == mask) return i;
            }
            break;
        }
        default:
            break;
    }
    return std::nullopt;
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // Header: keys sorted (nlohmann's object order); data in the order given.
    json h = json::object();
    std::set<std::string> seen;
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        if (t.name.empty()) throw Error(path, "name", "tensor name is empty");
        if (t.name == "__metadata__") throw Error(path, t.name, "'__metadata__' is reserved");
        if (!seen.insert(t.name).second) throw Error(path, t.name, "duplicate tensor name");
        unsigned __int128 numel = 1;
        for (int64_t s : t.shape) {
            if (s < 0) throw Error(path, t.name + ".shape", "negative dimension " + std::to_string(s));
            numel *= static_cast<uint64_t>(s);
            if (numel > (unsigned __int128)std::numeric_limits<int64_t>::max())
                throw Error(path, t.name + ".shape", "element count overflows");
        }
        if (numel * dtype_size(t.dtype) != t.bytes.size())
            throw Error(path, t.name, "has " + std::to_string(t.bytes.size()) + " bytes but its shape and dtype need " +
                                          std::to_string(static_cast<uint64_t>(numel * dtype_size(t.dtype))));
        h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    if (!metadata.empty()) {
        json m = json::object();
        for (const auto& [k, v] : metadata) m[k] = v;
        h["__metadata__"] = std::move(m);
    }
    std::string header = h.dump();
    while (header.size() % 8) header += ' ';
    unsigned char len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));

    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw Error(path, "", "is a directory; cannot write a safetensors file there");
    std::vector<std::string_view> parts;
    parts.reserve(tensors.size() + 2);
    parts.emplace_back(reinterpret_cast<const char*>(len), 8);
    parts.emplace_back(header);
    for (const auto& t : tensors) parts.emplace_back(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    write_file_atomic(path, std::span<const std::string_view>(parts));
}

}  // namespace achilles
