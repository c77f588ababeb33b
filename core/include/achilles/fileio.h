// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Whole-file reads and atomic writes shared by every part of core. Errors name the file.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace achilles {

// Reads a whole file. Throws Error(path, "", ...) when missing, a directory, or unreadable.
std::string read_file(const std::string& path);

// Writes atomically: a temporary file in the same folder, fsync, rename, fsync of the folder.
// On any failure the previous file (if any) is untouched and no temporary file is left.
void write_file_atomic(const std::string& path, std::string_view contents);
// The same for contents in several pieces (e.g. a safetensors header and its tensors), so large
// files need not be assembled in memory first.
void write_file_atomic(const std::string& path, std::span<const std::string_view> parts);

}  // namespace achilles
