// SPDX-License-Identifier: GPL-3.0-or-later
// Multiple-choice benchmarks under masks (achilles-cli eval): the JSONL / ARC / MMLU-CSV readers,
// the two scoring protocols, the Wilson interval and the report writers. See achilles/benchmark.h.
#include "achilles/benchmark.h"
#include "achilles/chat_template.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/utf8.h"
#include "achilles/version.h"
#include "analysis/search_internal.h"
#include "util/json_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <unordered_map>

namespace achilles {

namespace {

using ojson = nlohmann::ordered_json;

std::string letter(int i) { return std::string(1, static_cast<char>('A' + i)); }

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

std::string trim(std::string_view s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return std::string(s.substr(a, b - a));
}

std::string hex_byte(unsigned char c) {
    char h[8];
    std::snprintf(h, sizeof h, "0x%02X", c);
    return h;
}

// A question, choice or subject: a string of at most kMaxBenchFieldBytes, not blank (unless allow_blank).
std::string text_value(const json& v, const std::string& where, const std::string& field, bool allow_blank = false) {
    if (!v.is_string()) throw Error(where, field, "expected a string, got " + brief(v));
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxBenchFieldBytes)
        throw Error(where, field, "is " + std::to_string(s.size()) + " bytes long (at most " +
                                      std::to_string(kMaxBenchFieldBytes) + ")");
    if (!allow_blank && blank(s)) throw Error(where, field, "is empty");
    return s;
}

void check_choice_count(size_t n, const std::string& where, const std::string& field) {
    if (n < 2)
        throw Error(where, field, "has fewer than 2 choices (got " + std::to_string(n) + ")");
    if (n > static_cast<size_t>(kMaxBenchChoices))
        throw Error(where, field, "has " + std::to_string(n) + " choices (at most " + std::to_string(kMaxBenchChoices) +
                                      ", lettered A-Z)");
}

std::vector<std::string> string_array(const json& a, const std::string& where, const std::string& field) {
    if (!a.is_array()) throw Error(where, field, "expected an array of strings, got " + brief(a));
    check_choice_count(a.size(), where, field);
    std::vector<std::string> out;
    for (size_t i = 0; i < a.size(); ++i) out.push_back(text_value(a[i], where, field + "[" + std::to_string(i) + "]"));
    return out;
}

int label_index(const std::string& key, const std::vector<std::string>& labels, const std::string& where,
                const std::string& field) {
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] == key) return static_cast<int>(i);
    std::string list;
    for (size_t i = 0; i < labels.size(); ++i) list += (i ? ", " : "") + labels[i];
    throw Error(where, field, "'" + brief_key(key, 20) + "' is not one of the labels " + list);
}

BenchItem item_from_json(const json& j, const std::string& where, int line) {
    if (!j.is_object()) throw Error(where, "", "expected a JSON object, got " + brief(j));
    BenchItem it;
    it.line = line;
    if (!j.contains("question")) throw Error(where, "question", "is missing");
    it.question = text_value(j["question"], where, "question");
    if (!j.contains("choices")) throw Error(where, "choices", "is missing");
    const json& ch = j["choices"];
    std::vector<std::string> labels;
    if (ch.is_object()) {  // ARC: {"text": [...], "label": [...]}
        if (!ch.contains("text")) throw Error(where, "choices.text", "is missing");
        it.choices = string_array(ch["text"], where, "choices.text");
        if (ch.contains("label")) {
            labels = string_array(ch["label"], where, "choices.label");
            if (labels.size() != it.choices.size())
                throw Error(where, "choices.label", "has " + std::to_string(labels.size()) + " labels for " +
                                                        std::to_string(it.choices.size()) + " choices");
        }
    } else {
        it.choices = string_array(ch, where, "choices");
    }
    if (j.contains("labels") && !j["labels"].is_null()) {
        if (!labels.empty()) throw Error(where, "labels", "give labels or choices.label, not both");
        labels = string_array(j["labels"], where, "labels");
        if (labels.size() != it.choices.size())
            throw Error(where, "labels", "has " + std::to_string(labels.size()) + " labels for " +
                                             std::to_string(it.choices.size()) + " choices");
    }
    if (labels.empty())
        for (size_t i = 0; i < it.choices.size(); ++i) labels.push_back(letter(static_cast<int>(i)));
    for (size_t i = 0; i < labels.size(); ++i) {
        if (labels[i].size() > 16)
            throw Error(where, "labels[" + std::to_string(i) + "]", "is longer than 16 bytes");
        for (size_t k = 0; k < i; ++k)
            if (labels[k] == labels[i])
                throw Error(where, "labels[" + std::to_string(i) + "]", "'" + labels[i] + "' appears twice");
    }
    it.labels = labels;
    const int n = static_cast<int>(it.choices.size());
    const bool has_answer = j.contains("answer") && !j["answer"].is_null();
    const bool has_key = j.contains("answerKey") && !j["answerKey"].is_null();
    if (has_answer && has_key) throw Error(where, "answerKey", "give answer or answerKey, not both");
    if (has_answer) {
        const json& a = j["answer"];
        if (a.is_string()) it.answer = label_index(trim(a.get<std::string>()), labels, where, "answer");
        else it.answer = static_cast<int>(json_int(a, 0, n - 1, where, "answer"));
    } else if (has_key) {
        const json& a = j["answerKey"];
        if (!a.is_string()) throw Error(where, "answerKey", "expected a label string, got " + brief(a));
        it.answer = label_index(trim(a.get<std::string>()), labels, where, "answerKey");
    } else {
        throw Error(where, "answer", "is missing (give answer, a 0-based index, or answerKey, a label)");
    }
    if (j.contains("subject") && !j["subject"].is_null()) {
        it.subject = text_value(j["subject"], where, "subject");
        if (it.subject.size() > 256) throw Error(where, "subject", "is longer than 256 bytes");
    }
    if (j.contains("id") && !j["id"].is_null()) {
        const json& id = j["id"];
        if (id.is_string()) it.id = text_value(id, where, "id");
        else if (id.is_number_integer() || id.is_number_unsigned()) it.id = id.dump();
        else throw Error(where, "id", "expected a string or an integer, got " + brief(id));
        if (it.id.size() > 1024) throw Error(where, "id", "is longer than 1024 bytes");
    } else {
        it.id = std::to_string(line);
    }
    return it;
}

std::string_view skip_bom(std::string_view t) {
    if (t.size() >= 3 && static_cast<unsigned char>(t[0]) == 0xEF && static_cast<unsigned char>(t[1]) == 0xBB &&
        static_cast<unsigned char>(t[2]) == 0xBF)
        t.remove_prefix(3);
    return t;
}

// ---------------------------------------------------------------- CSV (RFC 4180)
class CsvReader {
public:
    CsvReader(std::string_view t, const std::string& source) : t_(t), source_(source) {}
    // Next record; false at the end. line receives the record's first line.
    bool next(std::vector<std::string>& fields, int& line) {
        fields.clear();
        if (pos_ >= t_.size()) return false;
        line = line_;
        std::string cur;
        bool quoted_field = false;
        while (true) {
            if (pos_ >= t_.size()) {
                fields.push_back(std::move(cur));
                return true;
            }
            const char c = t_[pos_];
            if (c == '"' && cur.empty() && !quoted_field) {
                quoted_field = true;
                ++pos_;
                // A quoted field: up to the closing quote ("" is a quote).
                while (true) {
                    if (pos_ >= t_.size())
                        throw Error(source_ + ":" + std::to_string(line), "column " + std::to_string(fields.size() + 1),
                                    "a quoted field is not closed before the end of the file");
                    const char d = t_[pos_++];
                    if (d == '\n') ++line_;
                    if (d == '"') {
                        if (pos_ < t_.size() && t_[pos_] == '"') {
                            cur += '"';
                            ++pos_;
                            continue;
                        }
                        break;
                    }
                    cur += d;
                    if (cur.size() > kMaxBenchFieldBytes)
                        throw Error(source_ + ":" + std::to_string(line), "column " + std::to_string(fields.size() + 1),
                                    "is longer than " + std::to_string(kMaxBenchFieldBytes) + " bytes");
                }
                if (pos_ < t_.size() && t_[pos_] != ',' && t_[pos_] != '\n' && t_[pos_] != '\r')
                    throw Error(source_ + ":" + std::to_string(line_), "column " + std::to_string(fields.size() + 1),
                                "unexpected character after a closing quote");
                continue;
            }
            ++pos_;
            if (c == ',') {
                fields.push_back(std::move(cur));
                cur.clear();
                quoted_field = false;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && pos_ < t_.size() && t_[pos_] == '\n') ++pos_;
                ++line_;
                fields.push_back(std::move(cur));
                return true;
            } else {
                cur += c;
                if (cur.size() > kMaxBenchFieldBytes)
                    throw Error(source_ + ":" + std::to_string(line), "column " + std::to_string(fields.size() + 1),
                                "is longer than " + std::to_string(kMaxBenchFieldBytes) + " bytes");
            }
        }
    }

private:
    std::string_view t_;
    const std::string& source_;
    size_t pos_ = 0;
    int line_ = 1;
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

int csv_answer(const std::string& raw, int n, const std::string& where, const std::string& field) {
    const std::string a = trim(raw);
    const std::string range = "A-" + letter(n - 1);
    if (a.empty()) throw Error(where, field, "is empty (expected a letter " + range + ")");
    if (a.size() == 1 && a[0] >= 'A' && a[0] <= 'Z') {
        const int k = a[0] - 'A';
        if (k >= n)
            throw Error(where, field, "'" + a + "' is out of range: " + std::to_string(n) + " choices (" + range + ")");
        return k;
    }
    if (a.size() <= 3 && std::all_of(a.begin(), a.end(), [](unsigned char c) { return std::isdigit(c); })) {
        const int k = std::stoi(a);
        if (k >= n)
            throw Error(where, field, "index " + a + " is out of range: " + std::to_string(n) + " choices (0-" +
                                          std::to_string(n - 1) + ")");
        return k;
    }
    throw Error(where, field, "expected a letter " + range + " or a 0-based index, got '" + brief_key(a, 40) + "'");
}

}  // namespace

// ---------------------------------------------------------------- readers
std::vector<std::string> BenchSet::subjects() const {
    std::set<std::string> s;
    for (const auto& it : items)
        if (!it.subject.empty()) s.insert(it.subject);
    return {s.begin(), s.end()};
}

BenchSet parse_benchmark_jsonl(std::string_view text, const std::string& source, int limit) {
    BenchSet s;
    s.source = source;
    s.format = "jsonl";
    text = skip_bom(text);
    size_t pos = 0;
    int lineno = 0;
    while (pos < text.size() && (limit <= 0 || static_cast<int>(s.items.size()) < limit)) {
        const size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (blank(line)) continue;
        const std::string where = source + ":" + std::to_string(lineno);
        if (const size_t bad = find_invalid_utf8(line); bad != std::string_view::npos) {
            // Name the member that holds the bad byte: the strict parser stops inside it.
            std::string field;
            try {
                (void)parse_json(line, where);
            } catch (const Error& e) {
                field = e.field();
            }
            throw Error(where, field,
                        "not valid UTF-8 (byte " + hex_byte(static_cast<unsigned char>(line[bad])) + " at column " +
                            std::to_string(bad + 1) + ")");
        }
        const json j = parse_json(line, where);
        s.items.push_back(item_from_json(j, where, lineno));
    }
    if (s.items.empty()) throw Error(source, "", "the benchmark holds no questions (the file is empty or blank)");
    return s;
}

BenchSet parse_benchmark_csv(std::string_view text, const std::string& source, int limit, const std::string& subject) {
    BenchSet s;
    s.source = source;
    s.format = "csv";
    text = skip_bom(text);
    CsvReader rd(text, source);
    std::vector<std::string> f;
    int line = 0;
    // Column roles.
    int q_col = 0, a_col = -1, subj_col = -1, id_col = -1;
    std::vector<int> choice_cols;
    std::vector<std::string> names;
    size_t ncols = 0;
    bool first = true;
    while ((limit <= 0 || static_cast<int>(s.items.size()) < limit) && rd.next(f, line)) {
        if (f.size() == 1 && blank(f[0])) continue;  // a blank line
        const std::string where = source + ":" + std::to_string(line);
        if (first) {
            first = false;
            ncols = f.size();
            if (lower(trim(f[0])) == "question") {  // a header row
                for (size_t c = 0; c < f.size(); ++c) {
                    require_utf8(f[c], where, "column " + std::to_string(c + 1));
                    const std::string n = lower(trim(f[c]));
                    names.push_back(trim(f[c]));
                    if (n == "question") {
                        if (c != 0) throw Error(where, "question", "appears twice in the header");
                    } else if (n == "answer") {
                        if (a_col >= 0) throw Error(where, "answer", "appears twice in the header");
                        a_col = static_cast<int>(c);
                    } else if (n == "subject") {
                        if (subj_col >= 0) throw Error(where, "subject", "appears twice in the header");
                        subj_col = static_cast<int>(c);
                    } else if (n == "id") {
                        if (id_col >= 0) throw Error(where, "id", "appears twice in the header");
                        id_col = static_cast<int>(c);
                    } else {
                        choice_cols.push_back(static_cast<int>(c));
                    }
                }
                if (a_col < 0) throw Error(where, "answer", "the header has no answer column");
                check_choice_count(choice_cols.size(), where, "header");
                continue;
            }
            // No header: question, choices..., answer.
            if (ncols < 4)
                throw Error(where, "", "has " + std::to_string(ncols) +
                                           " columns; expected question, at least 2 choices and the answer");
            a_col = static_cast<int>(ncols) - 1;
            for (size_t c = 1; c + 1 < ncols; ++c) choice_cols.push_back(static_cast<int>(c));
            check_choice_count(choice_cols.size(), where, "choices");
            names.push_back("question");
            for (size_t k = 0; k < choice_cols.size(); ++k) names.push_back(letter(static_cast<int>(k)));
            names.push_back("answer");
        }
        if (f.size() != ncols)
            throw Error(where, "", "has " + std::to_string(f.size()) + " columns, expected " + std::to_string(ncols) +
                                       " (as the first row)");
        for (size_t c = 0; c < f.size(); ++c) require_utf8(f[c], where, names[c]);
        BenchItem it;
        it.line = line;
        if (blank(f[static_cast<size_t>(q_col)])) throw Error(where, "question", "is empty");
        it.question = f[static_cast<size_t>(q_col)];
        for (int c : choice_cols) {
            if (blank(f[static_cast<size_t>(c)])) throw Error(where, names[static_cast<size_t>(c)], "is empty");
            it.choices.push_back(f[static_cast<size_t>(c)]);
        }
        const int n = static_cast<int>(it.choices.size());
        for (int k = 0; k < n; ++k) it.labels.push_back(letter(k));
        it.answer = csv_answer(f[static_cast<size_t>(a_col)], n, where, names[static_cast<size_t>(a_col)]);
        if (subj_col >= 0) {
            it.subject = trim(f[static_cast<size_t>(subj_col)]);
            if (it.subject.size() > 256) throw Error(where, "subject", "is longer than 256 bytes");
        } else {
            it.subject = subject;
        }
        it.id = id_col >= 0 && !blank(f[static_cast<size_t>(id_col)]) ? trim(f[static_cast<size_t>(id_col)])
                                                                       : std::to_string(line);
        s.items.push_back(std::move(it));
    }
    if (s.items.empty()) throw Error(source, "", "the benchmark holds no questions (the file is empty or blank)");
    return s;
}

BenchSet load_benchmark(const std::string& path, int limit) {
    if (limit < 0) throw Error("options", "limit", "must not be negative");
    const std::string text = read_file(path, kMaxBenchFileBytes);
    std::string ext = lower(std::filesystem::path(path).extension().string());
    if (ext == ".csv") {
        std::string stem = std::filesystem::path(path).stem().string();
        for (const char* suf : {"_test", "_val", "_dev", "_train"}) {
            const std::string s = suf;
            if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) {
                stem.resize(stem.size() - s.size());
                break;
            }
        }
        if (find_invalid_utf8(stem) != std::string::npos) stem.clear();
        return parse_benchmark_csv(text, path, limit, stem);
    }
    return parse_benchmark_jsonl(text, path, limit);
}

// ---------------------------------------------------------------- prompts and answers
std::string ll_context(const BenchItem& item) { return "Question: " + item.question + "\nAnswer:"; }
std::string ll_continuation(const BenchItem& item, int choice) {
    return " " + item.choices.at(static_cast<size_t>(choice));
}

std::string gen_prompt(const BenchItem& item) {
    const int n = static_cast<int>(item.choices.size());
    std::string p = "The following is a multiple choice question. Think step by step and then finish your answer "
                    "with \"The answer is (X)\" where X is the correct letter choice.\n\nQuestion: " +
                    item.question + "\nOptions:\n";
    for (int i = 0; i < n; ++i) {
        p += '(';
        p += static_cast<char>('A' + i);
        p += ") ";
        p += item.choices[static_cast<size_t>(i)];
        p += '\n';
    }
    p += "Answer:";
    return p;
}

std::string_view answer_how_name(AnswerHow h) {
    switch (h) {
        case AnswerHow::regex: return "regex";
        case AnswerHow::fallback: return "fallback";
        default: return "none";
    }
}

Extracted extract_answer(std::string_view out, int n) {
    // Regex: The answer is \(?([A-Z])\)?  (the trailing \)? never changes the capture), first match.
    static constexpr std::string_view kPhrase = "The answer is ";
    for (size_t at = out.find(kPhrase); at != std::string_view::npos; at = out.find(kPhrase, at + 1)) {
        size_t p = at + kPhrase.size();
        if (p < out.size() && out[p] == '(') ++p;
        if (p < out.size() && out[p] >= 'A' && out[p] <= 'Z') return {out[p] - 'A', AnswerHow::regex};
    }
    auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
    for (size_t i = 0; i < out.size(); ++i) {
        const char c = out[i];
        if (c < 'A' || c >= 'A' + n) continue;
        if (i > 0 && alnum(out[i - 1])) continue;
        if (i + 1 < out.size() && alnum(out[i + 1])) continue;
        return {c - 'A', AnswerHow::fallback};
    }
    return {};
}

Interval wilson_interval(int64_t k, int64_t n, double z) {
    if (n <= 0) return {0.0, 1.0};
    const double nn = static_cast<double>(n), p = static_cast<double>(k) / nn, z2 = z * z;
    const double denom = 1.0 + z2 / nn;
    const double center = (p + z2 / (2.0 * nn)) / denom;
    const double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

std::vector<Neuron> random_channels(const ModelShape& shape, int count, uint64_t seed) {
    int64_t per_layer = 0;
    for (Module m : kAllModules) per_layer += shape.module_width(m);
    const int64_t N = per_layer * shape.layers;
    if (count < 0 || count > N)
        throw Error("options", "random", "cannot draw " + std::to_string(count) + " channels from " +
                                             std::to_string(N));
    // Partial Fisher-Yates over the virtual array 0..N-1 (only the swapped slots are stored).
    std::unordered_map<int64_t, int64_t> swapped;
    auto at = [&](int64_t i) {
        auto it = swapped.find(i);
        return it == swapped.end() ? i : it->second;
    };
    const uint64_t key = detail::sample_key(seed ^ 0x42454E4348ULL, 0);  // "BENCH"
    std::vector<Neuron> out;
    for (int64_t i = 0; i < count; ++i) {
        const uint64_t span = static_cast<uint64_t>(N - i);
        const int64_t j = i + static_cast<int64_t>(detail::splitmix64(key + static_cast<uint64_t>(i)) % span);
        const int64_t vi = at(i), vj = at(j);
        swapped[i] = vj;
        swapped[j] = vi;
        int64_t idx = vj;
        Neuron n;
        n.layer = static_cast<int>(idx / per_layer);
        idx %= per_layer;
        for (Module m : kAllModules) {
            if (idx < shape.module_width(m)) {
                n.module = m;
                n.channel = static_cast<int>(idx);
                break;
            }
            idx -= shape.module_width(m);
        }
        out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<Neuron> mask_neurons(const MaskSpec& mask) {
    std::vector<Neuron> out;
    std::set<Neuron> seen;
    for (const auto& e : mask)
        if (seen.insert(e.neuron).second) out.push_back(e.neuron);
    return out;
}

std::optional<BenchMethod> bench_method_from_name(std::string_view s) {
    if (s == "ll") return BenchMethod::ll;
    if (s == "gen") return BenchMethod::gen;
    if (s == "both") return BenchMethod::both;
    return std::nullopt;
}
std::string_view bench_method_name(BenchMethod m) {
    switch (m) {
        case BenchMethod::ll: return "ll";
        case BenchMethod::gen: return "gen";
        default: return "both";
    }
}

// ---------------------------------------------------------------- running
namespace {

Accuracy make_acc(int64_t k, int64_t n) {
    Accuracy a;
    a.correct = k;
    a.n = n;
    a.acc = n ? double(k) / double(n) : 0.0;
    a.ci = wilson_interval(k, n);
    return a;
}

int argmax_first(const std::vector<double>& v) {
    int best = 0;
    for (size_t i = 1; i < v.size(); ++i)
        if (v[i] > v[static_cast<size_t>(best)] || (std::isnan(v[static_cast<size_t>(best)]) && !std::isnan(v[i])))
            best = static_cast<int>(i);
    return best;
}

struct Tally {
    int64_t n = 0, ll = 0, lln = 0, gen = 0, regex = 0, fallback = 0, none = 0;
    void add(const ItemScore& s, int answer, bool do_ll, bool do_gen) {
        ++n;
        if (do_ll) {
            ll += s.ll_pred == answer;
            lln += s.ll_norm_pred == answer;
        }
        if (do_gen) {
            gen += s.gen_pred == answer;
            regex += s.gen_how == AnswerHow::regex;
            fallback += s.gen_how == AnswerHow::fallback;
            none += s.gen_how == AnswerHow::none;
        }
    }
    MethodAccuracy result(bool do_ll, bool do_gen) const {
        MethodAccuracy m;
        if (do_ll) {
            m.ll_acc = make_acc(ll, n);
            m.ll_acc_norm = make_acc(lln, n);
        }
        if (do_gen) {
            m.gen_acc = make_acc(gen, n);
            m.gen_regex = regex;
            m.gen_fallback = fallback;
            m.gen_no_answer = none;
        }
        return m;
    }
};

}  // namespace

void check_chat_prompts(const ChatTemplate& chat, const BenchSet& set) {
    for (const auto& it : set.items) {
        (void)chat.render_user_prompt(ll_context(it));
        (void)chat.render_user_prompt(gen_prompt(it));
    }
}

BenchReport run_benchmark(const Engine& engine, const BenchSet& set, const std::vector<BenchCondition>& conditions,
                          const BenchOptions& o, Progress& progress) {
    const Tokenizer* tok = engine.tokenizer();
    if (!tok) throw Error(engine.info().fingerprint.path, "tokenizer", "the model folder has no tokenizer.json or tokenizer.model");
    if (o.max_new < 1 || o.max_new > kMaxBenchMaxNew)
        throw Error("options", "max_new", "must be 1 to " + std::to_string(kMaxBenchMaxNew));
    if (o.context < 0) throw Error("options", "context", "must not be negative");
    if (set.items.empty()) throw Error(set.source, "", "the benchmark holds no questions");
    if (conditions.empty()) throw Error("options", "conditions", "no condition to evaluate");
    for (const auto& c : conditions) validate_mask(c.mask, engine.info().shape);
    if (o.chat_template) check_chat_prompts(*o.chat_template, set);
    int64_t C = o.context;
    if (C == 0) {
        try {
            C = load_config((std::filesystem::path(engine.info().fingerprint.path) / "config.json").string())
                    .max_position_embeddings;
        } catch (const Error&) {
            C = 0;  // unknown: no truncation
        }
    }
    const bool do_ll = o.method != BenchMethod::gen, do_gen = o.method != BenchMethod::ll;
    if (do_gen && C > 0 && C < 2) throw Error("options", "context", "must be at least 2 for generation");
    const int bos = engine.info().bos_id;

    BenchReport r;
    r.model = engine.info().fingerprint;
    r.model_type = engine.info().model_type;
    r.source = set.source;
    r.format = set.format;
    r.rows = static_cast<int>(set.items.size());
    r.method = o.method;
    r.max_new = o.max_new;
    r.seed = o.seed;
    r.context = C;
    r.bos = bos >= 0;
    const ChatTemplate* chat = o.chat_template.get();
    if (chat) r.chat_template = chat->file();
    // With a chat template the prompt is the rendered user turn and nothing is prepended, as with
    // transformers' apply_chat_template: a template that wants BOS writes it (see benchmark.h).
    auto wrap = [chat](const std::string& prompt) { return chat ? chat->render_user_prompt(prompt) : prompt; };
    auto needs_bos = [&](const std::vector<int>& ids) { return bos >= 0 && (!chat || ids.empty()); };
    for (const auto& it : set.items) {
        r.item_ids.push_back(it.id);
        r.item_subjects.push_back(it.subject);
        r.item_answers.push_back(it.answer);
    }
    r.conditions.resize(conditions.size());
    for (size_t c = 0; c < conditions.size(); ++c) {
        r.conditions[c].name = conditions[c].name;
        r.conditions[c].neurons = mask_neurons(conditions[c].mask);
        r.conditions[c].items.resize(set.items.size());
    }
    EncodeOptions plain;
    plain.add_special = false;
    const double total = double(set.items.size()) * double(conditions.size());
    double done = 0;
    for (size_t i = 0; i < set.items.size(); ++i) {
        progress.check();
        const BenchItem& it = set.items[i];
        const std::string where = set.source + ":" + std::to_string(it.line);
        const int n = static_cast<int>(it.choices.size());
        // Tokenize once for every condition.
        std::vector<std::vector<int>> seqs(static_cast<size_t>(n));
        std::vector<int> cont_len(static_cast<size_t>(n)), bytes(static_cast<size_t>(n));
        std::vector<bool> cut(static_cast<size_t>(n), false);
        if (do_ll) {
            const std::string ctx = wrap(ll_context(it));
            const std::vector<int> ctx_ids = tok->encode(ctx, plain);
            const bool add_bos = needs_bos(ctx_ids);
            for (int k = 0; k < n; ++k) {
                const std::string cont = ll_continuation(it, k);
                const std::vector<int> whole = tok->encode(ctx + cont, plain);
                if (whole.size() <= ctx_ids.size())
                    throw Error(where, "choices[" + std::to_string(k) + "]", "gives no tokens after the prompt");
                std::vector<int> seq;
                if (add_bos) seq.push_back(bos);
                seq.insert(seq.end(), ctx_ids.begin(), ctx_ids.end());
                seq.insert(seq.end(), whole.begin() + static_cast<ptrdiff_t>(ctx_ids.size()), whole.end());
                int cl = static_cast<int>(whole.size() - ctx_ids.size());
                if (C > 0 && static_cast<int64_t>(seq.size()) > C) {
                    seq.erase(seq.begin(), seq.end() - static_cast<ptrdiff_t>(C));
                    cut[static_cast<size_t>(k)] = true;
                }
                cl = std::min(cl, static_cast<int>(seq.size()) - 1);
                if (cl < 1) throw Error(where, "choices[" + std::to_string(k) + "]", "does not fit the context");
                seqs[static_cast<size_t>(k)] = std::move(seq);
                cont_len[static_cast<size_t>(k)] = cl;
                bytes[static_cast<size_t>(k)] = static_cast<int>(cont.size());
            }
        }
        std::vector<int> prompt;
        int max_new = o.max_new;
        bool prompt_cut = false;
        if (do_gen) {
            const std::vector<int> body = tok->encode(wrap(gen_prompt(it)), plain);
            if (needs_bos(body)) prompt.push_back(bos);
            prompt.insert(prompt.end(), body.begin(), body.end());
            if (C > 0) {
                max_new = static_cast<int>(std::min<int64_t>(max_new, C - 1));
                const int64_t room = C - max_new;
                if (static_cast<int64_t>(prompt.size()) > room) {
                    prompt.erase(prompt.begin(), prompt.end() - static_cast<ptrdiff_t>(room));
                    prompt_cut = true;
                }
            }
        }
        for (size_t c = 0; c < conditions.size(); ++c) {
            progress.check();
            const MaskSpec& mask = conditions[c].mask;
            ItemScore& s = r.conditions[c].items[i];
            if (do_ll) {
                for (int k = 0; k < n; ++k) {
                    const auto& seq = seqs[static_cast<size_t>(k)];
                    const PplResult pr = engine.perplexity(seq, mask, progress);
                    const int cl = cont_len[static_cast<size_t>(k)];
                    const size_t S = seq.size();
                    double lp = 0;
                    for (size_t t = S - 1 - static_cast<size_t>(cl); t < S - 1; ++t) lp -= pr.nll[t];
                    s.logprob.push_back(lp);
                    s.tokens.push_back(cl);
                    s.bytes.push_back(bytes[static_cast<size_t>(k)]);
                    s.truncated = s.truncated || cut[static_cast<size_t>(k)];
                }
                std::vector<double> norm;
                for (int k = 0; k < n; ++k)
                    norm.push_back(s.logprob[static_cast<size_t>(k)] / double(s.bytes[static_cast<size_t>(k)]));
                s.ll_pred = argmax_first(s.logprob);
                s.ll_norm_pred = argmax_first(norm);
            }
            if (do_gen) {
                GenerateOptions go;
                go.max_new = max_new;
                go.greedy = true;
                go.alternatives = 0;
                go.stop_at_eos = true;
                const GenerateResult g = engine.generate(prompt, go, mask, progress);
                s.gen_text = g.text;
                const Extracted e = extract_answer(g.text, n);
                s.gen_pred = e.choice;
                s.gen_how = e.how;
                s.truncated = s.truncated || prompt_cut;
            }
            done += 1;
            progress.report("eval", done / total,
                            "question " + std::to_string(i + 1) + "/" + std::to_string(set.items.size()) + ", " +
                                conditions[c].name);
        }
    }
    for (auto& cr : r.conditions) {
        Tally all;
        std::map<std::string, Tally> subj;
        for (size_t i = 0; i < set.items.size(); ++i) {
            all.add(cr.items[i], set.items[i].answer, do_ll, do_gen);
            if (!set.items[i].subject.empty()) subj[set.items[i].subject].add(cr.items[i], set.items[i].answer, do_ll, do_gen);
        }
        cr.overall = all.result(do_ll, do_gen);
        for (const auto& [name, t] : subj) cr.subjects[name] = t.result(do_ll, do_gen);
    }
    return r;
}

// ---------------------------------------------------------------- writers
namespace {

ojson num(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return v;
}

ojson acc_json(const Accuracy& a) {
    ojson o;
    o["correct"] = a.correct;
    o["n"] = a.n;
    o["acc"] = num(a.acc);
    o["ci95"] = ojson::array({num(a.ci.lo), num(a.ci.hi)});
    return o;
}

ojson method_json(const MethodAccuracy& m, BenchMethod method) {
    ojson o;
    if (method != BenchMethod::gen) {
        o["ll"]["acc"] = acc_json(m.ll_acc);
        o["ll"]["acc_norm"] = acc_json(m.ll_acc_norm);
    }
    if (method != BenchMethod::ll) {
        o["gen"]["acc"] = acc_json(m.gen_acc);
        o["gen"]["regex"] = m.gen_regex;
        o["gen"]["fallback"] = m.gen_fallback;
        o["gen"]["no_answer"] = m.gen_no_answer;
    }
    return o;
}

std::string fmt(const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

std::string acc_cell(const Accuracy& a) {
    return fmt("%.4f", a.acc) + " [" + fmt("%.3f", a.ci.lo) + ", " + fmt("%.3f", a.ci.hi) + "]";
}

std::string pad(std::string s, size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

std::string csv_cell(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += c;
    }
    return o + "\"";
}

}  // namespace

std::string bench_report_to_json(const BenchReport& r, int indent) {
    ojson o;
    o["schema"] = r.schema;
    o["app_version"] = app_version();
    o["model"] = {{"path", r.model.path}, {"config_hash", r.model.config_hash}, {"header_hash", r.model.header_hash}};
    o["model_type"] = r.model_type;
    o["benchmark"] = {{"path", r.source}, {"format", r.format}, {"rows", r.rows}};
    {
        std::set<std::string> subj(r.item_subjects.begin(), r.item_subjects.end());
        subj.erase("");
        o["benchmark"]["subjects"] = std::vector<std::string>(subj.begin(), subj.end());
    }
    o["options"] = {{"method", std::string(bench_method_name(r.method))},
                    {"max_new", r.max_new},
                    {"seed", r.seed},
                    {"context", r.context},
                    {"bos", r.bos},
                    {"chat_template", r.chat_template.empty() ? ojson(nullptr) : ojson(r.chat_template)}};
    o["protocol"] = {
        {"ll_context", "Question: {question}\\nAnswer:"},
        {"ll_continuation", " {choice}"},
        {"acc", "argmax of the summed log-probability of the continuation tokens (ties: first choice)"},
        {"acc_norm", "argmax of the summed log-probability divided by the continuation's length in UTF-8 bytes"},
        {"gen", "greedy decoding, up to max_new tokens, stop at EOS"},
        {"gen_regex", "The answer is \\(?([A-Z])\\)?  (first match)"},
        {"gen_fallback", "first standalone capital letter A..(A+n-1) of the output; else no answer (wrong)"},
        {"ci95", "Wilson score interval, z = 1.959963984540054"}};
    if (!r.chat_template.empty())
        o["protocol"]["chat_template"] =
            "the ll context and the gen prompt rendered as one user message with add_generation_prompt=true; "
            "encoded without special tokens added and nothing prepended (BOS only where the template writes it)";
    ojson conds = ojson::array();
    for (const auto& c : r.conditions) {
        ojson cj;
        cj["name"] = c.name;
        cj["size"] = c.neurons.size();
        ojson ns = ojson::array();
        for (const auto& n : c.neurons)
            ns.push_back({{"layer", n.layer}, {"module", std::string(module_name(n.module))}, {"channel", n.channel}});
        cj["neurons"] = std::move(ns);
        cj["overall"] = method_json(c.overall, r.method);
        ojson sj = ojson::object();
        for (const auto& [name, m] : c.subjects) sj[name] = method_json(m, r.method);
        cj["subjects"] = std::move(sj);
        conds.push_back(std::move(cj));
    }
    o["conditions"] = std::move(conds);
    ojson items = ojson::array();
    for (size_t i = 0; i < r.item_ids.size(); ++i) {
        ojson ij;
        ij["id"] = r.item_ids[i];
        if (!r.item_subjects[i].empty()) ij["subject"] = r.item_subjects[i];
        ij["answer"] = r.item_answers[i];
        ojson per = ojson::object();
        for (const auto& c : r.conditions) {
            const ItemScore& s = c.items[i];
            ojson x;
            if (r.method != BenchMethod::gen) {
                ojson lp = ojson::array();
                for (double v : s.logprob) lp.push_back(num(v));
                x["logprob"] = std::move(lp);
                x["tokens"] = s.tokens;
                x["bytes"] = s.bytes;
                x["ll_pred"] = s.ll_pred;
                x["ll_norm_pred"] = s.ll_norm_pred;
            }
            if (r.method != BenchMethod::ll) {
                x["gen_text"] = s.gen_text;
                x["gen_pred"] = s.gen_pred;
                x["gen_how"] = std::string(answer_how_name(s.gen_how));
            }
            if (s.truncated) x["truncated"] = true;
            per[c.name] = std::move(x);
        }
        ij["conditions"] = std::move(per);
        items.push_back(std::move(ij));
    }
    o["items"] = std::move(items);
    return o.dump(indent, ' ', false, ojson::error_handler_t::replace) + "\n";
}

std::string bench_report_to_csv(const BenchReport& r) {
    std::ostringstream out;
    out << "condition,size,method,subject,correct,n,accuracy,ci95_lo,ci95_hi,fallback,no_answer\n";
    auto row = [&](const ConditionResult& c, const std::string& method, const std::string& subj, const Accuracy& a,
                   const std::string& fb, const std::string& na) {
        out << csv_cell(c.name) << "," << c.neurons.size() << "," << method << "," << csv_cell(subj) << ","
            << a.correct << "," << a.n << "," << fmt("%.6f", a.acc) << "," << fmt("%.6f", a.ci.lo) << ","
            << fmt("%.6f", a.ci.hi) << "," << fb << "," << na << "\n";
    };
    auto rows = [&](const ConditionResult& c, const std::string& subj, const MethodAccuracy& m) {
        if (r.method != BenchMethod::gen) {
            row(c, "ll_acc", subj, m.ll_acc, "", "");
            row(c, "ll_acc_norm", subj, m.ll_acc_norm, "", "");
        }
        if (r.method != BenchMethod::ll)
            row(c, "gen", subj, m.gen_acc, std::to_string(m.gen_fallback), std::to_string(m.gen_no_answer));
    };
    for (const auto& c : r.conditions) {
        rows(c, "all", c.overall);
        for (const auto& [name, m] : c.subjects) rows(c, name, m);
    }
    return out.str();
}

std::string bench_report_table(const BenchReport& r) {
    const bool ll = r.method != BenchMethod::gen, gen = r.method != BenchMethod::ll;
    std::ostringstream out;
    out << r.source << ": " << r.rows << " questions, method " << bench_method_name(r.method) << ", accuracy [95% Wilson CI]\n";
    if (!r.chat_template.empty()) out << "prompts wrapped by the chat template of " << r.chat_template << "\n";
    std::string h = pad("condition", 12) + pad("size", 7);
    if (ll) h += pad("ll acc", 26) + pad("ll acc_norm", 26);
    if (gen) h += pad("gen acc", 26) + pad("fallback", 10) + "no answer";
    out << h << "\n";
    auto line = [&](const std::string& name, size_t size, const MethodAccuracy& m) {
        std::string s = pad(name, 12) + pad(std::to_string(size), 7);
        if (ll) s += pad(acc_cell(m.ll_acc), 26) + pad(acc_cell(m.ll_acc_norm), 26);
        if (gen) s += pad(acc_cell(m.gen_acc), 26) + pad(std::to_string(m.gen_fallback), 10) + std::to_string(m.gen_no_answer);
        return s;
    };
    for (const auto& c : r.conditions) out << line(c.name, c.neurons.size(), c.overall) << "\n";
    if (!r.conditions.empty() && !r.conditions.front().subjects.empty()) {
        const char* what = ll ? "ll acc" : "gen acc";
        out << "\nper subject (" << what << "):\n" << pad("subject", 40);
        for (const auto& c : r.conditions) out << pad(c.name, 12);
        out << "n\n";
        for (const auto& [name, m0] : r.conditions.front().subjects) {
            out << pad(brief_key(name, 38), 40);
            for (const auto& c : r.conditions) {
                const MethodAccuracy& m = c.subjects.at(name);
                out << pad(fmt("%.4f", ll ? m.ll_acc.acc : m.gen_acc.acc), 12);
            }
            out << (ll ? m0.ll_acc.n : m0.gen_acc.n) << "\n";
        }
    }
    return out.str();
}

}  // namespace achilles
