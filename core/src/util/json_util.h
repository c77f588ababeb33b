// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// nlohmann::json helpers with errors that name the file and the field.
//
// Every JSON document the project reads goes through parse_json(): it nests at most
// kMaxJsonDepth levels, rejects duplicate keys, reports numbers that do not fit a double
// (1e400) and every other syntax error as an achilles::Error naming the file and the field
// path ("weight_map.model.norm.weight", "ranking[3].channel"). Untrusted values never reach a
// message whole: brief() and brief_key() cut them short.
#include "achilles/error.h"
#include "achilles/json_check.h"
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace achilles {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;  // documents we write: keys in the order written

// A double for a written document. JSON has no NaN or infinity: they are written as the strings
// "nan", "inf" and "-inf" (an overflowed perplexity stays visible), which the readers accept.
inline ojson json_num(double v) {
    if (v != v) return "nan";
    if (v > 1.7976931348623157e308) return "inf";
    if (v < -1.7976931348623157e308) return "-inf";
    return v;
}

// Parses JSON text strictly (see above). Throws Error(source, field path, problem).
json parse_json(std::string_view text, const std::string& source, int max_depth = kMaxJsonDepth);

// A short description of an untrusted value for a message: scalars as JSON (strings cut to
// about 60 bytes), arrays and objects by their size only.
std::string brief(const json& v);
// An untrusted key or string cut to at most max bytes (on a UTF-8 boundary), with "..." when cut.
std::string brief_key(std::string_view s, size_t max = 80);

// Integer value of v in [lo, hi]: integers, and doubles that are exact integers (Qt and JavaScript
// write some integers as 5.0). Anything else, or out of range, throws Error(source, field, ...).
// Range is checked before any cast.
int64_t json_int(const json& v, int64_t lo, int64_t hi, const std::string& source, const std::string& field);
// Non-negative integer up to UINT64_MAX (seeds).
uint64_t json_u64(const json& v, const std::string& source, const std::string& field);
// A finite number (throws on strings, booleans, ...).
double json_double(const json& v, const std::string& source, const std::string& field);

// Typed field access: throws Error(source, field, "missing" / "expected a number" ...).
// Integral types are range-checked against T before the cast.
template <class T>
T get_field(const json& j, const char* field, const std::string& source);
template <class T>
T get_field_or(const json& j, const char* field, T fallback, const std::string& source);

}  // namespace achilles
