// SPDX-License-Identifier: GPL-3.0-or-later
// One strict JSON reader for every file the project reads. It is nlohmann's (iterative) parser
// driven through its SAX interface, so the rules hold while the document is built:
//   - nesting depth is bounded (a 200k-deep array is refused at depth 65, before any recursive
//     copy, dump or destructor can touch it);
//   - a key that appears twice in one object is an error (HF files never do this; silently
//     keeping one of them would hide a corrupted or hand-edited file);
//   - a number that does not fit a double (1e400) is reported with its field, like any syntax error.
#include "util/json_util.h"

#include <cmath>
#include <limits>
#include <set>
#include <type_traits>
#include <vector>

namespace achilles {

namespace {

// Field path of the value being read: "a.b[3].c". Keys are cut short for messages.
struct Frame {
    bool is_array = false;
    size_t index = 0;          // arrays: elements started so far
    std::string key;           // objects: the current member's key
    json* node = nullptr;      // the container being filled (DOM mode)
    std::set<std::string> keys;  // check-only mode: keys seen in this object
};

class StrictSax {
public:
    StrictSax(const std::string& source, int max_depth, bool build)
        : source_(source), max_depth_(max_depth), build_(build) {}

    bool null() { return value(json(nullptr)); }
    bool boolean(bool v) { return value(json(v)); }
    bool number_integer(json::number_integer_t v) { return value(json(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return value(json(v)); }
    bool number_float(json::number_float_t v, const json::string_t&) { return value(json(v)); }
    bool string(json::string_t& v) { return value(json(std::move(v))); }
    bool binary(json::binary_t&) { return fail_here("binary values are not JSON"); }

    bool start_object(std::size_t) { return open(false); }
    bool start_array(std::size_t) { return open(true); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(json::string_t& k) {
        Frame& f = frames_.back();
        const bool dup = build_ ? f.node->contains(k) : !f.keys.insert(k).second;
        if (dup) {
            f.key.clear();
            return fail_here("key '" + brief_key(k) + "' appears twice in the same object");
        }
        f.key = k;
        return true;
    }

    bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& ex) {
        if (!error_.empty()) return false;  // our own rule fired first
        field_ = path();
        if (ex.id == 406) {  // out_of_range: number overflow
            error_ = "number " + brief_key(last_token, 40) + " is out of range (it does not fit a double)";
        } else {
            std::string what = ex.what();
            // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." -> the tail.
            if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
            error_ = "is not valid JSON (at byte " + std::to_string(position) + ": " + brief_key(what, 200) + ")";
        }
        return false;
    }

    json& root() { return root_; }
    const std::string& error() const { return error_; }
    const std::string& field() const { return field_; }

private:
    std::string path() const {
        std::string p = full_path();
        if (p.size() > 160) p = brief_key(p, 120) + " (" + std::to_string(frames_.size()) + " levels deep)";
        return p;
    }
    std::string full_path() const {
        std::string p;
        for (size_t i = 0; i < frames_.size(); ++i) {
            const Frame& f = frames_[i];
            const bool child_open = i + 1 < frames_.size();
            if (f.is_array) {
                const size_t idx = child_open && f.index > 0 ? f.index - 1 : f.index;
                p += "[" + std::to_string(idx) + "]";
            } else if (!f.key.empty()) {
                if (!p.empty()) p += '.';
                p += brief_key(f.key, 60);
            }
        }
        return p;
    }

    bool fail_here(const std::string& problem) {
        if (error_.empty()) {
            field_ = path();
            error_ = problem;
        }
        return false;
    }

    json* put(json&& v) {
        if (frames_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        Frame& f = frames_.back();
        if (f.is_array) {
            ++f.index;
            if (!build_) return nullptr;
            auto& arr = *f.node->get_ptr<json::array_t*>();
            arr.push_back(std::move(v));
            return &arr.back();
        }
        if (!build_) return nullptr;
        auto& obj = *f.node->get_ptr<json::object_t*>();
        return &obj.emplace(f.key, std::move(v)).first->second;
    }

    bool value(json&& v) {
        put(std::move(v));
        return true;
    }

    bool open(bool array) {
        if (static_cast<int>(frames_.size()) >= max_depth_)
            return fail_here("JSON nesting is deeper than " + std::to_string(max_depth_) + " levels");
        json* n = put(array ? json::array() : json::object());
        Frame f;
        f.is_array = array;
        f.node = n;
        frames_.push_back(std::move(f));
        return true;
    }

    bool close() {
        frames_.pop_back();
        return true;
    }

    const std::string& source_;
    int max_depth_;
    bool build_;
    json root_;
    std::vector<Frame> frames_;
    std::string error_, field_;
};

bool run(StrictSax& sax, std::string_view text) {
    return json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json, true, false);
}

[[noreturn]] void out_of_range(const json& v, int64_t lo, int64_t hi, const std::string& source, const std::string& field) {
    throw Error(source, field, "is out of range: " + brief(v) + " (expected " + std::to_string(lo) + " to " +
                                   std::to_string(hi) + ")");
}

}  // namespace

json parse_json(std::string_view text, const std::string& source, int max_depth) {
    StrictSax sax(source, max_depth, true);
    if (!run(sax, text) || !sax.error().empty())
        throw Error(source, sax.field(), sax.error().empty() ? "invalid JSON" : sax.error());
    return std::move(sax.root());
}

void check_json(std::string_view text, const std::string& source, int max_depth) {
    StrictSax sax(source, max_depth, false);
    if (!run(sax, text) || !sax.error().empty())
        throw Error(source, sax.field(), sax.error().empty() ? "invalid JSON" : sax.error());
}

std::string brief_key(std::string_view s, size_t max) {
    if (s.size() <= max) return std::string(s);
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // do not cut a code point
    return std::string(s.substr(0, n)) + "...";
}

std::string brief(const json& v) {
    switch (v.type()) {
        case json::value_t::string:
            return json(brief_key(v.get_ref<const std::string&>(), 60)).dump(-1, ' ', false, json::error_handler_t::replace);
        case json::value_t::array:
            return "an array of " + std::to_string(v.size()) + (v.size() == 1 ? " item" : " items");
        case json::value_t::object:
            return "an object with " + std::to_string(v.size()) + (v.size() == 1 ? " member" : " members");
        case json::value_t::binary:
            return "binary data";
        case json::value_t::discarded:
            return "nothing";
        default:
            return v.dump();  // null, boolean, number: short
    }
}

int64_t json_int(const json& v, int64_t lo, int64_t hi, const std::string& source, const std::string& field) {
    int64_t x = 0;
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) out_of_range(v, lo, hi, source, field);
        x = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
        x = v.get<int64_t>();
    } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || d != std::floor(d))
            throw Error(source, field, "expected an integer, got " + brief(v));
        // Every double in this interval converts to int64 exactly; outside it the cast is undefined.
        if (!(d >= -9.0e18 && d <= 9.0e18)) out_of_range(v, lo, hi, source, field);
        x = static_cast<int64_t>(d);
    } else {
        throw Error(source, field, "expected an integer, got " + brief(v));
    }
    if (x < lo || x > hi) out_of_range(v, lo, hi, source, field);
    return x;
}

uint64_t json_u64(const json& v, const std::string& source, const std::string& field) {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer()) {
        const int64_t x = v.get<int64_t>();
        if (x < 0) throw Error(source, field, "must not be negative, got " + brief(v));
        return static_cast<uint64_t>(x);
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::floor(d) && d >= 0 && d < 1.8e19) return static_cast<uint64_t>(d);
        throw Error(source, field, "expected a non-negative integer below 2^64, got " + brief(v));
    }
    throw Error(source, field, "expected a non-negative integer, got " + brief(v));
}

double json_double(const json& v, const std::string& source, const std::string& field) {
    if (!v.is_number()) throw Error(source, field, "expected a number, got " + brief(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw Error(source, field, "must be finite");
    return d;
}

template <class T>
T get_field(const json& j, const char* field, const std::string& source) {
    if (!j.is_object() || !j.contains(field)) throw Error(source, field, "is missing");
    const json& v = j.at(field);
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) throw Error(source, field, "expected true or false, got " + brief(v));
        return v.get<bool>();
    } else if constexpr (std::is_same_v<T, uint64_t>) {
        return json_u64(v, source, field);
    } else if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(
            json_int(v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), source, field));
    } else if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(json_double(v, source, field));
    } else {
        static_assert(std::is_same_v<T, std::string>);
        if (!v.is_string()) throw Error(source, field, "expected a string, got " + brief(v));
        return v.get<std::string>();
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
