// SPDX-License-Identifier: GPL-3.0-or-later
// Dataset loading (WikiText-style text, plain text paragraphs, JSONL) and token-weighted
// dataset perplexity.
#include "analysis/search_internal.h"
#include "achilles/error.h"
#include "achilles/utf8.h"
#include "util/json_util.h"
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace achilles {

namespace {

std::string trim(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

// WikiText headings: " = Title = ", " = = Section = = ", ...
bool is_heading(const std::string& t) {
    return t.size() >= 3 && t.front() == '=' && t.back() == '=';
}

std::string lower_ext(const std::string& path) {
    std::string e = std::filesystem::path(path).extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
    return e;
}

}  // namespace

std::vector<std::string> load_dataset_texts(const std::string& path, int max_samples) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw Error(path, "dataset", "the dataset file does not exist or is not a regular file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "dataset", "cannot open the dataset file");
    std::vector<std::string> out;
    auto full = [&] { return max_samples > 0 && static_cast<int>(out.size()) >= max_samples; };
    const std::string ext = lower_ext(path);
    std::string line;
    if (ext == ".jsonl" || ext == ".json" || ext == ".ndjson") {
        int lineno = 0;
        while (!full() && std::getline(in, line)) {
            ++lineno;
            if (trim(line).empty()) continue;
            const std::string where = path + ":" + std::to_string(lineno);
            json j = parse_json(line, where);
            if (!j.is_object() || !j.contains("text"))
                throw Error(where, "text", "each line must be a JSON object with a \"text\" field");
            if (!j["text"].is_string()) throw Error(where, "text", "the \"text\" field must be a string");
            std::string t = j["text"].get<std::string>();
            if (!trim(t).empty()) out.push_back(std::move(t));
        }
    } else {
        std::vector<std::string> lines;
        bool wikitext = ext == ".raw";
        int lineno = 0;
        while (std::getline(in, line)) {
            ++lineno;
            require_utf8(line, path + ":" + std::to_string(lineno), "text");
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (!wikitext && is_heading(trim(line))) wikitext = true;
            lines.push_back(std::move(line));
        }
        if (wikitext) {
            // WikiText: each line is a paragraph; keep those over 50 characters, skip headings.
            for (const auto& l : lines) {
                if (full()) break;
                std::string t = trim(l);
                if (t.empty() || is_heading(t) || t.size() <= 50) continue;
                out.push_back(std::move(t));
            }
        } else {
            // Plain text: paragraphs separated by blank lines.
            std::string para;
            auto flush = [&] {
                std::string t = trim(para);
                if (!t.empty() && !full()) out.push_back(std::move(t));
                para.clear();
            };
            for (const auto& l : lines) {
                if (trim(l).empty()) flush();
                else {
                    if (!para.empty()) para += '\n';
                    para += l;
                }
            }
            flush();
        }
    }
    if (out.empty()) throw Error(path, "dataset", "the dataset holds no usable samples");
    return out;
}

DatasetPpl dataset_perplexity(const Engine& engine, const std::vector<std::string>& texts, const MaskSpec& mask,
                              int max_tokens, Progress& progress) {
    if (max_tokens < 2) throw Error("dataset", "max_tokens", "must be at least 2");
    const Transformer& model = EngineAccess::model(engine);
    double sum = 0;
    int64_t scored = 0;
    DatasetPpl r;
    for (size_t i = 0; i < texts.size(); ++i) {
        progress.check();
        std::vector<int> ids = engine.encode_for_ppl(texts[i], max_tokens);
        if (static_cast<int>(ids.size()) > max_tokens) ids.resize(static_cast<size_t>(max_tokens));
        if (ids.size() < 2) continue;
        SequenceNll ev = score_sequence(model, ids_tensor(model, ids), mask, progress);
        for (double v : ev.nll) sum += v;
        scored += static_cast<int64_t>(ev.nll.size());
        r.samples += 1;
        r.tokens += static_cast<int>(ids.size());
        progress.report("dataset", double(i + 1) / double(texts.size()),
                        "sample " + std::to_string(i + 1) + "/" + std::to_string(texts.size()));
    }
    if (scored == 0) throw Error("dataset", "text", "no sample gave at least 2 tokens");
    r.ppl = std::exp(sum / static_cast<double>(scored));
    return r;
}

}  // namespace achilles
