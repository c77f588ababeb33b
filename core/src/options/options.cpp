// SPDX-License-Identifier: GPL-3.0-or-later
// The one description of the search options (see achilles/options.h) and everything driven by it
// inside core: validate(), text parsing for the CLI and the JSON object of result documents.
#include "achilles/options.h"
#include "achilles/error.h"
#include "options/options_json.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <sstream>

namespace achilles {

// ---------------------------------------------------------------- enums
std::string_view to_string(SearchMode m) {
    switch (m) {
        case SearchMode::paper: return "paper";
        case SearchMode::channel_max: return "channel-max";
        case SearchMode::channel_mean: return "channel-mean";
    }
    return "?";
}

std::string_view to_string(SearchStrategy s) {
    switch (s) {
        case SearchStrategy::linear: return "linear";
        case SearchStrategy::bisect: return "bisect";
    }
    return "?";
}

std::string_view to_string(NoiseRng r) {
    switch (r) {
        case NoiseRng::counter: return "counter";
        case NoiseRng::torch: return "torch";
    }
    return "?";
}

NoiseRng noise_rng_from(std::string_view s) {
    if (s == "counter") return NoiseRng::counter;
    if (s == "torch") return NoiseRng::torch;
    throw Error("search options", "noise_rng", "unknown noise generator '" + std::string(s) + "' (counter, torch)");
}

SearchMode search_mode_from(std::string_view s) {
    if (s == "paper") return SearchMode::paper;
    if (s == "channel-max" || s == "channel_max") return SearchMode::channel_max;
    if (s == "channel-mean" || s == "channel_mean") return SearchMode::channel_mean;
    throw Error("search options", "mode", "unknown mode '" + std::string(s) + "' (paper, channel-max, channel-mean)");
}

SearchStrategy search_strategy_from(std::string_view s) {
    if (s == "linear") return SearchStrategy::linear;
    if (s == "bisect") return SearchStrategy::bisect;
    throw Error("search options", "strategy", "unknown strategy '" + std::string(s) + "' (linear, bisect)");
}

namespace {

// ---------------------------------------------------------------- table builders
// One builder per member type keeps each table row to its description.
struct Row {
    std::string_view key, flag, label, help, group = "search";
};

SearchOptionField base(const Row& r, OptionType t) {
    SearchOptionField f;
    f.key = r.key;
    f.flag = r.flag;
    f.label = r.label;
    f.help = r.help;
    f.group = r.group;
    f.type = t;
    return f;
}

SearchOptionField real(const Row& r, double lo, double hi, double SearchOptions::*m) {
    SearchOptionField f = base(r, OptionType::real);
    f.min = lo;
    f.max = hi;
    f.get = [m](const SearchOptions& o) -> OptionValue { return o.*m; };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = std::get<double>(v); };
    return f;
}

SearchOptionField integer(const Row& r, int lo, int hi, int SearchOptions::*m, std::string_view zero_means = {}) {
    SearchOptionField f = base(r, OptionType::integer);
    f.min = lo;
    f.max = hi;
    f.zero_means = zero_means;
    f.get = [m](const SearchOptions& o) -> OptionValue { return int64_t(o.*m); };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = int(std::get<int64_t>(v)); };
    return f;
}

SearchOptionField unsigned64(const Row& r, uint64_t SearchOptions::*m) {
    SearchOptionField f = base(r, OptionType::unsigned64);
    f.min = 0;
    f.max = double(std::numeric_limits<uint64_t>::max());
    f.get = [m](const SearchOptions& o) -> OptionValue { return o.*m; };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = std::get<uint64_t>(v); };
    return f;
}

SearchOptionField boolean(const Row& r, bool SearchOptions::*m) {
    SearchOptionField f = base(r, OptionType::boolean);
    f.get = [m](const SearchOptions& o) -> OptionValue { return o.*m; };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = std::get<bool>(v); };
    return f;
}

SearchOptionField text(const Row& r, std::string SearchOptions::*m) {
    SearchOptionField f = base(r, OptionType::text);
    f.get = [m](const SearchOptions& o) -> OptionValue { return o.*m; };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = std::get<std::string>(v); };
    return f;
}

template <class E>
SearchOptionField choice(const Row& r, std::initializer_list<E> values, E SearchOptions::*m, E (*from)(std::string_view)) {
    SearchOptionField f = base(r, OptionType::choice);
    for (E e : values) f.choices.emplace_back(to_string(e));
    f.get = [m](const SearchOptions& o) -> OptionValue { return std::string(to_string(o.*m)); };
    f.set = [m, from](SearchOptions& o, const OptionValue& v) { o.*m = from(std::get<std::string>(v)); };
    return f;
}

SearchOptionField list(const Row& r, std::vector<std::string> choices, std::vector<std::string> SearchOptions::*m) {
    SearchOptionField f = base(r, OptionType::list);
    f.choices = std::move(choices);
    f.get = [m](const SearchOptions& o) -> OptionValue { return o.*m; };
    f.set = [m](SearchOptions& o, const OptionValue& v) { o.*m = std::get<std::vector<std::string>>(v); };
    return f;
}

constexpr int kBig = 1000000000;  // "no practical limit" for counts, still far from int overflow

std::vector<SearchOptionField> make_table() {
    using O = SearchOptions;
    std::vector<SearchOptionField> t;
    t.push_back(real({"alpha", "--alpha", "Noise α",
                      "α: scale of the Gaussian noise added to the input embeddings in stage 1 (paper: 5)"},
                     0.001, 1000, &O::alpha));
    t.push_back(integer({"samples", "--samples", "Samples K", "K: noisy forward passes averaged in stage 1 (paper: 100)"},
                        1, kBig, &O::samples));
    t.push_back(unsigned64({"seed", "--seed", "Seed", "Seed of the noise: the same seed gives the same ranking"}, &O::seed));
    t.push_back(real({"epsilon", "--epsilon", "Threshold ε",
                      "ε: stage 2 stops once log10 PPL(masked) − log10 PPL(original) ≥ ε (paper: 3)"},
                     0.01, 1000, &O::epsilon));
    t.push_back(integer({"step", "--step", "Step Δn", "Δn: ranking entries added per stage-2 step (paper: 1)"}, 1, kBig,
                        &O::step));
    t.push_back(integer({"max_steps", "--max-steps", "Max steps", "Cap on stage-2 steps"}, 1, kBig, &O::max_steps));
    t.push_back(choice({"mode", "--mode", "Mode",
                        "paper: rank (position, channel) entries as in the paper; channel-max / channel-mean: rank "
                        "whole channels by the max / mean over positions"},
                       {SearchMode::paper, SearchMode::channel_max, SearchMode::channel_mean}, &O::mode, &search_mode_from));
    t.push_back(choice({"strategy", "--strategy", "Strategy",
                        "linear: the paper's scan n = Δn, 2Δn, …; bisect: also find the smallest prefix reaching ε by "
                        "bisection (assumes monotonicity)"},
                       {SearchStrategy::linear, SearchStrategy::bisect}, &O::strategy, &search_strategy_from));
    t.push_back(boolean({"minimize", "--minimize", "Minimize the critical set",
                         "After stage 2, greedily drop neurons that are not needed to stay above ε"},
                        &O::minimize));
    t.push_back(integer({"top", "--top", "Keep top M", "M: ranking entries kept from stage 1"}, 1, kBig, &O::top));
    t.push_back(integer({"batch", "--batch", "Batch",
                         "Noisy samples per forward pass (speed/memory trade-off; results are identical); "
                         "0: automatic, as many as a 256 MiB budget holds"},
                        0, 4096, &O::batch));
    t.push_back(integer({"max_tokens", "--max-tokens", "Max tokens", "Probe text truncated to this many tokens (incl. BOS)"},
                        2, 1000000, &O::max_tokens));
    t.push_back(text({"eval_dataset", "--eval-dataset", "Evaluation dataset",
                      "After the search, the perplexity of the critical set is also measured on this dataset "
                      "(.txt, WikiText .raw, or .jsonl with a \"text\" field)",
                      "dataset"},
                     &O::eval_dataset));
    t.push_back(integer({"eval_max_samples", "--eval-max-samples", "Dataset samples",
                         "Use at most this many samples of the dataset (0: all)", "dataset"},
                        0, kBig, &O::eval_max_samples, "all"));
    t.push_back(list({"baselines", "--baselines", "Baselines",
                      "Baselines for the sweep, each against unique channels masked: random (channels drawn from "
                      "all 9 hooked sites, mean ± std over runs), random-matched (each drawn from the same layer and "
                      "module as ours' channel of that rank), activation (largest |a|), gradient (largest "
                      "|∂NLL/∂a|), attribution (largest |∂NLL/∂a|·|a|)"},
                     {"random", "random-matched", "activation", "gradient", "attribution"}, &O::baselines));
    t.push_back(integer({"random_runs", "--random-runs", "Random runs", "Runs of each random baseline"}, 1, 10000,
                        &O::random_runs));
    t.push_back(integer({"sweep", "--sweep", "Sweep to channels",
                         "Phase-transition sweep up to this many unique channels masked, for ours and the baselines "
                         "(0: off, or with baselines, up to the channels ours needed to reach ε, else the stage-2 cap)"},
                        0, 1000000, &O::sweep, "off"));
    t.push_back(choice({"noise_rng", "--noise-rng", "Noise generator",
                        "counter: the project's generator, where sample k depends only on (seed, k), so results do "
                        "not depend on the batch; torch: torch.manual_seed(seed) then one torch.randn(1, T, D) per "
                        "sample on the CPU, as the authors' code draws it (same numbers as PyTorch of the same "
                        "libtorch version)"},
                       {NoiseRng::counter, NoiseRng::torch}, &O::noise_rng, &noise_rng_from));
    t.push_back(text({"noise_file", "--noise", "Noise file",
                      "Take the stage-1 noise from this NumPy file (float32 or float64 [K, T, D], as numpy.save "
                      "writes it) instead of a generator: reproduces a run of another implementation exactly"},
                     &O::noise_file));
    return t;
}

std::string number_text(double v) {
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    std::ostringstream s;
    s.precision(17);
    s << v;
    // Shortest text that reads back to the same double.
    for (int p = 1; p <= 17; ++p) {
        std::ostringstream t;
        t.precision(p);
        t << v;
        if (std::strtod(t.str().c_str(), nullptr) == v) return t.str();
    }
    return s.str();
}

std::string range_text(const SearchOptionField& f) {
    std::string s = "[";
    s += f.type == OptionType::unsigned64 ? "0" : number_text(f.min);
    s += ", ";
    s += f.type == OptionType::unsigned64 ? std::to_string(std::numeric_limits<uint64_t>::max()) : number_text(f.max);
    return s + "]";
}

std::string canonical_choice(std::string s) {
    std::replace(s.begin(), s.end(), '_', '-');
    return s;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

}  // namespace

std::vector<std::string> split_comma_list(std::string_view s) {
    std::vector<std::string> items;
    size_t at = 0;
    while (at <= s.size()) {
        const size_t comma = std::min(s.find(',', at), s.size());
        std::string item = trim(s.substr(at, comma - at));
        if (!item.empty()) items.push_back(std::move(item));
        at = comma + 1;
    }
    return items;
}

const std::vector<SearchOptionField>& search_option_fields() {
    static const std::vector<SearchOptionField> table = make_table();
    return table;
}

const SearchOptionField& search_option_field(std::string_view key) {
    for (const auto& f : search_option_fields())
        if (f.key == key) return f;
    throw Error("search options", std::string(key), "is not a search option");
}

// ---------------------------------------------------------------- checking
std::string SearchOptionField::problem(const OptionValue& v) const {
    auto out_of_range = [&](const std::string& got) { return "must be in " + range_text(*this) + ", got " + got; };
    switch (type) {
        case OptionType::real: {
            if (!std::holds_alternative<double>(v)) return "must be a number";
            const double d = std::get<double>(v);
            if (!(d >= min && d <= max)) return out_of_range(number_text(d));  // NaN fails too
            return {};
        }
        case OptionType::integer: {
            if (!std::holds_alternative<int64_t>(v)) return "must be an integer";
            const int64_t i = std::get<int64_t>(v);
            if (double(i) < min || double(i) > max) return out_of_range(std::to_string(i));
            return {};
        }
        case OptionType::unsigned64:
            if (std::holds_alternative<int64_t>(v)) {
                const int64_t i = std::get<int64_t>(v);
                if (i < 0) return out_of_range(std::to_string(i));
                return {};
            }
            return std::holds_alternative<uint64_t>(v) ? std::string() : "must be a non-negative integer";
        case OptionType::boolean:
            return std::holds_alternative<bool>(v) ? std::string() : "must be true or false";
        case OptionType::text:
            return std::holds_alternative<std::string>(v) ? std::string() : "must be a string";
        case OptionType::choice: {
            if (!std::holds_alternative<std::string>(v)) return "must be a string";
            const std::string c = canonical_choice(std::get<std::string>(v));
            if (std::find(choices.begin(), choices.end(), c) == choices.end())
                return "unknown " + std::string(key) + " '" + std::get<std::string>(v) + "' (" + joined(choices) + ")";
            return {};
        }
        case OptionType::list: {
            if (!std::holds_alternative<std::vector<std::string>>(v)) return "must be a list of strings";
            std::set<std::string> seen;
            for (const auto& item : std::get<std::vector<std::string>>(v)) {
                if (std::find(choices.begin(), choices.end(), item) == choices.end())
                    return "unknown value '" + item + "' (" + joined(choices) + ")";
                if (!seen.insert(item).second) return "'" + item + "' is listed twice";
            }
            return {};
        }
    }
    return "has an unknown type";
}

void validate(const SearchOptions& o) {
    for (const auto& f : search_option_fields())
        if (std::string p = f.problem(f.get(o)); !p.empty()) throw Error("search options", std::string(f.key), p);
}

// ---------------------------------------------------------------- text
namespace {
// The text spelling of a value; false with `why` set when the text spells no value of f's type.
bool parse_text(const SearchOptionField& f, std::string_view raw, OptionValue& out, std::string& why) {
    const std::string s = trim(raw);
    auto bad = [&](const std::string& what) {
        why = std::string(1, '\'').append(raw).append("' is not ").append(what);
        return false;
    };
    switch (f.type) {
        case OptionType::real: {
            if (s.empty()) return bad("a number");
            char* end = nullptr;
            const double d = std::strtod(s.c_str(), &end);
            if (end != s.c_str() + s.size()) return bad("a number");
            out = d;  // overflow gives ±inf, which problem() reports as out of range
            return true;
        }
        case OptionType::integer:
        case OptionType::unsigned64: {
            if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+'))
                return bad("an integer");
            char* end = nullptr;
            errno = 0;
            if (s[0] == '-') {  // kept signed, so that problem() names it instead of wrapping it
                const long long v = std::strtoll(s.c_str(), &end, 10);
                if (end != s.c_str() + s.size()) return bad("an integer");
                out = errno == ERANGE ? std::numeric_limits<int64_t>::min() : int64_t(v);
                return true;
            }
            const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
            if (end != s.c_str() + s.size()) return bad("an integer");
            if (errno == ERANGE) {
                why = "'" + s + "' is out of range " + range_text(f);
                return false;
            }
            if (f.type == OptionType::unsigned64) out = uint64_t(v);
            else if (v > uint64_t(std::numeric_limits<int64_t>::max())) out = std::numeric_limits<int64_t>::max();
            else out = int64_t(v);
            return true;
        }
        case OptionType::boolean:
            if (s == "true" || s == "1" || s == "on" || s == "yes") out = true;
            else if (s == "false" || s == "0" || s == "off" || s == "no") out = false;
            else return bad("true or false");
            return true;
        case OptionType::text:
            out = std::string(raw);
            return true;
        case OptionType::choice:
            out = canonical_choice(s);
            return true;
        case OptionType::list:
            out = split_comma_list(s);
            return true;
    }
    return bad("a value");
}
}  // namespace

OptionValue SearchOptionField::parse(std::string_view text, const std::string& source) const {
    OptionValue v;
    std::string why;
    if (!parse_text(*this, text, v, why)) throw Error(source, std::string(flag), why);
    return v;
}

std::string SearchOptionField::syntax_problem(std::string_view text) const {
    OptionValue v;
    std::string why;
    return parse_text(*this, text, v, why) ? std::string() : why;
}

std::string SearchOptionField::format(const OptionValue& v) const {
    struct Visitor {
        std::string operator()(bool b) const { return b ? "true" : "false"; }
        std::string operator()(int64_t i) const { return std::to_string(i); }
        std::string operator()(uint64_t u) const { return std::to_string(u); }
        std::string operator()(double d) const { return number_text(d); }
        std::string operator()(const std::string& s) const { return s; }
        std::string operator()(const std::vector<std::string>& l) const {
            std::string s;
            for (const auto& x : l) s += (s.empty() ? "" : ",") + x;
            return s;
        }
    };
    return std::visit(Visitor{}, v);
}

// ---------------------------------------------------------------- JSON
namespace {
ojson value_json(const SearchOptionField& f, const OptionValue& v, bool u64_as_string) {
    switch (f.type) {
        case OptionType::real: {
            const double d = std::get<double>(v);
            if (std::isnan(d)) return "nan";
            if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
            return d;
        }
        case OptionType::integer: return std::get<int64_t>(v);
        case OptionType::unsigned64:
            if (u64_as_string) return std::to_string(std::get<uint64_t>(v));
            return std::get<uint64_t>(v);
        case OptionType::boolean: return std::get<bool>(v);
        case OptionType::choice:
        case OptionType::text: return std::get<std::string>(v);
        case OptionType::list: return std::get<std::vector<std::string>>(v);
    }
    return nullptr;
}

// Reads j as a value of f's type; type mismatches throw through fail(), ranges are checked later.
OptionValue json_value(const SearchOptionField& f, const json& j, const std::function<void(const std::string&)>& fail) {
    auto integral = [](const json& x, double lo, double hi) {
        if (!x.is_number_float()) return false;
        const double d = x.get<double>();
        return std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi;
    };
    switch (f.type) {
        case OptionType::real:
            if (j.is_number()) return j.get<double>();
            if (j.is_string()) {
                const auto& s = j.get_ref<const std::string&>();
                if (s == "inf") return std::numeric_limits<double>::infinity();
                if (s == "-inf") return -std::numeric_limits<double>::infinity();
                if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
            }
            fail("expected a number, got " + brief(j));
            break;
        case OptionType::integer:
            if (j.is_number_unsigned()) {
                const uint64_t u = j.get<uint64_t>();
                return u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max() : int64_t(u);
            }
            if (j.is_number_integer()) return j.get<int64_t>();
            if (integral(j, -9.2e18, 9.2e18)) return int64_t(j.get<double>());  // 5.0 from a tool that writes doubles
            if (integral(j, -HUGE_VAL, HUGE_VAL))  // a whole number past int64 (1e300): a range problem, not a type one
                fail(brief(j) + " is out of range " + range_text(f));
            fail("expected an integer, got " + brief(j));
            break;
        case OptionType::unsigned64:
            if (j.is_number_unsigned()) return j.get<uint64_t>();
            if (j.is_number_integer()) return j.get<int64_t>();  // negative: problem() names it
            if (integral(j, 0, 1.8e19)) return uint64_t(j.get<double>());
            if (integral(j, 0, HUGE_VAL)) fail(brief(j) + " is out of range " + range_text(f));
            if (j.is_string()) {  // Qt-held documents (sessions) write 64-bit values as decimal strings
                try {
                    return f.parse(j.get<std::string>());
                } catch (const Error&) {
                }
            }
            fail("expected a non-negative integer, got " + brief(j));
            break;
        case OptionType::boolean:
            if (j.is_boolean()) return j.get<bool>();
            fail("expected true or false, got " + brief(j));
            break;
        case OptionType::choice:
        case OptionType::text:
            if (j.is_string()) return j.get<std::string>();
            fail("expected a string, got " + brief(j));
            break;
        case OptionType::list: {
            if (!j.is_array()) fail("expected an array, got " + std::string(j.type_name()));
            std::vector<std::string> items;
            for (size_t i = 0; i < j.size(); ++i) {
                if (!j[i].is_string()) fail("[" + std::to_string(i) + "] expected a string, got " + brief(j[i]));
                items.push_back(j[i].get<std::string>());
            }
            return items;
        }
    }
    return {};
}
}  // namespace

ojson search_options_ojson(const SearchOptions& o, bool u64_as_string) {
    ojson j = ojson::object();
    for (const auto& f : search_option_fields()) j[std::string(f.key)] = value_json(f, f.get(o), u64_as_string);
    return j;
}

SearchOptions read_search_options(const json& j, const std::string& source, const std::string& path) {
    auto where = [&](std::string_view key) { return path.empty() ? std::string(key) : path + "." + std::string(key); };
    if (!j.is_object()) throw Error(source, path, std::string("expected an object, got ") + j.type_name());
    SearchOptions o;
    for (const auto& f : search_option_fields()) {
        auto it = j.find(std::string(f.key));
        if (it == j.end() || it->is_null()) continue;
        const OptionValue v = json_value(f, *it, [&](const std::string& problem) { throw Error(source, where(f.key), problem); });
        if (std::string p = f.problem(v); !p.empty()) throw Error(source, where(f.key), p);
        f.set(o, v);
    }
    return o;
}

std::string search_options_to_json(const SearchOptions& o, bool u64_as_string) {
    return search_options_ojson(o, u64_as_string).dump();
}

SearchOptions search_options_from_json(std::string_view json_text, const std::string& source, const std::string& path) {
    const json j = parse_json(json_text, source);  // the strict reader: depth, duplicate keys, overflow
    return read_search_options(j, source, path);
}

// ---------------------------------------------------------------- dtypes
const std::vector<std::string>& dtype_names() {
    static const std::vector<std::string> names{"auto", "f32", "f16", "bf16"};
    return names;
}

void check_dtype(std::string_view dtype, const std::string& source, const std::string& field) {
    const auto& n = dtype_names();
    if (std::find(n.begin(), n.end(), dtype) == n.end())
        throw Error(source, field, "'" + std::string(dtype) + "' is not one of " + joined(n));
}

}  // namespace achilles
