// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Shared pieces of the achilles-cli commands: model options, progress bars on stderr, Ctrl-C,
// input reading and error handling.
#include "achilles/engine.h"
#include "achilles/progress.h"
#include "commands.h"
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <vector>

namespace achilles::cli {

struct ModelOpts {
    std::string model;
    std::string device = "cpu";
    std::string devices;   // comma-separated
    std::string dtype = "auto";
};
// --model (required unless model_required is false), --device, --devices, --dtype.
void add_model_opts(CLI::App* sub, ModelOpts& o, bool model_required = true);
// --device/--devices/--dtype only (for commands that build their own models).
void add_device_opts(CLI::App* sub, ModelOpts& o);
LoadOptions load_options(const ModelOpts& o);  // checks --dtype against achilles/options.h
std::unique_ptr<Engine> load_engine(const ModelOpts& o, Progress& progress);

// Progress bars on stderr (unless quiet); the SIGINT handler cancels the active instance.
class CliProgress : public Progress {
public:
    explicit CliProgress(bool quiet);
    ~CliProgress() override;
    void finish();  // ends the current bar line
};

// Comma-separated integers ("1,2,3"); throws Error naming the flag.
std::vector<int> parse_int_list(const std::string& s, const std::string& flag);
std::vector<std::string> split_list(const std::string& s);
// Reads a text file; throws Error naming the file when missing or not valid UTF-8.
std::string read_text_file(const std::string& path);
// Throws Error naming the source when the bytes are not valid UTF-8.
void check_utf8(const std::string& text, const std::string& source);

// Runs a command body: Error -> stderr, 1; Cancelled or Ctrl-C -> 130; bad_alloc -> a plain
// out-of-memory message, 1; other exceptions -> their first sentence (no libtorch backtrace), 1.
int guarded(const std::function<int()>& body);
// Makes `body` the command's runner once `sub` was chosen on the command line (through guarded).
void on_run(CLI::App* sub, Runner& run, std::function<int()> body);

// The probe input of a command: a text (--text), a UTF-8 file (--text-file) and/or token ids
// (--ids), mutually exclusive. A flag name left empty is not offered.
struct InputFlags {
    std::string text = "--text", file = "--text-file", ids = "--ids";
    std::string text_help = "text", file_help = "UTF-8 text file", ids_help = "comma-separated token ids, used exactly";
};
struct TextInput {
    InputFlags flags;
    std::string text, text_file, ids;
    const CLI::App* sub = nullptr;
    std::vector<CLI::Option*> options;  // the added options, for excludes() with further inputs
    bool text_given() const;             // --text was given (possibly empty)
    bool given() const;                  // any of them
};
// Adds the input flags to sub; each also excludes every option of `others`.
void add_text_input(CLI::App* sub, TextInput& in, const std::vector<CLI::Option*>& others = {});
// What was given, read and checked: the text (UTF-8; blank is an error when require_text),
// or the parsed ids. `source` names where the text came from ("--text" or the file).
struct Input {
    std::string text, source;
    std::vector<int> ids;
    bool has_ids = false;
};
Input read_text_input(const TextInput& in, bool require_text = true);
// Throws Error naming the first flag when none of `flags` was given on sub.
void require_one_of(const CLI::App* sub, const std::vector<std::string>& flags);
std::string plain_message(const std::string& what);

// Called first in main(): Ctrl-C cancels the running command (a second one leaves at once), even
// before any work started; SIGTERM, SIGHUP, SIGQUIT and a second Ctrl-C remove temporary files;
// SIGXFSZ is ignored so that a file size limit fails the write instead of killing the process.
void install_signal_handlers();
bool interrupted();

// The model's trained context (config.json max_position_embeddings); 0 if unknown.
int64_t model_context(const Engine& engine);

// One line of at most max_bytes (a file without newlines, such as /dev/zero, fails by name).
// ok is false at the end of the input.
std::string read_line_bounded(std::istream& in, const std::string& where, bool& ok, size_t max_bytes = size_t(16) << 20);

// JSON string escaping for hand-written output.
std::string json_escape(const std::string& s);

}  // namespace achilles::cli
