// SPDX-License-Identifier: GPL-3.0-or-later
// load_tokenizer(): picks SentencePiece or byte-level BPE and reads tokenizer_config.json.
#include "tokenizer/tokenizer_impl.h"

#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/utf8.h"
#include "util/json_util.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace achilles::tok {

namespace fs = std::filesystem;

void check_utf8(std::string_view s, const char* what) { require_utf8(s, what); }


// bos_token etc. may be a string, null, or {"content": ...}.
static std::optional<std::string> token_field(const json& j, const char* field, const std::string& src, bool* was_null) {
    if (!j.contains(field)) return std::nullopt;
    const json& v = j.at(field);
    if (v.is_null()) {
        if (was_null) *was_null = true;
        return std::string();
    }
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
    throw Error(src, field, "expected a string, null or an object with 'content', got " + brief(v));
}

TokenizerConfig read_tokenizer_config(const std::string& path) {
    TokenizerConfig c;
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec)) return c;
    c.source = path;
    json j = parse_json(read_file(path, 64u << 20), path);
    if (!j.is_object()) throw Error(path, "", "expected a JSON object");
    if (j.contains("add_bos_token") && !j.at("add_bos_token").is_null())
        c.add_bos_token = get_field<bool>(j, "add_bos_token", path);
    if (j.contains("add_eos_token") && !j.at("add_eos_token").is_null())
        c.add_eos_token = get_field<bool>(j, "add_eos_token", path);
    c.bos_token = token_field(j, "bos_token", path, &c.bos_token_null);
    c.eos_token = token_field(j, "eos_token", path, nullptr);
    c.unk_token = token_field(j, "unk_token", path, nullptr);
    if (j.contains("added_tokens_decoder")) {
        const json& d = j.at("added_tokens_decoder");
        if (!d.is_object()) throw Error(path, "added_tokens_decoder", "expected an object");
        for (auto it = d.begin(); it != d.end(); ++it) {
            TokenizerConfig::Added a;
            try {
                size_t pos = 0;
                a.id = std::stoi(it.key(), &pos);
                if (pos != it.key().size() || a.id < 0) throw std::invalid_argument("id");
            } catch (const std::exception&) {
                throw Error(path, "added_tokens_decoder", "key '" + brief_key(it.key()) + "' is not a token id");
            }
            const json& v = it.value();
            const std::string f = "added_tokens_decoder." + brief_key(it.key());
            if (!v.is_object()) throw Error(path, f, "expected an object");
            a.content = get_field<std::string>(v, "content", path + " (" + f + ")");
            a.special = get_field_or<bool>(v, "special", true, path + " (" + f + ")");
            a.lstrip = get_field_or<bool>(v, "lstrip", false, path + " (" + f + ")");
            a.rstrip = get_field_or<bool>(v, "rstrip", false, path + " (" + f + ")");
            a.single_word = get_field_or<bool>(v, "single_word", false, path + " (" + f + ")");
            a.normalized = get_field_or<bool>(v, "normalized", false, path + " (" + f + ")");
            c.added_tokens.push_back(std::move(a));
        }
    }
    return c;
}

}  // namespace achilles::tok

namespace achilles {

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path.empty()) throw Error("tokenizer", "", "no tokenizer path given");
    fs::path p(path);
    if (!fs::exists(p, ec)) throw Error(path, "", "no such tokenizer file or folder");
    fs::path file;
    bool folder_has_model = false;
    if (fs::is_directory(p, ec)) {
        folder_has_model = fs::is_regular_file(p / "tokenizer.model", ec);
        if (fs::is_regular_file(p / "tokenizer.json", ec)) file = p / "tokenizer.json";
        else if (folder_has_model) file = p / "tokenizer.model";
        else throw Error(path, "", "the folder has neither tokenizer.json nor tokenizer.model");
    } else {
        file = p;
    }
    const fs::path cfg_path = file.parent_path() / "tokenizer_config.json";
    tok::TokenizerConfig cfg = tok::read_tokenizer_config(fs::is_regular_file(cfg_path, ec) ? cfg_path.string() : "");
    const std::string ext = file.extension().string();
    if (ext == ".json") {
        try {
            return tok::make_bpe_tokenizer(file.string(), cfg);
        } catch (const tok::UnsupportedFormat&) {
            // e.g. Mistral, Gemma, Phi-3: a Metaspace tokenizer.json beside the SentencePiece model.
            if (!folder_has_model) throw;
            return tok::make_sentencepiece_tokenizer((p / "tokenizer.model").string(), cfg);
        }
    }
    if (ext == ".model") return tok::make_sentencepiece_tokenizer(file.string(), cfg);
    // Unknown extension: sniff. JSON starts with '{' after whitespace.
    std::ifstream f(file, std::ios::binary);
    if (!f) throw Error(file.string(), "", "cannot open the file");
    char ch = 0;
    while (f.get(ch) && (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')) {}
    if (ch == '{') return tok::make_bpe_tokenizer(file.string(), cfg);
    return tok::make_sentencepiece_tokenizer(file.string(), cfg);
}

}  // namespace achilles
