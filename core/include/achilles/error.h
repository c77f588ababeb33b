// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <stdexcept>
#include <string>

namespace achilles {

// Every user-facing failure: bad files, bad arguments, unsupported models.
// what() is a complete sentence naming the file and the field where known.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message), problem_(message) {}
    Error(const std::string& file, const std::string& field, const std::string& problem);
    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }
    const std::string& problem() const { return problem_; }  // the message without file and field

private:
    std::string file_, field_, problem_;
};

}  // namespace achilles
