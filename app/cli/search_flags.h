// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The flags of `achilles-cli search`, one per row of the search options table (achilles/options.h):
// flag name, help, default and type come from the table; a value that is not of the field's type
// is a usage error (exit 2), one outside the field's range an error naming the flag (exit 1).
#include "achilles/options.h"
#include <CLI/CLI.hpp>
#include <map>
#include <string>

namespace achilles::cli {

class SearchFlags {
public:
    void add(CLI::App* sub);
    // The defaults with every given flag applied and range-checked; throws Error("command line", flag, ...).
    SearchOptions options() const;

private:
    const CLI::App* sub_ = nullptr;
    std::map<std::string, std::string, std::less<>> text_;  // node-stable storage bound by CLI11
    std::map<std::string, bool, std::less<>> flag_;
};

}  // namespace achilles::cli
