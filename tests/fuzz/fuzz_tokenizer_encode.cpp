// SPDX-License-Identifier: GPL-3.0-or-later
// Encoding arbitrary text with real byte-level BPE tokenizers: invalid UTF-8 is an Error; valid
// text round-trips exactly (decode(encode(text)) == text, special-token text encoded as text).
#include "achilles/error.h"
#include "achilles/utf8.h"
#include "tokenizer/tokenizer_impl.h"
#include "fuzz_util.h"
#include <cstdio>
#include <memory>
#include <vector>

namespace {
std::vector<std::unique_ptr<achilles::Tokenizer>>& tokenizers() {
    static std::vector<std::unique_ptr<achilles::Tokenizer>> t = [] {
        std::vector<std::unique_ptr<achilles::Tokenizer>> v;
        for (const char* name : {"bpe_gpt2like", "bpe_llama3like", "bpe_qwenlike", "bpe_deepseeklike"})
            v.push_back(achilles::tok::make_bpe_tokenizer(
                std::string(ACHILLES_FUZZ_TOKENIZERS) + "/" + name + "/tokenizer.json", {}));
        return v;
    }();
    return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    if (size == 0) return 0;
    auto& toks = tokenizers();
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    Tokenizer& t = *toks[data[0] % toks.size()];
    const bool utf8 = find_invalid_utf8(text) == std::string_view::npos;
    EncodeOptions eo;
    eo.add_special = false;
    eo.split_special = true;
    try {
        const std::vector<int> ids = t.encode(text, eo);
        if (!utf8) fuzz::finding("invalid UTF-8 was accepted");
        for (int id : ids)
            if (id < 0 || id >= t.vocab_size()) fuzz::finding("id outside the vocabulary");
        // The gpt2-like fixture's ByteLevel step adds a prefix space (as HF's does); the Qwen-like
        // one normalizes to NFC, so only NFC-stable text round-trips there.
        const size_t which = data[0] % toks.size();
        const std::string want = which == 0 && !text.empty() && text[0] != ' ' ? " " + text : text;
        if (which != 2 && t.decode(ids, false) != want) fuzz::finding("decode(encode(text)) != text");
    } catch (const Error&) {
        if (utf8) fuzz::finding("valid UTF-8 was refused");
    }
    return 0;
}
