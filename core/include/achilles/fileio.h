// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Whole-file reads and atomic writes shared by every part of core. Errors name the file.
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace achilles {

// Reads a whole regular file of at most max_bytes. Throws Error(path, "", ...) when missing, a
// directory, a device or pipe (/dev/zero), too large, or unreadable.
inline constexpr size_t kMaxReadBytes = size_t(4) << 30;
std::string read_file(const std::string& path, size_t max_bytes = kMaxReadBytes);

// Writes atomically: a temporary file in the same folder, fsync, rename, fsync of the folder.
// On any failure the previous file (if any) is untouched and no temporary file is left.
void write_file_atomic(const std::string& path, std::string_view contents);
// The same for contents in several pieces (e.g. a safetensors header and its tensors), so large
// files need not be assembled in memory first.
void write_file_atomic(const std::string& path, std::span<const std::string_view> parts);
// The same for contents produced piece by piece (a large array): next(chunk) sets the next piece
// and returns true, or returns false at the end. An exception from next() fails the write as a
// whole, leaving the previous file untouched.
void write_file_atomic_chunks(const std::string& path, const std::function<bool(std::string&)>& next);

// Several files as one write: every file is written to a temporary beside it and synced first;
// only when all are complete are they renamed into place. A failure while writing leaves every
// previous file untouched and no temporary behind.
struct FileContents {
    std::string path;
    std::string_view contents;
};
void write_files_atomic(std::span<const FileContents> files);

// Removes the temporary files of writes in progress. Async-signal-safe: for signal handlers.
void remove_pending_temp_files() noexcept;
// For executables: ignore SIGXFSZ (a file size limit then fails the write with EFBIG instead of
// killing the process mid-file) and remove pending temporary files on SIGTERM, SIGHUP and SIGQUIT
// before dying of the signal.
void install_exit_cleanup();

}  // namespace achilles
