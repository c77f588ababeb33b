// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The search options object as nlohmann JSON, for core's document writers and readers
// (core/src/session/result_json.cpp). Driven by the table in achilles/options.h.
#include "achilles/options.h"
#include "util/json_util.h"

namespace achilles {

using ojson = nlohmann::ordered_json;

// Keys in table order; non-finite reals as "inf"/"-inf"/"nan"; unsigned 64-bit values as numbers
// or, with u64_as_string, as decimal strings.
ojson search_options_ojson(const SearchOptions& o, bool u64_as_string = false);
// Absent or null keys keep their defaults; errors name source and "path.key".
SearchOptions read_search_options(const json& j, const std::string& source, const std::string& path);

}  // namespace achilles
