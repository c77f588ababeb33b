// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal pieces shared by the tokenizer implementations (not a public contract).
#include "achilles/error.h"
#include "achilles/tokenizer.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace achilles::tok {

// A well-formed file using a feature this implementation does not support (e.g. a Metaspace
// tokenizer.json): load_tokenizer() then falls back to tokenizer.model in the same folder.
class UnsupportedFormat : public Error {
public:
    using Error::Error;
};

// What tokenizer_config.json says (all optional).
struct TokenizerConfig {
    std::string source;                   // the file read, empty when there was none
    std::optional<bool> add_bos_token;
    std::optional<bool> add_eos_token;
    std::optional<std::string> bos_token; // nullopt: not given; "" : given as null
    std::optional<std::string> eos_token;
    std::optional<std::string> unk_token;
    bool bos_token_null = false;          // "bos_token": null was written explicitly
    struct Added {
        int id = -1;
        std::string content;
        bool special = true, lstrip = false, rstrip = false, single_word = false, normalized = false;
    };
    std::vector<Added> added_tokens;      // added_tokens_decoder
};

// Reads tokenizer_config.json (errors name the file and field). Missing file: empty config.
TokenizerConfig read_tokenizer_config(const std::string& path);

// Throws Error("text", ...) when s is not valid UTF-8 (overlongs, surrogates, > U+10FFFF included).
void check_utf8(std::string_view s, const char* what = "text");

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(const std::string& model_path, const TokenizerConfig& cfg);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& json_path, const TokenizerConfig& cfg);

}  // namespace achilles::tok
