// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/fileio.h"
#include "achilles/error.h"
#include <cerrno>
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

std::string read_file(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(path, "", "file does not exist");
    if (fs::is_directory(path, ec)) throw Error(path, "", "is a directory, not a file");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path, "", "cannot open file");
    std::stringstream ss;
    ss << f.rdbuf();
    if (f.bad()) throw Error(path, "", "cannot read file");
    return ss.str();
}

void write_file_atomic(const std::string& path, std::string_view contents) {
    const std::string_view parts[] = {contents};
    write_file_atomic(path, std::span<const std::string_view>(parts));
}

void write_file_atomic(const std::string& path, std::span<const std::string_view> parts) {
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
    const std::string tmp(name.data());
    try {
        for (std::string_view part : parts) {
            const char* p = part.data();
            size_t n = part.size();
            while (n > 0) {
                const ssize_t w = ::write(fd, p, n);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    throw Error(path, "", std::string("cannot write: ") + std::strerror(errno));
                }
                p += w;
                n -= static_cast<size_t>(w);
            }
        }
        if (::fsync(fd) != 0) throw Error(path, "", std::string("fsync failed: ") + std::strerror(errno));
        ::fchmod(fd, 0644);
        const int rc = ::close(fd);
        fd = -1;
        if (rc != 0) throw Error(path, "", std::string("close failed: ") + std::strerror(errno));
        if (::rename(tmp.c_str(), path.c_str()) != 0)
            throw Error(path, "", std::string("cannot rename into place: ") + std::strerror(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace achilles
