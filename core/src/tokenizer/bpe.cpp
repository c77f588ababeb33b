// SPDX-License-Identifier: GPL-3.0-or-later
// Hugging Face tokenizer.json byte-level BPE (Llama-3, Qwen2.5/3, DeepSeek-R1-Distill, GPT-2 style).
//
// Pipeline, as HF tokenizers runs it for these files:
//   added tokens split out of the raw text (longest match, leftmost first; lstrip/rstrip/single_word)
//   -> normalizer on each remaining gap (none, NFC, or a Sequence of those)
//   -> pre_tokenizer: Split(Regex, behavior) and ByteLevel (byte -> printable unicode mapping,
//      optionally its own GPT-2 regex and prefix space), possibly in a Sequence
//   -> BPE model on each word: merges applied by rank (ignore_merges: whole word in vocab wins)
//   -> post_processor: TemplateProcessing (BOS/EOS), ByteLevel (ids unchanged), Sequence, none.
// BOS when no post_processor adds it: tokenizer_config.json add_bos_token, or, when absent, add the
// configured bos_token if there is one (HF Llama-3 checkpoints add <|begin_of_text|>).
// The regex runs under PCRE2 with PCRE2_UTF|PCRE2_UCP (JIT when available).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "achilles/fileio.h"
#include "achilles/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"
#include "util/json_util.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace achilles::tok {
namespace {

constexpr int64_t kMaxId = 1 << 21;

// Hash maps keyed by std::string that can be probed with a std::string_view (no temporary strings).
struct SvHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StrMap = std::unordered_map<std::string, V, SvHash, std::equal_to<>>;   // far above any real vocabulary (Gemma: 256k)

// ------------------------------------------------------------------ ByteLevel mapping
struct ByteMap {
    std::string enc[256];        // UTF-8 of the printable char for each byte
    int16_t dec[512];            // code point (< 512) -> byte, -1 if none
    ByteMap() {
        std::fill(std::begin(dec), std::end(dec), int16_t(-1));
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            uint32_t cp = keep ? uint32_t(b) : uint32_t(256 + n++);
            utf8_append(enc[b], cp);
            dec[cp] = int16_t(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

// ------------------------------------------------------------------ PCRE2 regex
// HF tokenizers runs these patterns with Oniguruma, whose \s is the Unicode White_Space property.
// PCRE2's \s (UCP) also matches U+180E MONGOLIAN VOWEL SEPARATOR (no longer White_Space since
// Unicode 6.3), so \s and \S are rewritten to \p{White_Space} and \P{White_Space}, which work both
// inside and outside character classes.
std::string onig_compatible(const std::string& pattern) {
    std::string r;
    r.reserve(pattern.size() + 32);
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '\\' && i + 1 < pattern.size()) {
            const char c = pattern[i + 1];
            if (c == 's') r += "\\p{White_Space}";
            else if (c == 'S') r += "\\P{White_Space}";
            else { r += '\\'; r += c; }
            ++i;
        } else {
            r += pattern[i];
        }
    }
    return r;
}

class Regex {
public:
    Regex(const std::string& original, const std::string& src, const std::string& field) {
        int err = 0;
        PCRE2_SIZE off = 0;
        const std::string pattern = onig_compatible(original);
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &err, &off, nullptr);
        if (!code_) {
            PCRE2_UCHAR buf[256];
            pcre2_get_error_message(err, buf, sizeof buf);
            throw Error(src, field, "cannot compile the regex at offset " + std::to_string(off) + ": " +
                                        reinterpret_cast<char*>(buf));
        }
        jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
    }
    ~Regex() { pcre2_code_free(code_); }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // All non-overlapping matches (start, end) in s.
    void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
        out.clear();
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
        // PCRE2's default limits (10M backtracking steps, 20 MB of heap) are not part of the
        // tokenizer's definition: HF's Oniguruma matches `\s*[\r\n]+|\s+(?!\S)` over a 10 MB run of
        // spaces, and so must we. The budget grows with the input, so that any pattern whose
        // matches cost time linear in their subject (all the tokenizers' patterns) always finishes,
        // while a pathological pattern from a hostile tokenizer.json is still stopped.
        pcre2_match_context* mc = pcre2_match_context_create(nullptr);
        const uint64_t budget = std::max<uint64_t>(10'000'000, 256 * uint64_t(s.size()));
        pcre2_set_match_limit(mc, static_cast<uint32_t>(std::min<uint64_t>(budget, UINT32_MAX)));
        pcre2_set_depth_limit(mc, static_cast<uint32_t>(std::min<uint64_t>(budget, UINT32_MAX)));
        pcre2_set_heap_limit(mc, static_cast<uint32_t>(std::min<uint64_t>(std::max<uint64_t>(20'000, s.size() / 8), 4'000'000)));
        size_t pos = 0;
        while (pos <= s.size()) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
            int rc = jit_ ? pcre2_jit_match(code_, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, md, mc)
                          : pcre2_match(code_, subject, s.size(), pos, PCRE2_NO_UTF_CHECK, md, mc);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)   // the interpreter keeps its backtracking on the heap
                rc = pcre2_match(code_, subject, s.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, mc);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                pcre2_match_data_free(md);
                pcre2_match_context_free(mc);
                PCRE2_UCHAR buf[256];
                pcre2_get_error_message(rc, buf, sizeof buf);
                throw Error("text", "", std::string("the pre-tokenizer regex failed on this input: ") +
                                            reinterpret_cast<char*>(buf));
            }
            PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1];
            if (b > a) {
                out.emplace_back(a, b);
                pos = b;
            } else {
                // Empty match: step over one code point.
                if (a >= s.size()) break;
                size_t i = a;
                utf8_next(s, i);
                pos = i;
            }
        }
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
    }

private:
    pcre2_code* code_ = nullptr;
    bool jit_ = false;
};

// ------------------------------------------------------------------ pre-tokenizers
enum class Behavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreStep {
    enum Kind { Split, ByteLevel } kind;
    std::unique_ptr<Regex> regex;      // Split pattern, or ByteLevel's GPT-2 regex when use_regex
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
};

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string regex_escape(const std::string& s) {
    std::string r;
    for (char c : s) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) r += '\\';
        r += c;
    }
    return r;
}

// Splits piece [a,b) of s by regex matches with the given behavior; appends sub-ranges.
void split_by(const Regex& re, Behavior beh, bool invert, std::string_view s,
              std::vector<std::pair<size_t, size_t>>& pieces) {
    std::vector<std::pair<size_t, size_t>> matches, out;
    for (auto [a, b] : pieces) {
        re.find_all(s.substr(a, b - a), matches);
        // (start, end, is_match) segments covering [a,b)
        std::vector<std::tuple<size_t, size_t, bool>> seg;
        size_t cur = a;
        for (auto [ma, mb] : matches) {
            if (a + ma > cur) seg.emplace_back(cur, a + ma, false);
            seg.emplace_back(a + ma, a + mb, true);
            cur = a + mb;
        }
        if (cur < b) seg.emplace_back(cur, b, false);
        if (invert)
            for (auto& x : seg) std::get<2>(x) = !std::get<2>(x);
        switch (beh) {
            case Behavior::Isolated:
                for (auto& [x, y, m] : seg) out.emplace_back(x, y);
                break;
            case Behavior::Removed:
                for (auto& [x, y, m] : seg)
                    if (!m) out.emplace_back(x, y);
                break;
            case Behavior::MergedWithPrevious: {
                bool have = false;
                for (auto& [x, y, m] : seg) {
                    if (m && have) out.back().second = y;
                    else out.emplace_back(x, y);
                    have = true;
                }
                break;
            }
            case Behavior::MergedWithNext: {
                bool pending = false;
                size_t pstart = 0;
                for (auto& [x, y, m] : seg) {
                    if (m) {
                        if (!pending) { pending = true; pstart = x; }
                    } else {
                        out.emplace_back(pending ? pstart : x, y);
                        pending = false;
                    }
                }
                if (pending) out.emplace_back(pstart, seg.empty() ? b : std::get<1>(seg.back()));
                break;
            }
            case Behavior::Contiguous: {
                bool prev_m = false;
                bool first = true;
                for (auto& [x, y, m] : seg) {
                    if (!first && m && prev_m) out.back().second = y;
                    else out.emplace_back(x, y);
                    prev_m = m;
                    first = false;
                }
                break;
            }
        }
    }
    pieces.swap(out);
}

// ------------------------------------------------------------------ the tokenizer
struct AddedToken {
    int id;
    std::string content;
    bool special, lstrip, rstrip, single_word, normalized;
};

struct TemplatePiece {
    bool is_sequence;
    std::vector<int> ids;   // special token ids when !is_sequence
};

// Character classes for added-token matching, as HF's AddedVocabulary: lstrip/rstrip eat Unicode
// whitespace (char::is_whitespace), single_word needs non-word neighbours (char::is_alphanumeric or _).
class CharClass {
public:
    explicit CharClass(const char* pattern) {
        int err = 0;
        PCRE2_SIZE off = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
        md_ = code_ ? pcre2_match_data_create_from_pattern(code_, nullptr) : nullptr;
    }
    ~CharClass() {
        pcre2_match_data_free(md_);
        pcre2_code_free(code_);
    }
    bool ok() const { return code_ != nullptr; }
    // Whether the code point starting at s[i] is in the class.
    bool at(std::string_view s, size_t i) const {
        std::lock_guard<std::mutex> lk(mu_);
        return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), i, PCRE2_NO_UTF_CHECK, md_, nullptr) > 0;
    }

private:
    pcre2_code* code_ = nullptr;
    pcre2_match_data* md_ = nullptr;
    mutable std::mutex mu_;
};

const CharClass& word_class() {
    static const CharClass full("[\\p{Alphabetic}\\p{N}_]");
    static const CharClass fallback("[\\p{L}\\p{Mn}\\p{Mc}\\p{Nl}\\p{N}_]");
    return full.ok() ? full : fallback;
}
const CharClass& space_class() {
    static const CharClass c("\\p{White_Space}");
    return c;
}
// Start of the code point that ends just before byte i (i > 0).
size_t prev_cp(std::string_view s, size_t i) {
    do { --i; } while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80);
    return i;
}
size_t next_cp(std::string_view s, size_t i) {
    utf8_next(s, i);
    return i;
}

class BpeTokenizer final : public Tokenizer {
public:
    BpeTokenizer(const std::string& path, const TokenizerConfig& cfg) : path_(path) {
        std::string text = read_file(path, size_t(1) << 30);
        json j = parse_json(text, path);
        text.clear();
        text.shrink_to_fit();
        if (!j.is_object()) throw Error(path, "", "expected a JSON object");
        load_model(j);
        load_added(j);
        load_normalizer(j);
        load_pre_tokenizer(j);
        load_post_processor(j);
        load_decoder(j);
        apply_config(cfg);
    }

    std::vector<int> encode(std::string_view text, const EncodeOptions& opt) const override {
        check_utf8(text);
        std::vector<int> body;
        body.reserve(text.size() / 3 + 4);
        // Split out added tokens, encode the gaps.
        size_t start = 0, i = 0;
        const size_t n = text.size();
        while (i < n) {
            const unsigned char c = static_cast<unsigned char>(text[i]);
            const AddedToken* hit = nullptr;
            if (added_first_[c]) {
                for (const AddedToken* a : added_sorted_) {
                    if (opt.split_special && a->special) continue;
                    if (text.compare(i, a->content.size(), a->content) != 0) continue;
                    if (a->single_word) {
                        size_t e = i + a->content.size();
                        if ((i > 0 && word_class().at(text, prev_cp(text, i))) || (e < n && word_class().at(text, e))) continue;
                    }
                    hit = a;
                    break;
                }
            }
            if (!hit) { ++i; continue; }
            size_t gap_end = i, next = i + hit->content.size();
            if (hit->lstrip)
                while (gap_end > start && space_class().at(text, prev_cp(text, gap_end))) gap_end = prev_cp(text, gap_end);
            if (hit->rstrip)
                while (next < n && space_class().at(text, next)) next = next_cp(text, next);
            encode_gap(text.substr(start, gap_end - start), body);
            body.push_back(hit->id);
            start = i = next;
        }
        encode_gap(text.substr(start), body);

        if (!opt.add_special) return body;
        std::vector<int> out;
        out.reserve(body.size() + 4);
        if (!template_.empty()) {
            for (const auto& t : template_) {
                if (t.is_sequence) out.insert(out.end(), body.begin(), body.end());
                else out.insert(out.end(), t.ids.begin(), t.ids.end());
            }
            return out;
        }
        if (add_bos_) out.push_back(bos_);
        out.insert(out.end(), body.begin(), body.end());
        if (add_eos_) out.push_back(eos_);
        return out;
    }

    std::string decode(const std::vector<int>& ids, bool skip_special) const override {
        std::string bytes;
        const ByteMap& bm = byte_map();
        for (int id : ids) {
            if (id < 0 || id >= static_cast<int>(id_to_token_.size()) || !has_id_[id])
                throw Error("ids", "", "token id " + std::to_string(id) + " is outside the vocabulary of " + path_);
            if (skip_special && special_[id]) continue;
            // As HF's ByteLevel decoder: map every char of the token back to its byte; a token with
            // a char outside the mapping (e.g. most added tokens) contributes its raw UTF-8.
            const std::string& t = id_to_token_[id];
            const size_t mark = bytes.size();
            bool mapped = byte_decoder_;
            for (size_t i = 0; mapped && i < t.size();) {
                uint32_t cp = utf8_next(t, i);
                if (cp < 512 && bm.dec[cp] >= 0) bytes += static_cast<char>(bm.dec[cp]);
                else mapped = false;
            }
            if (!mapped) {
                bytes.resize(mark);
                bytes += t;
            }
        }
        return lossy_utf8(bytes);
    }

    std::string token_string(int id) const override {
        if (id < 0 || id >= static_cast<int>(id_to_token_.size()) || !has_id_[id])
            throw Error("ids", "", "token id " + std::to_string(id) + " is outside the vocabulary of " + path_);
        return id_to_token_[id];
    }
    int vocab_size() const override { return static_cast<int>(id_to_token_.size()); }
    int bos_id() const override { return bos_; }
    int eos_id() const override { return eos_; }
    bool is_special(int id) const override { return id >= 0 && id < vocab_size() && special_[id]; }
    std::string kind() const override { return "bpe"; }
    std::string source() const override { return path_; }

private:
    // ---- loading
    [[noreturn]] void fail(const std::string& field, const std::string& what) const { throw Error(path_, field, what); }
    [[noreturn]] void unsupported(const std::string& field, const std::string& what) const {
        throw UnsupportedFormat(path_, field, what);
    }

    void load_model(const json& j) {
        if (!j.contains("model") || !j["model"].is_object()) fail("model", "is missing or not an object");
        const json& m = j["model"];
        std::string type = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "BPE";
        if (type != "BPE") unsupported("model.type", "'" + brief_key(type, 40) + "' is not supported (only BPE)");
        if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab", "is missing or not an object");
        if (m.contains("continuing_subword_prefix") && m["continuing_subword_prefix"].is_string() &&
            !m["continuing_subword_prefix"].get<std::string>().empty())
            unsupported("model.continuing_subword_prefix", "is not supported");
        if (m.contains("end_of_word_suffix") && m["end_of_word_suffix"].is_string() &&
            !m["end_of_word_suffix"].get<std::string>().empty())
            unsupported("model.end_of_word_suffix", "is not supported");
        ignore_merges_ = m.contains("ignore_merges") && m["ignore_merges"].is_boolean() && m["ignore_merges"].get<bool>();
        const json& vocab = m["vocab"];
        vocab_.reserve(vocab.size() * 2);
        int max_id = -1;
        for (auto it = vocab.begin(); it != vocab.end(); ++it) {
            const int64_t id = json_int(it.value(), 0, kMaxId - 1, path_, "model.vocab." + brief_key(it.key()));
            vocab_.emplace(it.key(), static_cast<int>(id));
            max_id = std::max<int>(max_id, static_cast<int>(id));
        }
        if (vocab_.empty()) fail("model.vocab", "is empty");
        // Added tokens may extend the id range; sized after load_added.
        resize_ids(max_id + 1);
        for (const auto& [tok, id] : vocab_) {
            id_to_token_[id] = tok;
            has_id_[id] = 1;
        }
        if (m.contains("unk_token") && m["unk_token"].is_string()) {
            auto it = vocab_.find(m["unk_token"].get<std::string>());
            if (it != vocab_.end()) unk_ = it->second;
        }
        byte_fallback_ = m.contains("byte_fallback") && m["byte_fallback"].is_boolean() && m["byte_fallback"].get<bool>();
        // Merges: "a b" strings or ["a","b"] pairs.
        if (m.contains("merges") && !m["merges"].is_null()) {
            const json& merges = m["merges"];
            if (!merges.is_array()) fail("model.merges", "expected an array");
            merges_.reserve(merges.size() * 2);
            int rank = 0;
            std::string ab;
            for (const json& e : merges) {
                std::string_view a, b;
                if (e.is_string()) {
                    std::string_view s = e.get_ref<const std::string&>();
                    size_t sp = s.find(' ', 1);
                    if (sp == std::string::npos)
                        fail("model.merges[" + std::to_string(rank) + "]", "expected 'a b', got " + brief(e));
                    a = s.substr(0, sp);
                    b = s.substr(sp + 1);
                } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                    a = e[0].get_ref<const std::string&>();
                    b = e[1].get_ref<const std::string&>();
                } else {
                    fail("model.merges[" + std::to_string(rank) + "]", "expected a string or a pair of strings");
                }
                ab.assign(a);
                ab.append(b);
                auto ia = vocab_.find(a), ib = vocab_.find(b), ic = vocab_.find(std::string_view(ab));
                if (ia == vocab_.end() || ib == vocab_.end())
                    fail("model.merges[" + std::to_string(rank) + "]",
                         "'" + brief_key(a, 40) + " " + brief_key(b, 40) + "' uses a token not in the vocabulary");
                if (ic == vocab_.end())
                    fail("model.merges[" + std::to_string(rank) + "]", "the merged token '" + brief_key(ab, 60) + "' is not in the vocabulary");
                merges_.emplace(key(ia->second, ib->second), std::make_pair(rank, ic->second));
                ++rank;
            }
        }
    }

    void resize_ids(int n) {
        if (n <= static_cast<int>(id_to_token_.size())) return;
        id_to_token_.resize(n);
        has_id_.resize(n, 0);
        special_.resize(n, 0);
        added_flag_.resize(n, 0);
    }

    void load_added(const json& j) {
        if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return;
        const json& arr = j["added_tokens"];
        if (!arr.is_array()) fail("added_tokens", "expected an array");
        for (size_t k = 0; k < arr.size(); ++k) {
            const json& a = arr[k];
            const std::string f = "added_tokens[" + std::to_string(k) + "]";
            if (!a.is_object()) fail(f, "expected an object");
            AddedToken t;
            if (!a.contains("id")) fail(f + ".id", "is missing");
            const int64_t id = json_int(a["id"], 0, kMaxId - 1, path_, f + ".id");
            t.id = static_cast<int>(id);
            if (!a.contains("content") || !a["content"].is_string()) fail(f + ".content", "expected a string");
            t.content = a["content"].get<std::string>();
            auto flag = [&](const char* name, bool dflt) {
                if (!a.contains(name) || a[name].is_null()) return dflt;
                if (!a[name].is_boolean()) fail(f + "." + name, "expected true or false");
                return a[name].get<bool>();
            };
            t.special = flag("special", false);
            t.lstrip = flag("lstrip", false);
            t.rstrip = flag("rstrip", false);
            t.single_word = flag("single_word", false);
            t.normalized = flag("normalized", !t.special);
            if (t.content.empty()) continue;
            check_utf8(t.content, (path_ + " " + f + ".content").c_str());
            resize_ids(t.id + 1);
            id_to_token_[t.id] = t.content;
            has_id_[t.id] = 1;
            added_flag_[t.id] = 1;
            if (t.special) special_[t.id] = 1;
            added_ids_.emplace(t.content, t.id);
            added_.push_back(std::move(t));
        }
        for (const auto& t : added_) {
            added_sorted_.push_back(&t);
            added_first_[static_cast<unsigned char>(t.content[0])] = 1;
        }
        std::stable_sort(added_sorted_.begin(), added_sorted_.end(),
                         [](const AddedToken* x, const AddedToken* y) { return x->content.size() > y->content.size(); });
    }

    void load_normalizer_node(const json& n, const std::string& field, int depth = 0) {
        if (n.is_null()) return;
        if (depth > 16) fail(field, "is nested too deeply");
        if (!n.is_object() || !n.contains("type") || !n["type"].is_string()) fail(field, "expected an object with a type");
        const std::string t = n["type"].get<std::string>();
        if (t == "NFC") nfc_ = true;
        else if (t == "Sequence") {
            if (!n.contains("normalizers") || !n["normalizers"].is_array()) fail(field + ".normalizers", "expected an array");
            for (size_t k = 0; k < n["normalizers"].size(); ++k)
                load_normalizer_node(n["normalizers"][k], field + ".normalizers[" + std::to_string(k) + "]", depth + 1);
        } else {
            unsupported(field + ".type", "normalizer '" + brief_key(t, 40) + "' is not supported (supported: NFC, Sequence)");
        }
    }
    void load_normalizer(const json& j) {
        if (j.contains("normalizer")) load_normalizer_node(j["normalizer"], "normalizer");
    }

    void load_pre_node(const json& n, const std::string& field, int depth = 0) {
        if (n.is_null()) return;
        if (depth > 16) fail(field, "is nested too deeply");
        if (!n.is_object() || !n.contains("type") || !n["type"].is_string()) fail(field, "expected an object with a type");
        const std::string t = n["type"].get<std::string>();
        if (t == "Sequence") {
            if (!n.contains("pretokenizers") || !n["pretokenizers"].is_array()) fail(field + ".pretokenizers", "expected an array");
            for (size_t k = 0; k < n["pretokenizers"].size(); ++k)
                load_pre_node(n["pretokenizers"][k], field + ".pretokenizers[" + std::to_string(k) + "]", depth + 1);
        } else if (t == "Split") {
            PreStep s;
            s.kind = PreStep::Split;
            if (!n.contains("pattern") || !n["pattern"].is_object()) fail(field + ".pattern", "expected an object");
            const json& p = n["pattern"];
            std::string pat;
            if (p.contains("Regex") && p["Regex"].is_string()) pat = p["Regex"].get<std::string>();
            else if (p.contains("String") && p["String"].is_string()) pat = regex_escape(p["String"].get<std::string>());
            else fail(field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
            s.regex = std::make_unique<Regex>(pat, path_, field + ".pattern");
            const std::string b = n.contains("behavior") && n["behavior"].is_string() ? n["behavior"].get<std::string>() : "Isolated";
            if (b == "Isolated") s.behavior = Behavior::Isolated;
            else if (b == "Removed") s.behavior = Behavior::Removed;
            else if (b == "MergedWithPrevious") s.behavior = Behavior::MergedWithPrevious;
            else if (b == "MergedWithNext") s.behavior = Behavior::MergedWithNext;
            else if (b == "Contiguous") s.behavior = Behavior::Contiguous;
            else fail(field + ".behavior", "'" + brief_key(b, 40) + "' is not a known split behavior");
            s.invert = n.contains("invert") && n["invert"].is_boolean() && n["invert"].get<bool>();
            pre_.push_back(std::move(s));
        } else if (t == "ByteLevel") {
            PreStep s;
            s.kind = PreStep::ByteLevel;
            s.add_prefix_space = n.contains("add_prefix_space") && n["add_prefix_space"].is_boolean() && n["add_prefix_space"].get<bool>();
            bool use_regex = !n.contains("use_regex") || !n["use_regex"].is_boolean() || n["use_regex"].get<bool>();
            if (use_regex) s.regex = std::make_unique<Regex>(kGpt2Pattern, path_, field);
            byte_level_ = true;
            pre_.push_back(std::move(s));
        } else {
            unsupported(field + ".type", "pre-tokenizer '" + brief_key(t, 40) + "' is not supported (supported: Split, ByteLevel, Sequence)");
        }
    }
    void load_pre_tokenizer(const json& j) {
        if (j.contains("pre_tokenizer")) load_pre_node(j["pre_tokenizer"], "pre_tokenizer");
        if (!byte_level_) unsupported("pre_tokenizer", "has no ByteLevel step: only byte-level BPE tokenizer.json files are supported");
        const ByteMap& bm = byte_map();
        for (int b = 0; b < 256; ++b) {
            auto it = vocab_.find(bm.enc[b]);
            byte_id_[b] = it != vocab_.end() ? it->second : -1;
        }
    }

    // A token's id: added tokens first (as HF token_to_id), then the model vocabulary. -1 if none.
    int lookup(const std::string& tok) const {
        if (auto it = added_ids_.find(tok); it != added_ids_.end()) return it->second;
        if (auto it = vocab_.find(tok); it != vocab_.end()) return it->second;
        return -1;
    }
    int token_id_or_fail(const std::string& tok, const std::string& field) const {
        int id = lookup(tok);
        if (id < 0) fail(field, "token '" + brief_key(tok, 60) + "' is not in the vocabulary");
        return id;
    }

    void load_post_node(const json& n, const std::string& field, int depth = 0) {
        if (n.is_null()) return;
        if (depth > 16) fail(field, "is nested too deeply");
        if (!n.is_object() || !n.contains("type") || !n["type"].is_string()) fail(field, "expected an object with a type");
        const std::string t = n["type"].get<std::string>();
        if (t == "ByteLevel") return;
        if (t == "Sequence") {
            if (!n.contains("processors") || !n["processors"].is_array()) fail(field + ".processors", "expected an array");
            for (size_t k = 0; k < n["processors"].size(); ++k)
                load_post_node(n["processors"][k], field + ".processors[" + std::to_string(k) + "]", depth + 1);
            return;
        }
        if (t != "TemplateProcessing")
            unsupported(field + ".type", "post-processor '" + brief_key(t, 40) + "' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)");
        if (!n.contains("single") || !n["single"].is_array()) fail(field + ".single", "expected an array");
        std::unordered_map<std::string, std::vector<int>> specials;
        if (n.contains("special_tokens") && n["special_tokens"].is_object()) {
            for (auto it = n["special_tokens"].begin(); it != n["special_tokens"].end(); ++it) {
                const json& v = it.value();
                std::vector<int> ids;
                const std::string sf = field + ".special_tokens." + brief_key(it.key(), 40) + ".ids";
                if (v.contains("ids") && v["ids"].is_array())
                    for (size_t q = 0; q < v["ids"].size(); ++q)
                        ids.push_back(static_cast<int>(
                            json_int(v["ids"][q], 0, kMaxId - 1, path_, sf + "[" + std::to_string(q) + "]")));
                specials[it.key()] = ids;
            }
        }
        template_.clear();
        bool saw_sequence = false;
        for (size_t k = 0; k < n["single"].size(); ++k) {
            const json& e = n["single"][k];
            const std::string f = field + ".single[" + std::to_string(k) + "]";
            if (e.contains("Sequence")) {
                template_.push_back({true, {}});
                saw_sequence = true;
            } else if (e.contains("SpecialToken") && e["SpecialToken"].contains("id") && e["SpecialToken"]["id"].is_string()) {
                const std::string name = e["SpecialToken"]["id"].get<std::string>();
                std::vector<int> ids;
                auto it = specials.find(name);
                if (it != specials.end()) ids = it->second;
                else ids.push_back(token_id_or_fail(name, f));
                for (int id : ids)
                    if (id < 0 || id >= vocab_size() || !has_id_[id]) fail(f, "special token id " + std::to_string(id) + " is not in the vocabulary");
                template_.push_back({false, ids});
            } else {
                fail(f, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
            }
        }
        if (!saw_sequence) fail(field + ".single", "has no Sequence entry");
    }
    void load_post_processor(const json& j) {
        if (j.contains("post_processor")) load_post_node(j["post_processor"], "post_processor");
    }

    void load_decoder(const json& j) {
        if (!j.contains("decoder") || j["decoder"].is_null()) return;   // keep byte decoding (byte-level model)
        const json& d = j["decoder"];
        std::string t = d.is_object() && d.contains("type") && d["type"].is_string() ? d["type"].get<std::string>() : "";
        if (t == "ByteLevel") return;
        if (t == "Sequence" && d.contains("decoders") && d["decoders"].is_array()) {
            for (const json& x : d["decoders"])
                if (!(x.is_object() && x.contains("type") && x["type"] == "ByteLevel"))
                    unsupported("decoder.decoders", "only ByteLevel decoders are supported");
            return;
        }
        unsupported("decoder.type", "decoder '" + brief_key(t, 40) + "' is not supported (supported: ByteLevel)");
    }

    void apply_config(const TokenizerConfig& cfg) {
        auto find_tok = [&](const std::string& s, const char* field) {
            int id = lookup(s);
            if (id < 0) throw Error(cfg.source, field, "the token '" + brief_key(s, 60) + "' is not in " + path_);
            return id;
        };
        if (cfg.bos_token && !cfg.bos_token->empty()) bos_ = find_tok(*cfg.bos_token, "bos_token");
        if (cfg.eos_token && !cfg.eos_token->empty()) eos_ = find_tok(*cfg.eos_token, "eos_token");
        if (bos_ < 0 && !template_.empty() && !template_.front().is_sequence && !template_.front().ids.empty())
            bos_ = template_.front().ids.front();
        if (template_.empty()) {
            add_bos_ = cfg.add_bos_token.value_or(bos_ >= 0) && bos_ >= 0;
            add_eos_ = cfg.add_eos_token.value_or(false) && eos_ >= 0;
        }
        for (const auto& a : cfg.added_tokens)
            if (a.special && a.id >= 0 && a.id < vocab_size() && has_id_[a.id] && id_to_token_[a.id] == a.content)
                special_[a.id] = 1;
    }

    // ---- encoding
    static uint64_t key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    void encode_gap(std::string_view gap, std::vector<int>& out) const {
        if (gap.empty()) return;
        std::string normalized;
        if (nfc_) {
            normalized = nfc(gap);
            gap = normalized;
        }
        std::vector<std::string> pieces{std::string(gap)}, next;
        std::vector<std::pair<size_t, size_t>> ranges;
        for (const PreStep& s : pre_) {
            next.clear();
            for (std::string& p : pieces) {
                if (s.kind == PreStep::ByteLevel && s.add_prefix_space && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
                if (!s.regex) {
                    next.push_back(std::move(p));
                    continue;
                }
                ranges.assign(1, {0, p.size()});
                if (s.kind == PreStep::Split) split_by(*s.regex, s.behavior, s.invert, p, ranges);
                else split_by(*s.regex, Behavior::Isolated, false, p, ranges);
                for (auto [a, b] : ranges)
                    if (b > a) next.emplace_back(p, a, b - a);
            }
            pieces.swap(next);
        }
        for (const std::string& w : pieces)
            if (!w.empty()) encode_word(w, out);
    }

    void encode_word(std::string_view word, std::vector<int>& out) const {
        {
            std::lock_guard<std::mutex> lk(cache_mu_);
            auto it = cache_.find(word);
            if (it != cache_.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        std::vector<int> ids = bpe(word);
        out.insert(out.end(), ids.begin(), ids.end());
        if (word.size() <= 256) {
            std::lock_guard<std::mutex> lk(cache_mu_);
            if (cache_.size() > 200'000) cache_.clear();
            cache_.emplace(std::string(word), std::move(ids));
        }
    }

    std::vector<int> bpe(std::string_view word) const {
        const ByteMap& bm = byte_map();
        std::string mapped;
        mapped.reserve(word.size() * 2);
        for (unsigned char c : word) mapped += bm.enc[c];
        if (ignore_merges_) {
            auto it = vocab_.find(mapped);
            if (it != vocab_.end()) return {it->second};
        }
        struct Sym { int id; int prev, next; };
        std::vector<Sym> sym;
        sym.reserve(word.size());
        for (size_t i = 0; i < word.size(); ++i) {
            int id = byte_id_[static_cast<unsigned char>(word[i])];
            if (id < 0) {
                if (unk_ < 0) {
                    char hex[8];
                    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(word[i])));
                    throw Error(path_, "model.vocab", std::string("byte ") + hex + " has no token and there is no unk_token");
                }
                id = unk_;
            }
            sym.push_back({id, static_cast<int>(i) - 1, static_cast<int>(i) + 1});
        }
        if (sym.empty()) return {};
        sym.back().next = -1;
        struct Cand { int rank; int pos; int left, right; };
        auto worse = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos; };
        std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> pq(worse);
        auto push = [&](int p) {
            int q = sym[p].next;
            if (p < 0 || q < 0) return;
            auto it = merges_.find(key(sym[p].id, sym[q].id));
            if (it != merges_.end()) pq.push({it->second.first, p, sym[p].id, sym[q].id});
        };
        for (int p = 0; p + 1 < static_cast<int>(sym.size()); ++p) push(p);
        while (!pq.empty()) {
            Cand c = pq.top();
            pq.pop();
            Sym& l = sym[c.pos];
            if (l.id < 0 || l.id != c.left || l.next < 0 || sym[l.next].id != c.right) continue;   // stale
            auto it = merges_.find(key(c.left, c.right));
            int q = l.next;
            l.id = it->second.second;
            l.next = sym[q].next;
            if (l.next >= 0) sym[l.next].prev = c.pos;
            sym[q].id = -1;
            if (l.prev >= 0) push(l.prev);
            push(c.pos);
        }
        std::vector<int> ids;
        for (int p = 0; p >= 0; p = sym[p].next) ids.push_back(sym[p].id);
        return ids;
    }

    static std::string lossy_utf8(const std::string& b) {
        std::string out;
        out.reserve(b.size());
        size_t i = 0;
        while (i < b.size()) {
            // Find the longest valid sequence at i.
            unsigned char c = static_cast<unsigned char>(b[i]);
            size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
            bool ok = len > 0 && i + len <= b.size();
            if (ok && len > 1) {
                try {
                    check_utf8(std::string_view(b).substr(i, len));
                } catch (const Error&) {
                    ok = false;
                }
            }
            if (ok) {
                out.append(b, i, len);
                i += len;
            } else {
                // U+FFFD for the maximal invalid prefix (one per ill-formed subsequence, like Rust's from_utf8_lossy).
                size_t skip = 1;
                if (len > 1) {
                    // Count valid continuation bytes that form a prefix of a sequence.
                    size_t k = 1;
                    while (k < len && i + k < b.size() && (static_cast<unsigned char>(b[i + k]) & 0xC0) == 0x80) {
                        unsigned char c1 = static_cast<unsigned char>(b[i + 1]);
                        if (k == 1 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
                                       (c == 0xF4 && c1 > 0x8F)))
                            break;
                        ++k;
                    }
                    skip = k;
                }
                out += "\xEF\xBF\xBD";
                i += skip;
            }
        }
        return out;
    }

    std::string path_;
    StrMap<int> vocab_;       // the model's vocabulary only
    StrMap<int> added_ids_;   // added tokens
    std::vector<std::string> id_to_token_;
    std::vector<char> has_id_, special_, added_flag_;
    std::unordered_map<uint64_t, std::pair<int, int>> merges_;   // (left,right) -> (rank, merged id)
    int byte_id_[256];
    int unk_ = -1;
    bool ignore_merges_ = false, byte_fallback_ = false, nfc_ = false, byte_level_ = false, byte_decoder_ = true;
    std::vector<AddedToken> added_;
    std::vector<const AddedToken*> added_sorted_;
    bool added_first_[256] = {};
    std::vector<PreStep> pre_;
    std::vector<TemplatePiece> template_;
    int bos_ = -1, eos_ = -1;
    bool add_bos_ = false, add_eos_ = false;
    mutable std::mutex cache_mu_;
    mutable StrMap<std::vector<int>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& json_path, const TokenizerConfig& cfg) {
    return std::make_unique<BpeTokenizer>(json_path, cfg);
}

}  // namespace achilles::tok
