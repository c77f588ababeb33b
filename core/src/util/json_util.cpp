// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/json_util.h"
#include <cstdint>

namespace achilles {

json parse_json(const std::string& text, const std::string& source) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(source, "", std::string("invalid JSON: ") + e.what());
    }
}

template <class T>
T get_field(const json& j, const char* field, const std::string& source) {
    if (!j.is_object() || !j.contains(field)) throw Error(source, field, "is missing");
    const json& v = j.at(field);
    try {
        if constexpr (std::is_same_v<T, bool>) {
            if (!v.is_boolean()) throw Error(source, field, "expected true or false, got " + v.dump());
        } else if constexpr (std::is_arithmetic_v<T>) {
            if (!v.is_number()) throw Error(source, field, "expected a number, got " + v.dump());
            if constexpr (std::is_integral_v<T>) {
                if (!v.is_number_integer() && !v.is_number_unsigned())
                    throw Error(source, field, "expected an integer, got " + v.dump());
            }
        } else if constexpr (std::is_same_v<T, std::string>) {
            if (!v.is_string()) throw Error(source, field, "expected a string, got " + v.dump());
        }
        return v.get<T>();
    } catch (const json::exception& e) {
        throw Error(source, field, e.what());
    }
}

template <class T>
T get_field_or(const json& j, const char* field, T fallback, const std::string& source) {
    if (!j.is_object() || !j.contains(field) || j.at(field).is_null()) return fallback;
    return get_field<T>(j, field, source);
}

#define ACH_INST(T)                                                                 \
    template T get_field<T>(const json&, const char*, const std::string&);          \
    template T get_field_or<T>(const json&, const char*, T, const std::string&);
ACH_INST(int)
ACH_INST(int64_t)
ACH_INST(uint64_t)
ACH_INST(double)
ACH_INST(bool)
ACH_INST(std::string)
#undef ACH_INST

}  // namespace achilles
