// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/fileio.h"
#include <functional>
#include "achilles/error.h"
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace achilles {

namespace fs = std::filesystem;

std::string read_file(const std::string& path, size_t max_bytes) {
    std::error_code ec;
    if (path.empty()) throw Error("", "path", "no file given");
    if (!fs::exists(path, ec)) throw Error(path, "", "file does not exist");
    if (fs::is_directory(path, ec)) throw Error(path, "", "is a directory, not a file");
    // Devices and pipes (/dev/zero, /dev/stdin) never end or end unpredictably: only plain files.
    if (!fs::is_regular_file(path, ec)) throw Error(path, "", "is not a regular file");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path, "", std::string("cannot open file: ") + std::strerror(errno));
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error(path, "", std::string("cannot stat file: ") + std::strerror(e));
    }
    const uint64_t size = static_cast<uint64_t>(sb.st_size);
    if (size > max_bytes) {
        ::close(fd);
        throw Error(path, "", "is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                                  " bytes accepted for this kind of file");
    }
    std::string out;
    try {
        out.resize(static_cast<size_t>(size));
    } catch (const std::bad_alloc&) {
        ::close(fd);
        throw Error(path, "", "not enough memory to read " + std::to_string(size) + " bytes");
    }
    size_t got = 0;
    while (got < out.size()) {
        const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd);
            throw Error(path, "", std::string("cannot read file: ") + std::strerror(e));
        }
        if (r == 0) break;  // shrank while reading
        got += static_cast<size_t>(r);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

// ---------------------------------------------------------------- pending temporary files
// Every temporary file being written is listed here, so that a signal handler can remove it:
// fixed slots, lock-free, and only async-signal-safe calls (unlink) on the handler's side.
namespace {
constexpr int kTempSlots = 64;
struct TempSlot {
    std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a path
    char path[4096];
};
TempSlot g_temps[kTempSlots];

int register_temp(const std::string& p) {
    if (p.size() >= sizeof(TempSlot::path)) return -1;
    for (int i = 0; i < kTempSlots; ++i) {
        int expect = 0;
        if (g_temps[i].state.compare_exchange_strong(expect, 1)) {
            std::memcpy(g_temps[i].path, p.c_str(), p.size() + 1);
            g_temps[i].state.store(2);
            return i;
        }
    }
    return -1;  // more than 64 writes at once: still removed on every error path, just not by signals
}

void unregister_temp(int slot) {
    if (slot >= 0) g_temps[slot].state.store(0);
}

extern "C" void on_fatal_signal(int sig) {
    remove_pending_temp_files();
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// A temporary file beside `path`, written in full, fsync'ed and closed; removed on any failure.
struct Temp {
    std::string path;
    int slot = -1;
};

Temp write_temp(const std::string& path, const std::function<bool(std::string&)>& next) {
    if (path.empty()) throw Error("", "path", "no output file given");
    const fs::path target(path);
    std::error_code ec;
    if (fs::is_directory(target, ec)) throw Error(path, "", "is a directory; cannot write a file there");
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) throw Error(path, "", "folder " + dir.string() + " does not exist");
    const std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int fd = ::mkstemp(name.data());
    if (fd < 0) throw Error(path, "", "cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
    Temp t;
    t.path = name.data();
    t.slot = register_temp(t.path);
    try {
        std::string part;
        while (next(part)) {
            const char* p = part.data();
            size_t n = part.size();
            while (n > 0) {
                const ssize_t w = ::write(fd, p, n);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    const int e = errno;
                    throw Error(path, "", std::string("cannot write: ") + std::strerror(e) +
                                              (e == EFBIG ? " (the file size limit, ulimit -f, was reached)" : ""));
                }
                if (w == 0) throw Error(path, "", "cannot write: the device accepts no more data");
                p += w;
                n -= static_cast<size_t>(w);
            }
        }
        if (::fsync(fd) != 0) throw Error(path, "", std::string("fsync failed: ") + std::strerror(errno));
        ::fchmod(fd, 0644);
        const int rc = ::close(fd);
        fd = -1;
        if (rc != 0) throw Error(path, "", std::string("close failed: ") + std::strerror(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(t.path.c_str());
        unregister_temp(t.slot);
        throw;
    }
    return t;
}

Temp write_temp(const std::string& path, std::span<const std::string_view> parts) {
    size_t i = 0;
    return write_temp(path, [&](std::string& chunk) {
        if (i >= parts.size()) return false;
        chunk.assign(parts[i].data(), parts[i].size());
        ++i;
        return true;
    });
}

void discard(Temp& t) {
    if (t.path.empty()) return;
    ::unlink(t.path.c_str());
    unregister_temp(t.slot);
    t.path.clear();
}

void fsync_dir_of(const std::string& path) {
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}
}  // namespace

void remove_pending_temp_files() noexcept {
    for (auto& t : g_temps)
        if (t.state.load() == 2) ::unlink(t.path);
}

void install_exit_cleanup() {
    // A file size limit (ulimit -f) must fail the write, not kill the process mid-file.
    ::signal(SIGXFSZ, SIG_IGN);
    for (int sig : {SIGTERM, SIGHUP, SIGQUIT}) {
        struct sigaction sa {};
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        ::sigaction(sig, &sa, nullptr);
    }
}

void write_file_atomic(const std::string& path, std::string_view contents) {
    const std::string_view parts[] = {contents};
    write_file_atomic(path, std::span<const std::string_view>(parts));
}

void write_file_atomic(const std::string& path, std::span<const std::string_view> parts) {
    size_t i = 0;
    write_file_atomic_chunks(path, [&](std::string& chunk) {
        if (i >= parts.size()) return false;
        chunk.assign(parts[i].data(), parts[i].size());
        ++i;
        return true;
    });
}

void write_file_atomic_chunks(const std::string& path, const std::function<bool(std::string&)>& next) {
    Temp t = write_temp(path, next);
    if (::rename(t.path.c_str(), path.c_str()) != 0) {
        const int e = errno;
        discard(t);
        throw Error(path, "", std::string("cannot rename into place: ") + std::strerror(e));
    }
    unregister_temp(t.slot);
    fsync_dir_of(path);
}

void write_files_atomic(std::span<const FileContents> files) {
    std::vector<Temp> temps;
    temps.reserve(files.size());
    try {
        for (const auto& f : files) {
            const std::string_view parts[] = {f.contents};
            temps.push_back(write_temp(f.path, std::span<const std::string_view>(parts)));
        }
    } catch (...) {
        for (auto& t : temps) discard(t);
        throw;
    }
    // Every file is complete on disk; only renames are left.
    for (size_t i = 0; i < files.size(); ++i) {
        if (::rename(temps[i].path.c_str(), files[i].path.c_str()) != 0) {
            const int e = errno;
            for (size_t k = i; k < temps.size(); ++k) discard(temps[k]);
            throw Error(files[i].path, "", std::string("cannot rename into place: ") + std::strerror(e) + " (" +
                                               std::to_string(i) + " of " + std::to_string(files.size()) +
                                               " files were already replaced)");
        }
        unregister_temp(temps[i].slot);
        temps[i].path.clear();
    }
    for (const auto& f : files) fsync_dir_of(f.path);
}

}  // namespace achilles
