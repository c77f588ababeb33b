// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// achilles-cli sub-commands. Each cmd_*.cpp registers one; main.cpp calls them all.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace achilles::cli {

// Global flags shared by all commands.
struct Globals {
    bool json = false;     // one JSON document on stdout
    bool quiet = false;    // no progress on stderr
};

// A registered command returns its exit code through `run` (set by the register function).
using Runner = std::function<int()>;
void register_info(CLI::App& app, Globals& g, Runner& run);
void register_tokenize(CLI::App& app, Globals& g, Runner& run);
void register_ppl(CLI::App& app, Globals& g, Runner& run);
void register_generate(CLI::App& app, Globals& g, Runner& run);
void register_search(CLI::App& app, Globals& g, Runner& run);
void register_bench(CLI::App& app, Globals& g, Runner& run);
void register_train(CLI::App& app, Globals& g, Runner& run);
void register_compare(CLI::App& app, Globals& g, Runner& run);
void register_eval(CLI::App& app, Globals& g, Runner& run);
void register_mechanism(CLI::App& app, Globals& g, Runner& run);  // massive, sinks, lens, trace

}  // namespace achilles::cli
