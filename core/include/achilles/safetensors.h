// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace achilles {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
size_t dtype_size(DType d);
const char* dtype_name(DType d);  // safetensors spelling: "F32", "BF16", ...

// A zero-copy view into a memory-mapped file. Valid while the owning file (held by `owner`) lives.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const std::byte* data = nullptr;
    size_t nbytes = 0;
    std::string file;                    // the file it lives in
    std::shared_ptr<const void> owner;   // keeps the mapping alive
    int64_t numel() const;
};

// One .safetensors file, memory-mapped read-only. open() validates everything and throws
// achilles::Error naming the file and the offending field: header length bound, JSON,
// dtype, shape x dtype size == byte range, ranges in bounds, sorted without overlap or gaps.
class SafetensorsFile {
public:
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);
    ~SafetensorsFile();
    const std::string& path() const { return path_; }
    const std::map<std::string, TensorView>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::string& header_json() const { return header_; }
    size_t file_size() const { return size_; }
    const std::byte* mapped_data() const { return static_cast<const std::byte*>(map_); }  // start of the mapping

private:
    SafetensorsFile() = default;
    std::string path_, header_;
    std::map<std::string, TensorView> tensors_;
    std::map<std::string, std::string> metadata_;
    void* map_ = nullptr;
    size_t size_ = 0;
    std::shared_ptr<const void> mapping_;  // unmaps when the file and all its views are gone
};

// Writes a safetensors file atomically (temp file + rename). Used by fixtures and training.
struct TensorData {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Index of the first Inf or NaN element of a floating-point tensor; nullopt when all are finite
// (and for integer dtypes).
std::optional<int64_t> first_non_finite(const TensorView& t);

// Parses a safetensors dtype name ("F32", "BF16", ...); nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// Upper bound on the JSON header accepted by SafetensorsFile::open.
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1024 * 1024;

}  // namespace achilles
