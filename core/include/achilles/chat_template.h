// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Hugging Face chat templates (tokenizer_config.json's `chat_template`) through a small, strict
// Jinja2 subset. The template is parsed once; render() evaluates it the way transformers does
// (jinja2 with trim_blocks and lstrip_blocks, loop controls, raise_exception, namespace, tojson).
//
// Supported: {{ }}, {% if/elif/else %}, {% for x in seq %} (with {% else %}, break, continue and
// loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem), {% set x = e %},
// {% set ns.attr = e %}, namespace(...), comments, whitespace control (- and +), string (with
// escapes), integer, boolean and none literals, lists, dicts, subscripts, slices, attributes,
// + - * // % ~ == != < > <= >= and or not in, `not in`, `a if c else b`, the tests defined,
// undefined, none, string, number, integer, boolean, mapping, iterable, sequence, true, false,
// odd, even; the filters trim, length/count, upper, lower, capitalize, title, default/d, tojson,
// string, first, last, join, list, replace, items; the string methods strip, lstrip, rstrip,
// startswith, endswith, split, upper, lower, replace, title, join; dict.get/items/keys/values;
// range(), dict(), namespace(), strftime_now() and raise_exception(msg) (an Error carrying msg).
// Lists and dicts print as Python's repr; case changes are ASCII-only (non-ASCII text is an
// unsupported-feature error rather than a guess).
// Anything else (macros, call blocks, filter blocks, include, floats, unknown filters, tests,
// functions or methods...) is an Error at parse time or when first evaluated, naming the file, the
// field `chat_template`, the feature and its line and column. Nothing falls back silently.
// Work is bounded (nesting depth, evaluation steps, loop iterations, value and output sizes) so a
// hostile template cannot hang or exhaust memory.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace achilles {

inline constexpr size_t kMaxChatTemplateBytes = size_t(1) << 20;   // the template text: 1 MiB
inline constexpr size_t kMaxChatOutputBytes = size_t(16) << 20;    // one rendered string (and any value): 16 MiB
inline constexpr int kMaxChatNesting = 64;                         // blocks and expressions inside each other
inline constexpr long long kMaxChatSteps = 5'000'000;             // evaluation steps per render

struct ChatMessage {
    std::string role, content;
    std::vector<std::pair<std::string, std::string>> extra;  // other string fields (e.g. reasoning_content)
};

class ChatTemplate {
public:
    // Parses `text`; `file` names the source in messages (the tokenizer_config.json path).
    // Throws Error(file, "chat_template", ...) for a syntax error or an unsupported feature.
    ChatTemplate(std::string text, std::string file);
    ~ChatTemplate();
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;

    // Renders with `messages`, `add_generation_prompt`, `tools` and `documents` (none), the special
    // tokens (variables()) and `flags` / `strings` as extra variables (e.g. enable_thinking=false).
    std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                       const std::map<std::string, bool>& flags = {},
                       const std::map<std::string, std::string>& strings = {}) const;
    // Renders with a whole context given as a JSON object (objects, arrays, strings, integers,
    // booleans, null); the special-token variables are added unless the context names them.
    std::string render_json(const std::string& context_json) const;
    // One user message with add_generation_prompt = true: how eval wraps a question.
    std::string render_user_prompt(const std::string& user) const;

    const std::string& file() const { return file_; }
    const std::string& text() const { return text_; }
    const std::string& note() const { return note_; }  // e.g. which of several named templates was picked
    // Special-token strings from tokenizer_config.json (bos_token, eos_token, pad_token, ...).
    const std::map<std::string, std::string>& variables() const { return vars_; }
    void set_variables(std::map<std::string, std::string> v) { vars_ = std::move(v); }
    void set_note(std::string n) { note_ = std::move(n); }
    // Evaluation steps allowed per render (default kMaxChatSteps; the fuzz harness lowers it).
    void set_max_steps(long long n) { max_steps_ = n; }

    struct Impl;

private:
    std::string text_, file_, note_;
    std::map<std::string, std::string> vars_;
    long long max_steps_ = kMaxChatSteps;
    std::unique_ptr<Impl> impl_;
};

// Does the tokenizer_config.json of `path` (a model folder, or the file itself) carry a chat template?
bool has_chat_template(const std::string& path);
// Reads and parses the chat template of `path` (a model folder or a tokenizer_config.json), with its
// special-token variables. A list of {name, template} picks "default" (note() says so). Throws Error
// naming the file and field `chat_template` when the file, the template or a feature is missing.
ChatTemplate load_chat_template(const std::string& path);

}  // namespace achilles
