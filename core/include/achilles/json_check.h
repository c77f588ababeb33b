// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The project's JSON rules, for readers that build their own document (the GUI's QJsonDocument):
// nesting depth, duplicate keys, numbers that overflow a double. core reads JSON through
// parse_json() (util/json_util.h), which applies the same rules while it builds the document.
#include <string>
#include <string_view>

namespace achilles {

// Deep enough for every file the project reads (tokenizer.json nests about 6 levels);
// shallow enough that no recursive walk over a document can exhaust the stack.
inline constexpr int kMaxJsonDepth = 64;

// Throws Error(source, field path, problem) when text breaks a rule or is not JSON.
void check_json(std::string_view text, const std::string& source, int max_depth = kMaxJsonDepth);

}  // namespace achilles
