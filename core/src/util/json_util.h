// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// nlohmann::json helpers with errors that name the file and the field.
#include "achilles/error.h"
#include <nlohmann/json.hpp>
#include <string>

namespace achilles {

using json = nlohmann::json;

// Parses JSON text; throws Error(source, "", "invalid JSON: ...").
json parse_json(const std::string& text, const std::string& source);

// Typed field access: throws Error(source, field, "missing" / "expected a number" ...).
template <class T>
T get_field(const json& j, const char* field, const std::string& source);
template <class T>
T get_field_or(const json& j, const char* field, T fallback, const std::string& source);

}  // namespace achilles
