// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The search options and their one description.
//
// Every field of SearchOptions is described exactly once, in search_option_fields(): its name
// (also the JSON key), CLI flag, label, help text, type, range and allowed values. The default
// is the struct's own initializer. From that table come:
//   - the "options" object of the result JSON and of GUI sessions (core/src/options/options_json.h),
//   - validate(),
//   - the flags of `achilles-cli search` (app/cli/search_flags.cpp),
//   - the widgets of the GUI's Search panel (ui/panels/option_widgets.cpp).
// Adding an option: add the member to SearchOptions and one row to the table in
// core/src/options/options.cpp; nothing else has to change for it to be saved, read, checked,
// offered on the command line and shown in the GUI.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace achilles {

enum class SearchMode { paper, channel_max, channel_mean };
enum class SearchStrategy { linear, bisect };
// Stage-1 noise: the project's counter-based generator (the default; sample k depends only on
// (seed, k), so results do not depend on --batch), or PyTorch's: torch.manual_seed(seed), then one
// torch.randn(1, T, D) per sample on the CPU, in order, as the authors' code draws it.
enum class NoiseRng { counter, torch };
std::string_view to_string(SearchMode m);
std::string_view to_string(SearchStrategy s);
std::string_view to_string(NoiseRng r);
NoiseRng noise_rng_from(std::string_view s);              // throws Error
SearchMode search_mode_from(std::string_view s);          // throws Error
SearchStrategy search_strategy_from(std::string_view s);  // throws Error

struct SearchOptions {
    double alpha = 5.0;        // noise scale
    int samples = 100;         // K noisy passes
    uint64_t seed = 42;
    double epsilon = 3.0;      // stop when log10 PPL_masked - log10 PPL_orig >= epsilon
    int step = 1;              // delta n
    int max_steps = 1000;      // cap on stage-2 steps
    SearchMode mode = SearchMode::paper;
    SearchStrategy strategy = SearchStrategy::linear;
    bool minimize = false;
    int top = 100000;          // top-M entries kept from stage 1
    int batch = 1;             // noisy samples per forward (0: auto, from a memory budget)
    int max_tokens = 512;
    std::string eval_dataset;  // optional text/JSONL file
    int eval_max_samples = 0;  // 0: all
    std::vector<std::string> baselines;  // random, random-matched, activation, gradient, attribution
    int random_runs = 5;
    int sweep = 0;             // phase-transition sweep to this many unique channels (0: off / automatic)
    NoiseRng noise_rng = NoiseRng::counter;
    std::string noise_file;    // stage-1 noise from a .npy file, float32 [K, T, D]; overrides noise_rng
    bool operator==(const SearchOptions&) const = default;
};

// ---- the table
enum class OptionType {
    real,       // double, finite, in [min, max]
    integer,    // int, in [min, max]
    unsigned64, // uint64_t, in [0, UINT64_MAX]
    boolean,    // a flag
    choice,     // one of `choices` (an enum, written by name)
    text,       // free text (a path)
    list,       // a set of distinct `choices`, written as a JSON array / a comma list
};

// A value of any option type. Integers travel as int64_t (negative values included, so that a
// range check can name them instead of wrapping them); unsigned64 fields as uint64_t.
using OptionValue = std::variant<bool, int64_t, uint64_t, double, std::string, std::vector<std::string>>;

struct SearchOptionField {
    std::string_view key;        // struct member and JSON key: "max_steps"
    std::string_view flag;       // achilles-cli search flag: "--max-steps"
    std::string_view label;      // GUI label: "Max steps"
    std::string_view help;       // one sentence: CLI help and GUI tooltip
    std::string_view group;      // "search" (Search panel) or "dataset" (Probe text panel)
    OptionType type = OptionType::integer;
    double min = 0, max = 0;     // real and integer: the inclusive range
    std::string_view zero_means; // integer fields where 0 is special: "off", "all" ("" otherwise)
    std::vector<std::string> choices;  // choice and list: allowed values, canonical spelling
    std::function<OptionValue(const SearchOptions&)> get;
    std::function<void(SearchOptions&, const OptionValue&)> set;  // value must have passed problem()

    OptionValue default_value() const { return get(SearchOptions{}); }
    // Empty when v is acceptable for this field; otherwise what is wrong ("must be in [1, 4096], got 0").
    std::string problem(const OptionValue& v) const;
    // Parses a command-line / text-field spelling of a value: numbers (strictly, the whole text),
    // true/false, a choice, a comma list. Throws Error(source, flag, ...) when the text does not
    // spell a value of this type at all; range and choice problems are left to problem().
    OptionValue parse(std::string_view text, const std::string& source = "command line") const;
    std::string syntax_problem(std::string_view text) const;  // parse()'s complaint, or empty
    // The value as text, the inverse of parse() (defaults in --help, GUI text fields).
    std::string format(const OptionValue& v) const;
};

// In declaration order of SearchOptions (also the JSON key order).
const std::vector<SearchOptionField>& search_option_fields();
const SearchOptionField& search_option_field(std::string_view key);  // throws Error when unknown

// Throws Error("search options", key, problem) for the first field out of its range.
void validate(const SearchOptions& o);

// The options object as JSON text, keys in table order (what result documents embed).
// With u64_as_string the unsigned 64-bit fields are written as decimal strings, for JSON
// libraries that hold numbers as doubles or qint64 (Qt): the reader accepts both spellings.
std::string search_options_to_json(const SearchOptions& o, bool u64_as_string = false);
// Parses an options object; unknown keys are ignored, absent ones keep their defaults, every
// present one is type- and range-checked. Errors name source and `path.key` (path "options").
SearchOptions search_options_from_json(std::string_view json_text, const std::string& source,
                                       const std::string& path = "options");

// "a, b,,c" -> {a, b, c}: comma-separated items, trimmed, empty ones dropped (list options, CLI lists).
std::vector<std::string> split_comma_list(std::string_view s);

// ---- load options: the dtype names, checked in one place (CLI --dtype, GUI dtype box)
const std::vector<std::string>& dtype_names();  // auto, f32, f16, bf16
// Throws Error(source, field, "'x' is not one of auto, f32, f16, bf16").
void check_dtype(std::string_view dtype, const std::string& source, const std::string& field);

}  // namespace achilles
