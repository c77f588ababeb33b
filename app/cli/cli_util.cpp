// SPDX-License-Identifier: GPL-3.0-or-later
#include "cli_util.h"
#include "achilles/utf8.h"
#include "achilles/error.h"
#include "achilles/options.h"
#include "achilles/config.h"
#include "achilles/fileio.h"
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace achilles::cli {

namespace {
std::atomic<Progress*> g_active{nullptr};
std::atomic<int> g_sigints{0};

extern "C" void on_sigint(int) {
    if (g_sigints.fetch_add(1) >= 1) {  // second Ctrl-C: leave at once, without half-written files
        remove_pending_temp_files();
        _exit(130);
    }
    // A Ctrl-C before any work started is remembered: the first Progress created cancels at once.
    if (Progress* p = g_active.load()) p->cancel();
}

}  // namespace

void add_device_opts(CLI::App* sub, ModelOpts& o) {
    sub->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
    sub->add_option("--devices", o.devices, "several CUDA devices for a layer-wise placement, e.g. cuda:0,cuda:1");
    sub->add_option("--dtype", o.dtype, "auto, f32, f16 or bf16")->capture_default_str();
}

void add_model_opts(CLI::App* sub, ModelOpts& o, bool model_required) {
    auto* opt = sub->add_option("--model", o.model, "model folder (HF layout) or 'default' for the embedded model");
    if (model_required) opt->required();
    add_device_opts(sub, o);
}

LoadOptions load_options(const ModelOpts& o) {
    LoadOptions l;
    l.path = o.model;
    l.device = o.device;
    l.devices = split_list(o.devices);
    l.dtype = o.dtype;
    check_dtype(l.dtype, "command line", "--dtype");
    return l;
}

std::unique_ptr<Engine> load_engine(const ModelOpts& o, Progress& progress) {
    return Engine::load(load_options(o), progress);
}

CliProgress::CliProgress(bool quiet)
    : Progress([quiet, last = std::chrono::steady_clock::time_point{}, stage = std::string()](
                   std::string_view st, double f, std::string_view msg) mutable {
          if (quiet) return;
          if (f < 0) {
              std::cerr << "\r\033[K" << msg << "\n";
              return;
          }
          auto now = std::chrono::steady_clock::now();
          const bool new_stage = st != stage;
          if (!new_stage && f < 1.0 && now - last < std::chrono::milliseconds(100)) return;
          if (new_stage && !stage.empty()) std::cerr << "\n";
          last = now;
          stage = std::string(st);
          const int width = 30;
          const int filled = static_cast<int>(std::min(1.0, std::max(0.0, f)) * width);
          std::cerr << "\r\033[K" << st << " [" << std::string(static_cast<size_t>(filled), '#')
                    << std::string(static_cast<size_t>(width - filled), '.') << "] "
                    << static_cast<int>(f * 100) << "% " << msg << std::flush;
      }) {
    g_active.store(this);
    if (g_sigints.load() > 0) cancel();
}

void install_signal_handlers() {
    install_exit_cleanup();  // SIGXFSZ ignored; SIGTERM/SIGHUP/SIGQUIT remove temporary files
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, nullptr);
}

bool interrupted() { return g_sigints.load() > 0; }

CliProgress::~CliProgress() {
    Progress* self = this;
    g_active.compare_exchange_strong(self, nullptr);
}

void CliProgress::finish() { report("", -1.0, ""); }

std::vector<std::string> split_list(const std::string& s) { return split_comma_list(s); }

std::vector<int> parse_int_list(const std::string& s, const std::string& flag) {
    std::vector<int> out;
    for (const auto& item : split_list(s)) {
        size_t pos = 0;
        long long v = 0;
        try {
            v = std::stoll(item, &pos);
        } catch (...) {
            pos = 0;
        }
        if (pos != item.size() || v < INT32_MIN || v > INT32_MAX)
            throw Error("command line", flag, "'" + item + "' is not an integer");
        out.push_back(static_cast<int>(v));
    }
    if (out.empty()) throw Error("command line", flag, "expected a comma-separated list of integers");
    return out;
}

void check_utf8(const std::string& t, const std::string& source) { require_utf8(t, source, "text"); }

std::string read_text_file(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw Error(path, "text file", "does not exist or is not a file");
    std::string t = read_file(path, size_t(1) << 30);
    check_utf8(t, path);
    return t;
}

std::string plain_message(const std::string& what) {
    // libtorch's c10::Error appends a backtrace ("Exception raised from ... frame #0 ..."): keep
    // the sentence, drop the frames; and never print more than a few hundred bytes.
    std::string m = what;
    if (auto p = m.find("Exception raised from"); p != std::string::npos) m = m.substr(0, p);
    if (auto p = m.find("\nframe #"); p != std::string::npos) m = m.substr(0, p);
    while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back()))) m.pop_back();
    if (m.size() > 600) {
        size_t n = 600;
        while (n > 0 && (static_cast<unsigned char>(m[n]) & 0xC0) == 0x80) --n;
        m = m.substr(0, n) + "...";
    }
    return m;
}

int guarded(const std::function<int()>& body) {
    try {
        const int rc = body();
        if (interrupted()) {  // Ctrl-C arrived after the last cancellation check
            std::cerr << "\ncancelled\n";
            return 130;
        }
        return rc;
    } catch (const Cancelled&) {
        std::cerr << "\ncancelled\n";
        return 130;
    } catch (const Error& e) {
        std::cerr << "\nerror: " << plain_message(e.what()) << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "\nerror: out of memory: the input asks for more memory than this machine has "
                     "(a smaller --max-tokens, batch or model helps)\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "\nerror: " << plain_message(e.what()) << "\n";
        return 1;
    }
}

void on_run(CLI::App* sub, Runner& run, std::function<int()> body) {
    sub->callback([&run, body = std::move(body)] {
        run = [body] { return guarded(body); };
    });
}

bool TextInput::text_given() const { return !flags.text.empty() && sub && sub->count(flags.text) > 0; }
bool TextInput::given() const { return text_given() || !text_file.empty() || !ids.empty(); }

void add_text_input(CLI::App* sub, TextInput& in, const std::vector<CLI::Option*>& others) {
    in.sub = sub;
    if (!in.flags.text.empty()) in.options.push_back(sub->add_option(in.flags.text, in.text, in.flags.text_help));
    if (!in.flags.file.empty()) in.options.push_back(sub->add_option(in.flags.file, in.text_file, in.flags.file_help));
    if (!in.flags.ids.empty()) in.options.push_back(sub->add_option(in.flags.ids, in.ids, in.flags.ids_help));
    std::vector<CLI::Option*> all = in.options;
    all.insert(all.end(), others.begin(), others.end());
    for (size_t i = 0; i < all.size(); ++i)
        for (size_t j = i + 1; j < all.size(); ++j) all[i]->excludes(all[j]);
}

Input read_text_input(const TextInput& in, bool require_text) {
    Input r;
    if (in.text_given()) {
        r.text = in.text;
        r.source = in.flags.text;
        check_utf8(r.text, r.source);
    } else if (!in.text_file.empty()) {
        r.text = read_text_file(in.text_file);
        r.source = in.text_file;
    } else if (!in.ids.empty()) {
        r.ids = parse_int_list(in.ids, in.flags.ids);
        r.has_ids = true;
        return r;
    } else {
        return r;
    }
    if (require_text && r.text.find_first_not_of(" \t\r\n") == std::string::npos)
        throw Error(r.source, "text", "the text is empty");
    return r;
}

void require_one_of(const CLI::App* sub, const std::vector<std::string>& flags) {
    for (const auto& f : flags)
        if (sub->count(f) > 0) return;
    std::string list;
    for (size_t i = 0; i < flags.size(); ++i)
        list += (i == 0 ? "" : i + 1 == flags.size() ? " or " : ", ") + flags[i];
    throw Error("command line", flags.front(), "give one of " + list);
}

int64_t model_context(const Engine& engine) {
    // The context the model was trained for: config.json's max_position_embeddings (the engine
    // keeps the canonical folder in its fingerprint).
    const std::string dir = engine.info().fingerprint.path;
    try {
        return load_config((std::filesystem::path(dir) / "config.json").string()).max_position_embeddings;
    } catch (const Error&) {
        return 0;  // unknown: no bound beyond the ones the engine applies
    }
}

std::string read_line_bounded(std::istream& in, const std::string& where, bool& ok, size_t max_bytes) {
    std::string line;
    ok = false;
    std::streambuf* sb = in.rdbuf();
    for (;;) {
        const int c = sb->sbumpc();
        if (c == std::char_traits<char>::eof()) {
            ok = !line.empty();
            return line;
        }
        ok = true;
        if (c == '\n') return line;
        if (line.size() >= max_bytes)
            throw Error(where, "line", "is longer than " + std::to_string(max_bytes >> 20) +
                                           " MiB without a newline (is this a text file?)");
        line.push_back(static_cast<char>(c));
    }
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    o += b;
                } else {
                    o += static_cast<char>(c);
                }
        }
    }
    return o;
}

}  // namespace achilles::cli
