// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Shared pieces of the libFuzzer harnesses: an in-memory file for the loaders that take a path.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace achilles::fuzz {

// The bytes as a file: a memfd named by /proc/self/fd/N (no disk, no leftovers).
class MemFile {
public:
    MemFile(const uint8_t* data, size_t size, const char* name = "input") {
        fd_ = ::memfd_create(name, MFD_CLOEXEC);
        size_t off = 0;
        while (fd_ >= 0 && off < size) {
            const ssize_t w = ::write(fd_, data + off, size - off);
            if (w <= 0) break;
            off += size_t(w);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() {
        if (fd_ >= 0) ::close(fd_);
    }
    MemFile(const MemFile&) = delete;
    MemFile& operator=(const MemFile&) = delete;
    const std::string& path() const { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};

// A finding: abort so libFuzzer records the input.
[[noreturn]] inline void finding(const char* what) {
    fprintf(stderr, "FINDING: %s\n", what);
    abort();
}

}  // namespace achilles::fuzz
