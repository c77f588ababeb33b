// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/error.h"
#include "achilles/json_check.h"
#include "achilles/progress.h"
#include "achilles/tokenizer.h"
#include "cli_util.h"
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

namespace achilles::cli {

namespace {
struct TokOpts {
    TextInput input;
    std::string tokenizer, batch, decode;
    bool no_special = false, split_special = false;
};

nlohmann::json encode_one(const Tokenizer& tok, const std::string& text, const TokOpts& o) {
    EncodeOptions eo;
    eo.add_special = !o.no_special;
    eo.split_special = o.split_special;
    std::vector<int> ids = tok.encode(text, eo);
    nlohmann::json j;
    j["ids"] = ids;
    std::vector<std::string> toks;
    for (int id : ids) toks.push_back(tok.token_string(id));
    j["tokens"] = toks;
    j["decoded"] = tok.decode(ids, false);
    return j;
}

std::string dump(const nlohmann::json& j, int indent) {
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_human(const nlohmann::json& j) {
    std::cout << "ids:     ";
    for (size_t i = 0; i < j["ids"].size(); ++i) std::cout << (i ? "," : "") << j["ids"][i].get<int>();
    std::cout << "\ntokens:  ";
    for (size_t i = 0; i < j["tokens"].size(); ++i) std::cout << (i ? " | " : "") << j["tokens"][i].get<std::string>();
    std::cout << "\ndecoded: " << j["decoded"].get<std::string>() << "\n";
}
}  // namespace

void register_tokenize(CLI::App& app, Globals& g, Runner& run) {
    auto* sub = app.add_subcommand("tokenize", "encode text (or decode ids) with a model's tokenizer");
    auto o = std::make_shared<TokOpts>();
    sub->add_option("--tokenizer", o->tokenizer, "tokenizer.model, tokenizer.json or a model folder")->required();
    o->input.flags = {.ids = "", .text_help = "text to encode", .file_help = "UTF-8 file to encode"};  // --decode takes ids
    auto* t3 = sub->add_option("--batch", o->batch, "JSONL file, one {\"text\": ...} per line; one result per line");
    auto* t4 = sub->add_option("--decode", o->decode, "comma-separated ids to decode");
    add_text_input(sub, o->input, {t3, t4});
    sub->add_flag("--no-special", o->no_special, "add no BOS/EOS");
    sub->add_flag("--split-special", o->split_special, "encode special-token text as plain text");
    on_run(sub, run, [&g, o, sub] {
        require_one_of(sub, {"--text", "--text-file", "--batch", "--decode"});
        auto tok = load_tokenizer(o->tokenizer);
        if (!o->decode.empty()) {
            std::vector<int> ids = parse_int_list(o->decode, "--decode");
            for (int id : ids)
                if (id < 0 || id >= tok->vocab_size())
                    throw Error("command line", "--decode",
                                "id " + std::to_string(id) + " is outside the vocabulary (size " +
                                    std::to_string(tok->vocab_size()) + ")");
            nlohmann::json j;
            j["ids"] = ids;
            std::vector<std::string> toks;
            for (int id : ids) toks.push_back(tok->token_string(id));
            j["tokens"] = toks;
            j["decoded"] = tok->decode(ids, false);
            if (g.json) std::cout << dump(j, 2) << "\n";
            else print_human(j);
            return 0;
        }
        if (!o->batch.empty()) {
            std::error_code ec;
            if (std::filesystem::is_directory(o->batch, ec))
                throw Error(o->batch, "--batch", "is a directory, not a JSONL file");
            std::ifstream in(o->batch, std::ios::binary);
            if (!in) throw Error(o->batch, "--batch", "cannot open the file");
            int lineno = 0;
            bool ok = true;
            for (;;) {
                const std::string where = o->batch + ":" + std::to_string(lineno + 1);
                std::string line = read_line_bounded(in, where, ok);
                if (!ok) break;
                ++lineno;
                if (interrupted()) throw Cancelled();
                if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
                check_json(line, where);  // the project's JSON rules: depth, duplicate keys, numbers
                nlohmann::json in_j = nlohmann::json::parse(line);
                if (!in_j.is_object() || !in_j.contains("text") || !in_j["text"].is_string())
                    throw Error(where, "text", "each line must be an object with a string \"text\" field");
                std::string text = in_j["text"].get<std::string>();
                check_utf8(text, where);
                std::cout << dump(encode_one(*tok, text, *o), -1) << "\n";
            }
            return 0;
        }
        nlohmann::json j = encode_one(*tok, read_text_input(o->input, false).text, *o);
        if (g.json) std::cout << dump(j, 2) << "\n";
        else print_human(j);
        return 0;
    });
}

}  // namespace achilles::cli
