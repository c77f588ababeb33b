// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/error.h"

namespace achilles {

static std::string compose(const std::string& file, const std::string& field, const std::string& problem) {
    std::string s;
    if (!file.empty()) s += file;
    if (!field.empty()) s += (s.empty() ? "" : ": ") + std::string("field '") + field + "'";
    if (!s.empty()) s += ": ";
    return s + problem;
}

Error::Error(const std::string& file, const std::string& field, const std::string& problem)
    : std::runtime_error(compose(file, field, problem)), file_(file), field_(field), problem_(problem) {}

}  // namespace achilles
