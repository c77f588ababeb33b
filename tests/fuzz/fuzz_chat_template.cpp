// SPDX-License-Identifier: GPL-3.0-or-later
// Chat templates: the input is a template, optionally followed by a NUL byte and a JSON context
// (messages, add_generation_prompt, ...). Parsing and rendering end in a string within the output
// bound or an achilles::Error; nothing else may escape, crash or run unbounded.
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "fuzz_util.h"
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    const std::string in(reinterpret_cast<const char*>(data), size);
    const size_t nul = in.find('\0');
    const std::string text = in.substr(0, nul);
    try {
        ChatTemplate t(text, "tokenizer_config.json");
        t.set_variables({{"bos_token", "<s>"}, {"eos_token", "</s>"}});
        t.set_max_steps(200'000);  // keeps each input well inside libFuzzer's timeout under ASan
        std::string out;
        if (nul != std::string::npos) {
            out = t.render_json(in.substr(nul + 1));
        } else {
            out = t.render({{"system", "Be brief.", {}}, {"user", "Hi <think>x</think>", {}}, {"assistant", " ok ", {{"reasoning_content", "r"}}}},
                           true, {{"enable_thinking", false}});
        }
        if (out.size() > kMaxChatOutputBytes) fuzz::finding("output over the bound");
    } catch (const Error& e) {
        if (std::string(e.what()).empty()) fuzz::finding("empty error message");
    }
    return 0;
}
