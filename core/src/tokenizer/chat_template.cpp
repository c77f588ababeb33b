// SPDX-License-Identifier: GPL-3.0-or-later
// A strict Jinja2 subset for Hugging Face chat templates (see achilles/chat_template.h).
// Semantics follow jinja2 3.1 as transformers configures it: trim_blocks, lstrip_blocks, newlines
// normalised to \n, one trailing newline dropped, default (lenient) Undefined, Python-style values.
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>

namespace achilles {

namespace {

constexpr const char* kField = "chat_template";
constexpr size_t kMaxListItems = size_t(1) << 20;
constexpr int kMaxValueDepth = 64;

// ---------------------------------------------------------------- values
struct Dict;
struct Value;
using List = std::vector<Value>;

struct Value {
    enum T { Undef, None, Bool, Int, Str, Lst, Dct, Ns, Loop, Func } t = Undef;
    bool b = false;
    long long i = 0;
    std::string s;                  // Str; Func: the function's name
    std::shared_ptr<List> l;
    std::shared_ptr<Dict> d;        // Dct, Loop
    Dict* ns = nullptr;             // Ns: owned by the render

    static Value none() { Value v; v.t = None; return v; }
    static Value boolean(bool x) { Value v; v.t = Bool; v.b = x; return v; }
    static Value integer(long long x) { Value v; v.t = Int; v.i = x; return v; }
    static Value str(std::string x) { Value v; v.t = Str; v.s = std::move(x); return v; }
    static Value list(List x) { Value v; v.t = Lst; v.l = std::make_shared<List>(std::move(x)); return v; }
    static Value func(std::string name) { Value v; v.t = Func; v.s = std::move(name); return v; }
};

struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    const Value* find(const std::string& k) const {
        for (const auto& [key, v] : items)
            if (key == k) return &v;
        return nullptr;
    }
    void put(const std::string& k, Value v) {
        for (auto& [key, old] : items)
            if (key == k) { old = std::move(v); return; }
        items.emplace_back(k, std::move(v));
    }
};

Value make_dict(Dict d, Value::T t = Value::Dct) {
    Value v;
    v.t = t;
    v.d = std::make_shared<Dict>(std::move(d));
    return v;
}

// "an integer", "a string", ...: for messages.
std::string a_type(const Value& v);
const char* type_name(const Value& v) {
    switch (v.t) {
    case Value::Undef: return "undefined";
    case Value::None: return "none";
    case Value::Bool: return "boolean";
    case Value::Int: return "integer";
    case Value::Str: return "string";
    case Value::Lst: return "list";
    case Value::Dct: return "dict";
    case Value::Ns: return "namespace";
    case Value::Loop: return "loop";
    case Value::Func: return "function";
    }
    return "value";
}
std::string a_type(const Value& v) {
    const char* n = type_name(v);
    return std::string(n[0] == 'u' || n[0] == 'i' ? "an " : "a ") + n;
}

// ---------------------------------------------------------------- UTF-8 and Python whitespace
// Decodes one code point at s[i] (invalid bytes count as one code point of their own).
uint32_t decode_at(const std::string& s, size_t i, size_t& len) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + static_cast<size_t>(n) > s.size()) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    len = static_cast<size_t>(n);
    return cp;
}
std::vector<size_t> cp_offsets(const std::string& s) {  // start of every code point, then s.size()
    std::vector<size_t> o;
    for (size_t i = 0; i < s.size();) {
        o.push_back(i);
        size_t n;
        decode_at(s, i, n);
        i += n;
    }
    o.push_back(s.size());
    return o;
}
// str.isspace() of Python for one code point.
bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
// Python's strip family: chars == nullptr strips whitespace, else any code point of *chars.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
    std::vector<uint32_t> set;
    if (chars)
        for (size_t i = 0; i < chars->size();) {
            size_t n;
            set.push_back(decode_at(*chars, i, n));
            i += n;
        }
    auto strip_it = [&](uint32_t c) { return chars ? std::find(set.begin(), set.end(), c) != set.end() : py_space(c); };
    const auto off = cp_offsets(s);
    size_t a = 0, b = off.size() - 1;  // code point indices [a, b)
    if (left)
        while (a < b) {
            size_t n;
            if (!strip_it(decode_at(s, off[a], n))) break;
            ++a;
        }
    if (right)
        while (b > a) {
            size_t n;
            if (!strip_it(decode_at(s, off[b - 1], n))) break;
            --b;
        }
    return s.substr(off[a], off[b] - off[a]);
}

// ---------------------------------------------------------------- AST
struct Pos {
    int line = 1, col = 1;
};
std::string at(Pos p) { return "line " + std::to_string(p.line) + ", column " + std::to_string(p.col); }

struct Expr {
    enum K { Lit, Name, ListE, DictE, Attr, Index, Slice, Call, Filter, Test, Not, Neg, Bin, And, Or, Cond } k;
    Pos pos;
    Value lit;
    std::string name;                       // Name, Attr, Filter, Test, Bin (operator)
    std::vector<std::unique_ptr<Expr>> a;   // operands / arguments (a null slot: omitted)
    std::vector<std::string> kw;            // Call/Filter: names of the trailing keyword arguments
    bool negate = false;                    // Test: `is not`
};
using ExprP = std::unique_ptr<Expr>;

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;
struct Node {
    enum K { Text, Out, If, For, Set, Break, Continue } k;
    Pos pos;
    std::string text;                               // Text
    ExprP e;                                        // Out, For (iterable), Set (value)
    std::vector<std::pair<ExprP, Body>> branches;   // If: conditions and bodies
    Body body, else_body;                           // For; If: else
    std::vector<std::string> targets;               // For: loop variables; Set: name (and attribute)
};

// ---------------------------------------------------------------- lexer
struct Tok {
    enum K { Name, Str, Int, Op, End } k;
    std::string v;
    long long i = 0;
    Pos pos;
};

class Source {
public:
    Source(std::string text, std::string file) : file_(std::move(file)) {
        // jinja2: every newline sequence becomes \n, and one trailing newline is dropped.
        src_.reserve(text.size());
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '\r') {
                src_ += '\n';
                if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
            } else {
                src_ += text[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i)
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
    const std::string& src() const { return src_; }
    const std::string& file() const { return file_; }
    Pos pos(size_t off) const {
        auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
        const size_t line = static_cast<size_t>(it - line_starts_.begin());
        int col = 1;  // in code points
        for (size_t i = line_starts_[line - 1]; i < off && i < src_.size(); ++i)
            if ((static_cast<unsigned char>(src_[i]) & 0xC0) != 0x80) ++col;
        return Pos{static_cast<int>(line), col};
    }
    [[noreturn]] void fail(Pos p, const std::string& what) const { throw Error(file_, kField, what + " at " + at(p)); }
    [[noreturn]] void unsupported(Pos p, const std::string& what) const {
        throw Error(file_, kField,
                    "unsupported feature: " + what + " at " + at(p) +
                        " (the chat-template renderer handles a Jinja2 subset; see achilles/chat_template.h)");
    }

private:
    std::string file_, src_;
    std::vector<size_t> line_starts_;
};

// Template pieces: text, and the tokens of each {{ }} / {% %} tag.
struct Piece {
    bool is_text = true;
    bool is_block = false;   // {% %} (else {{ }})
    std::string text;
    std::vector<Tok> toks;   // ends with End
    Pos pos;
};

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::vector<Piece> lex(const Source& S) {
    const std::string& s = S.src();
    std::vector<Piece> out;
    size_t i = 0;
    bool strip_next = false;   // a `-` closed the previous tag
    bool trim_next = false;    // trim_blocks: drop one \n after a block or comment tag
    while (i <= s.size()) {
        size_t j = i;
        while (j < s.size() && !(s[j] == '{' && j + 1 < s.size() && (s[j + 1] == '{' || s[j + 1] == '%' || s[j + 1] == '#')))
            ++j;
        const bool at_end = j >= s.size();
        std::string text = s.substr(i, j - i);
        size_t text_start = i;
        if (strip_next) {
            text = py_strip(text, nullptr, true, false);
        } else if (trim_next && !text.empty() && text[0] == '\n') {
            text.erase(0, 1);
            ++text_start;
        }
        strip_next = trim_next = false;
        char kind = at_end ? 0 : s[j + 1];
        char sign = (!at_end && j + 2 < s.size()) ? s[j + 2] : 0;
        if (!at_end) {
            if (sign == '-') {
                text = py_strip(text, nullptr, false, true);
            } else if (sign != '+' && kind != '{') {
                // lstrip_blocks: spaces and tabs between the line start and a block or comment tag go.
                const size_t nl = text.rfind('\n');
                const size_t from = nl == std::string::npos ? 0 : nl + 1;
                const bool line_start = nl != std::string::npos || text_start == 0 || s[text_start - 1] == '\n';
                if (line_start) {
                    bool blank = true;
                    for (size_t q = from; q < text.size(); ++q)
                        if (!(text[q] == ' ' || text[q] == '\t' || text[q] == '\v' || text[q] == '\f')) blank = false;
                    if (blank) text.erase(from);
                }
            }
        }
        if (!text.empty()) {
            Piece p;
            p.text = std::move(text);
            out.push_back(std::move(p));
        }
        if (at_end) break;
        const Pos tag_pos = S.pos(j);
        size_t k = j + 2;
        if (sign == '-' || sign == '+') ++k;
        if (kind == '#') {
            size_t e = s.find("#}", k);
            if (e == std::string::npos) S.fail(tag_pos, "unclosed comment {#");
            if (e > k && s[e - 1] == '-') strip_next = true;
            else if (!(e > k && s[e - 1] == '+')) trim_next = true;
            i = e + 2;
            continue;
        }
        Piece p;
        p.is_text = false;
        p.is_block = kind == '%';
        p.pos = tag_pos;
        const char close = kind == '%' ? '%' : '}';
        bool closed = false;
        int braces = 0;
        while (k < s.size()) {
            const char c = s[k];
            if (c == ' ' || c == '\t' || c == '\n') { ++k; continue; }
            const Pos tp = S.pos(k);
            // The tag's end, with its whitespace sign (a }} inside a dict literal is not an end).
            if (braces == 0 && (c == '-' || c == '+') && k + 2 < s.size() && s[k + 1] == close && s[k + 2] == '}') {
                if (c == '-') strip_next = true;
                k += 3;  // `+%}` keeps the newline after the tag (no trim_blocks)
                closed = true;
                break;
            }
            if (braces == 0 && c == close && k + 1 < s.size() && s[k + 1] == '}') {
                if (p.is_block) trim_next = true;
                k += 2;
                closed = true;
                break;
            }
            Tok t;
            t.pos = tp;
            if (name_start(c)) {
                size_t e = k;
                while (e < s.size() && name_char(s[e])) ++e;
                t.k = Tok::Name;
                t.v = s.substr(k, e - k);
                k = e;
            } else if (std::isdigit(static_cast<unsigned char>(c))) {
                // jinja2's integers: [1-9](_?\d)* or 0(_?0)*; an underscore only between digits.
                auto digit = [&](size_t q) { return q < s.size() && std::isdigit(static_cast<unsigned char>(s[q])); };
                if (c == '0' && k + 1 < s.size() && std::strchr("xXoObB", s[k + 1]))
                    S.unsupported(tp, "the hexadecimal, octal or binary literal");
                size_t e = k + 1;
                while (digit(e) || (s[e] == '_' && digit(e + 1))) ++e;
                if (c == '0')
                    for (size_t q = k; q < e; ++q)
                        if (s[q] != '0' && s[q] != '_') S.fail(tp, "an integer literal with a leading zero");
                if (e < s.size() && (s[e] == '.' && e + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[e + 1]))))
                    S.unsupported(tp, "the float literal");
                if (e < s.size() && (s[e] == 'e' || s[e] == 'E')) S.unsupported(tp, "the float literal");
                long long v = 0;
                for (size_t q = k; q < e; ++q) {
                    if (s[q] == '_') continue;
                    if (__builtin_mul_overflow(v, 10LL, &v) || __builtin_add_overflow(v, (long long)(s[q] - '0'), &v))
                        S.fail(tp, "integer literal out of range");
                }
                t.k = Tok::Int;
                t.i = v;
                k = e;
            } else if (c == '\'' || c == '"') {
                // Python string literal escapes (what jinja2 applies to its string tokens).
                std::string v;
                size_t e = k + 1;
                for (;; ++e) {
                    if (e >= s.size()) S.fail(tp, "unterminated string literal");
                    if (s[e] == c) break;
                    if (s[e] != '\\') { v += s[e]; continue; }
                    if (++e >= s.size()) S.fail(tp, "unterminated string literal");
                    const char x = s[e];
                    switch (x) {
                    case 'n': v += '\n'; break;
                    case 't': v += '\t'; break;
                    case 'r': v += '\r'; break;
                    case '\\': v += '\\'; break;
                    case '\'': v += '\''; break;
                    case '"': v += '"'; break;
                    case '\n': break;  // line continuation
                    case 'a': v += '\a'; break;
                    case 'b': v += '\b'; break;
                    case 'f': v += '\f'; break;
                    case 'v': v += '\v'; break;
                    case '0': v += '\0'; break;
                    case 'x': case 'u': case 'U': {
                        const int n = x == 'x' ? 2 : x == 'u' ? 4 : 8;
                        if (e + static_cast<size_t>(n) >= s.size()) S.fail(tp, "bad \\" + std::string(1, x) + " escape");
                        uint32_t cp = 0;
                        for (int q = 1; q <= n; ++q) {
                            const char h = s[e + static_cast<size_t>(q)];
                            if (!std::isxdigit(static_cast<unsigned char>(h))) S.fail(tp, "bad \\" + std::string(1, x) + " escape");
                            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
                        }
                        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) S.fail(tp, "bad \\" + std::string(1, x) + " escape");
                        if (cp < 0x80) v += static_cast<char>(cp);
                        else if (cp < 0x800) { v += static_cast<char>(0xC0 | (cp >> 6)); v += static_cast<char>(0x80 | (cp & 0x3F)); }
                        else if (cp < 0x10000) { v += static_cast<char>(0xE0 | (cp >> 12)); v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); v += static_cast<char>(0x80 | (cp & 0x3F)); }
                        else { v += static_cast<char>(0xF0 | (cp >> 18)); v += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)); v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); v += static_cast<char>(0x80 | (cp & 0x3F)); }
                        e += static_cast<size_t>(n);
                        break;
                    }
                    default:
                        if (x >= '1' && x <= '7') S.unsupported(tp, "the octal string escape");
                        if (x == 'N') S.unsupported(tp, "the \\N{...} string escape");
                        v += '\\';  // Python keeps unknown escapes as they are
                        v += x;
                    }
                }
                t.k = Tok::Str;
                t.v = std::move(v);
                k = e + 1;
            } else {
                static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
                t.k = Tok::Op;
                for (const char* op : two)
                    if (s.compare(k, 2, op) == 0) t.v = op;
                if (t.v.empty()) {
                    if (std::string("+-*/%~<>()[]{},.:|=").find(c) == std::string::npos)
                        S.fail(tp, std::string("unexpected character '") + c + "'");
                    t.v = std::string(1, c);
                }
                k += t.v.size();
                if (t.v == "{") ++braces;
                if (t.v == "}" && braces > 0) --braces;
            }
            p.toks.push_back(std::move(t));
        }
        if (!closed) S.fail(tag_pos, p.is_block ? "unclosed tag {%" : "unclosed tag {{");
        Tok end;
        end.k = Tok::End;
        end.pos = S.pos(k - 1);
        p.toks.push_back(end);
        out.push_back(std::move(p));
        i = k;
    }
    return out;
}

// ---------------------------------------------------------------- parser
const char* const kFilters[] = {"trim", "length", "count", "upper", "lower", "capitalize", "title", "default", "d",
                                "tojson", "string", "first", "last", "join", "list", "replace", "items"};
const char* const kTests[] = {"defined", "undefined", "none", "string", "number", "integer", "boolean", "mapping",
                              "iterable", "sequence", "true", "false", "odd", "even"};
const char* const kUnsupportedTags[] = {"macro", "call", "filter", "include", "import", "from", "extends", "block",
                                        "with", "raw", "generation", "do", "autoescape", "trans"};
const char* const kEndTags[] = {"endif", "endfor", "elif", "else", "endset", "endmacro", "endcall", "endfilter",
                                "endblock", "endwith", "endraw", "endgeneration", "endautoescape", "endtrans"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&list)[N]) {
    for (const char* x : list)
        if (s == x) return true;
    return false;
}

class Parser {
public:
    Parser(const Source& S) : S_(S) {}

    Body parse() {
        pieces_ = lex(S_);
        Body b = body({});
        if (p_ < pieces_.size()) {
            const Piece& pc = pieces_[p_];
            S_.fail(pc.pos, "unexpected {% " + pc.toks[0].v + " %}");
        }
        return b;
    }

private:
    const Source& S_;
    std::vector<Piece> pieces_;
    size_t p_ = 0;
    const std::vector<Tok>* toks_ = nullptr;
    size_t t_ = 0;
    int depth_ = 0;

    struct Depth {
        Parser& p;
        Depth(Parser& x, Pos pos) : p(x) {
            if (++p.depth_ > kMaxChatNesting)
                p.S_.fail(pos, "nesting deeper than " + std::to_string(kMaxChatNesting) + " levels");
        }
        ~Depth() { --p.depth_; }
    };

    // Statements until one of `stops` (a block tag's first word), which is left unconsumed.
    Body body(const std::vector<std::string>& stops) {
        Body out;
        while (p_ < pieces_.size()) {
            const Piece& pc = pieces_[p_];
            if (pc.is_text) {
                auto n = std::make_unique<Node>();
                n->k = Node::Text;
                n->text = pc.text;
                out.push_back(std::move(n));
                ++p_;
                continue;
            }
            toks_ = &pc.toks;
            t_ = 0;
            if (!pc.is_block) {
                auto n = std::make_unique<Node>();
                n->k = Node::Out;
                n->pos = pc.pos;
                if (peek().k == Tok::End) S_.fail(pc.pos, "empty {{ }}");
                n->e = expr();
                expect_end();
                out.push_back(std::move(n));
                ++p_;
                continue;
            }
            const Tok& w = peek();
            if (w.k != Tok::Name) S_.fail(w.pos, "expected a tag name after {%");
            if (std::find(stops.begin(), stops.end(), w.v) != stops.end()) return out;
            ++t_;
            ++p_;
            out.push_back(statement(w, pc.pos));
        }
        return out;
    }

    void open_tag(const std::string& want, Pos from) {
        if (p_ >= pieces_.size()) S_.fail(from, "missing {% " + want + " %}");
        toks_ = &pieces_[p_].toks;
        t_ = 0;
    }

    std::unique_ptr<Node> statement(const Tok& w, Pos pos) {
        Depth guard(*this, pos);
        auto n = std::make_unique<Node>();
        n->pos = pos;
        const std::string& name = w.v;
        if (name == "if") {
            n->k = Node::If;
            ExprP c = expr();
            expect_end();
            for (;;) {
                Body b = body({"elif", "else", "endif"});
                n->branches.emplace_back(std::move(c), std::move(b));
                open_tag("endif", pos);
                const std::string tag = next().v;
                ++p_;
                if (tag == "elif") {
                    c = expr();
                    expect_end();
                    continue;
                }
                expect_end();
                if (tag == "else") {
                    n->else_body = body({"endif"});
                    open_tag("endif", pos);
                    next();
                    expect_end();
                    ++p_;
                }
                break;
            }
        } else if (name == "for") {
            n->k = Node::For;
            for (;;) {
                const Tok& v = next();
                if (v.k != Tok::Name) S_.fail(v.pos, "expected a loop variable");
                n->targets.push_back(v.v);
                if (!accept_op(",")) break;
            }
            const Tok& in = next();
            if (in.k != Tok::Name || in.v != "in") S_.fail(in.pos, "expected 'in'");
            n->e = expr(false);
            if (peek().k == Tok::Name && peek().v == "if") S_.unsupported(peek().pos, "the loop filter 'for ... if'");
            if (peek().k == Tok::Name && peek().v == "recursive") S_.unsupported(peek().pos, "the 'recursive' loop");
            expect_end();
            n->body = body({"else", "endfor"});
            open_tag("endfor", pos);
            const std::string tag = next().v;
            expect_end();
            ++p_;
            if (tag == "else") {
                n->else_body = body({"endfor"});
                open_tag("endfor", pos);
                next();
                expect_end();
                ++p_;
            }
        } else if (name == "set") {
            n->k = Node::Set;
            const Tok& v = next();
            if (v.k != Tok::Name) S_.fail(v.pos, "expected a variable name after set");
            n->targets.push_back(v.v);
            if (accept_op(".")) {
                const Tok& a = next();
                if (a.k != Tok::Name) S_.fail(a.pos, "expected an attribute name");
                n->targets.push_back(a.v);
            }
            if (peek().k == Tok::Op && peek().v == ",") S_.unsupported(peek().pos, "assignment to several names");
            if (peek().k == Tok::End) S_.unsupported(v.pos, "the block assignment {% set x %}...{% endset %}");
            if (!accept_op("=")) S_.fail(peek().pos, "expected '=' in set");
            n->e = expr();
            expect_end();
        } else if (name == "break" || name == "continue") {
            n->k = name == "break" ? Node::Break : Node::Continue;
            expect_end();
        } else if (one_of(name, kEndTags)) {
            S_.fail(w.pos, "unexpected {% " + name + " %}");
        } else if (one_of(name, kUnsupportedTags)) {
            S_.unsupported(w.pos, "the '" + name + "' tag");
        } else {
            S_.unsupported(w.pos, "the tag '" + name + "'");
        }
        return n;
    }

    // ---- tokens
    const Tok& peek() const { return (*toks_)[t_]; }
    const Tok& next() {
        const Tok& t = (*toks_)[t_];
        if (t.k != Tok::End) ++t_;
        return t;
    }
    bool is_op(const char* op) const { return peek().k == Tok::Op && peek().v == op; }
    bool is_name(const char* nm) const { return peek().k == Tok::Name && peek().v == nm; }
    bool accept_op(const char* op) {
        if (!is_op(op)) return false;
        ++t_;
        return true;
    }
    void expect_op(const char* op) {
        if (!accept_op(op)) S_.fail(peek().pos, std::string("expected '") + op + "'" + got());
    }
    std::string got() const {
        const Tok& t = peek();
        return t.k == Tok::End ? ", got the end of the tag" : ", got '" + (t.k == Tok::Int ? std::to_string(t.i) : t.v) + "'";
    }
    void expect_end() {
        if (peek().k != Tok::End) S_.fail(peek().pos, "expected the end of the tag" + got());
    }

    ExprP node(Expr::K k, Pos pos) {
        auto e = std::make_unique<Expr>();
        e->k = k;
        e->pos = pos;
        return e;
    }

    // Operator chains nest to the left; their length is bounded like any nesting.
    void chain(int n) const {
        if (n >= 4 * kMaxChatNesting) S_.fail(peek().pos, "an operator chain longer than " + std::to_string(4 * kMaxChatNesting));
    }

    // ---- expressions (jinja2's precedence)
    ExprP expr(bool with_cond = true) {
        Depth guard(*this, peek().pos);
        ExprP e = or_expr();
        while (with_cond && is_name("if")) {
            const Pos pos = next().pos;
            auto c = node(Expr::Cond, pos);
            c->a.push_back(std::move(e));
            c->a.push_back(or_expr());
            if (is_name("else")) {
                next();
                c->a.push_back(expr());
            } else {
                c->a.push_back(nullptr);
            }
            e = std::move(c);
        }
        return e;
    }
    ExprP or_expr() {
        ExprP e = and_expr();
        for (int cnt = 0; is_name("or"); ++cnt) {
            chain(cnt);
            auto n = node(Expr::Or, next().pos);
            n->a.push_back(std::move(e));
            n->a.push_back(and_expr());
            e = std::move(n);
        }
        return e;
    }
    ExprP and_expr() {
        ExprP e = not_expr();
        for (int cnt = 0; is_name("and"); ++cnt) {
            chain(cnt);
            auto n = node(Expr::And, next().pos);
            n->a.push_back(std::move(e));
            n->a.push_back(not_expr());
            e = std::move(n);
        }
        return e;
    }
    ExprP not_expr() {
        if (is_name("not")) {
            Depth guard(*this, peek().pos);
            auto n = node(Expr::Not, next().pos);
            n->a.push_back(not_expr());
            return n;
        }
        return compare();
    }
    ExprP compare() {
        ExprP e = math1();
        int count = 0;
        for (;;) {
            std::string op;
            const Pos pos = peek().pos;
            if (peek().k == Tok::Op && (peek().v == "==" || peek().v == "!=" || peek().v == "<" || peek().v == ">" ||
                                        peek().v == "<=" || peek().v == ">=")) {
                op = next().v;
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && t_ + 1 < toks_->size() && (*toks_)[t_ + 1].k == Tok::Name &&
                       (*toks_)[t_ + 1].v == "in") {
                next();
                next();
                op = "not in";
            } else {
                break;
            }
            if (++count > 1) S_.unsupported(pos, "the chained comparison");
            auto n = node(Expr::Bin, pos);
            n->name = op;
            n->a.push_back(std::move(e));
            n->a.push_back(math1());
            e = std::move(n);
        }
        return e;
    }
    ExprP binary(ExprP (Parser::*sub)(), std::initializer_list<const char*> ops) {
        ExprP e = (this->*sub)();
        for (int cnt = 0;; ++cnt) {
            bool hit = false;
            for (const char* op : ops)
                if (is_op(op)) hit = true;
            if (!hit) return e;
            chain(cnt);
            const Tok& t = next();
            if (t.v == "/") S_.unsupported(t.pos, "the true division '/' (floats)");
            if (t.v == "**") S_.unsupported(t.pos, "the power operator '**'");
            auto n = node(Expr::Bin, t.pos);
            n->name = t.v;
            n->a.push_back(std::move(e));
            n->a.push_back((this->*sub)());
            e = std::move(n);
        }
    }
    ExprP math1() { return binary(&Parser::concat, {"+", "-"}); }
    ExprP concat() { return binary(&Parser::math2, {"~"}); }
    ExprP math2() { return binary(&Parser::pow_expr, {"*", "/", "//", "%"}); }
    ExprP pow_expr() { return binary(&Parser::unary, {"**"}); }
    ExprP unary() {
        Depth guard(*this, peek().pos);
        ExprP e;
        if (is_op("-") || is_op("+")) {
            const Tok& t = next();
            ExprP x = unary_no_filter();
            if (t.v == "-") {
                e = node(Expr::Neg, t.pos);
                e->a.push_back(std::move(x));
            } else {
                e = std::move(x);
            }
        } else {
            e = postfix(primary());
        }
        return filters(std::move(e));
    }
    ExprP unary_no_filter() {
        Depth guard(*this, peek().pos);
        if (is_op("-") || is_op("+")) {
            const Tok& t = next();
            ExprP x = unary_no_filter();
            if (t.v == "+") return x;
            auto e = node(Expr::Neg, t.pos);
            e->a.push_back(std::move(x));
            return e;
        }
        return postfix(primary());
    }
    ExprP primary() {
        const Tok& t = next();
        if (t.k == Tok::Str) {
            auto e = node(Expr::Lit, t.pos);
            e->lit = Value::str(t.v);
            while (peek().k == Tok::Str) e->lit.s += next().v;  // adjacent literals join
            return e;
        }
        if (t.k == Tok::Int) {
            auto e = node(Expr::Lit, t.pos);
            e->lit = Value::integer(t.i);
            return e;
        }
        if (t.k == Tok::Name) {
            auto e = node(Expr::Lit, t.pos);
            if (t.v == "true" || t.v == "True") e->lit = Value::boolean(true);
            else if (t.v == "false" || t.v == "False") e->lit = Value::boolean(false);
            else if (t.v == "none" || t.v == "None") e->lit = Value::none();
            else {
                e->k = Expr::Name;
                e->name = t.v;
            }
            return e;
        }
        if (t.k == Tok::Op && t.v == "(") {
            ExprP e = expr();
            if (is_op(",")) S_.unsupported(peek().pos, "the tuple");
            expect_op(")");
            return e;
        }
        if (t.k == Tok::Op && t.v == "[") {
            auto e = node(Expr::ListE, t.pos);
            while (!is_op("]")) {
                e->a.push_back(expr());
                if (!accept_op(",")) break;
            }
            expect_op("]");
            return e;
        }
        if (t.k == Tok::Op && t.v == "{") {
            auto e = node(Expr::DictE, t.pos);
            while (!is_op("}")) {
                e->a.push_back(expr());
                expect_op(":");
                e->a.push_back(expr());
                if (!accept_op(",")) break;
            }
            expect_op("}");
            return e;
        }
        if (t.k == Tok::End) S_.fail(t.pos, "expected an expression, got the end of the tag");
        S_.fail(t.pos, "unexpected '" + t.v + "'");
    }
    void call_args(Expr& e) {
        // After '(': positional, then keyword arguments.
        while (!is_op(")")) {
            if (is_op("*") || is_op("**")) S_.unsupported(peek().pos, "argument unpacking");
            if (peek().k == Tok::Name && t_ + 1 < toks_->size() && (*toks_)[t_ + 1].k == Tok::Op &&
                (*toks_)[t_ + 1].v == "=") {
                e.kw.push_back(next().v);
                next();
                e.a.push_back(expr());
            } else {
                if (!e.kw.empty()) S_.fail(peek().pos, "a positional argument after a keyword argument");
                e.a.push_back(expr());
            }
            if (!accept_op(",")) break;
        }
        expect_op(")");
    }
    ExprP postfix(ExprP e) {
        for (int n = 0;; ++n) {
            if (n > kMaxChatNesting) S_.fail(peek().pos, "nesting deeper than " + std::to_string(kMaxChatNesting) + " levels");
            if (is_op(".")) {
                next();
                const Tok& a = next();
                const Pos pos = a.pos;
                if (a.k != Tok::Name && a.k != Tok::Int) S_.fail(a.pos, "expected an attribute name after '.'");
                auto x = node(a.k == Tok::Int ? Expr::Index : Expr::Attr, pos);
                x->a.push_back(std::move(e));
                if (a.k == Tok::Int) {
                    auto i = node(Expr::Lit, a.pos);
                    i->lit = Value::integer(a.i);
                    x->a.push_back(std::move(i));
                } else {
                    x->name = a.v;
                }
                e = std::move(x);
            } else if (is_op("[")) {
                const Pos pos = next().pos;
                ExprP parts[3];
                int colons = 0;
                for (;;) {
                    if (is_op(":")) {
                        next();
                        if (++colons > 2) S_.fail(peek().pos, "too many ':' in a slice");
                        continue;
                    }
                    if (is_op("]")) break;
                    if (parts[colons]) S_.fail(peek().pos, "expected ']'" + got());
                    parts[colons] = expr();
                    if (is_op(",")) S_.unsupported(peek().pos, "the tuple subscript");
                }
                expect_op("]");
                auto x = node(colons ? Expr::Slice : Expr::Index, pos);
                x->a.push_back(std::move(e));
                if (!colons && !parts[0]) S_.fail(pos, "an empty subscript []");
                for (int q = 0; q < (colons ? 3 : 1); ++q) x->a.push_back(std::move(parts[q]));
                e = std::move(x);
            } else if (is_op("(")) {
                next();
                auto x = node(Expr::Call, e->pos);
                x->a.push_back(std::move(e));
                call_args(*x);
                e = std::move(x);
            } else {
                return e;
            }
        }
    }
    ExprP filters(ExprP e) {
        for (int n = 0;; ++n) {
            if (n > kMaxChatNesting) S_.fail(peek().pos, "nesting deeper than " + std::to_string(kMaxChatNesting) + " levels");
            if (is_op("|")) {
                next();
                const Tok& f = next();
                if (f.k != Tok::Name) S_.fail(f.pos, "expected a filter name after '|'");
                if (!one_of(f.v, kFilters)) S_.unsupported(f.pos, "the filter '" + f.v + "'");
                auto x = node(Expr::Filter, f.pos);
                x->name = f.v;
                x->a.push_back(std::move(e));
                if (accept_op("(")) call_args(*x);
                e = postfix(std::move(x));
            } else if (is_name("is")) {
                next();
                auto x = node(Expr::Test, peek().pos);
                if (is_name("not")) {
                    next();
                    x->negate = true;
                }
                const Tok& f = next();
                if (f.k != Tok::Name) S_.fail(f.pos, "expected a test name after 'is'");
                if (!one_of(f.v, kTests)) S_.unsupported(f.pos, "the test '" + f.v + "'");
                x->pos = f.pos;
                x->name = f.v;
                x->a.push_back(std::move(e));
                if (is_op("(") || peek().k == Tok::Str || peek().k == Tok::Int)
                    S_.unsupported(peek().pos, "an argument to the test '" + f.v + "'");
                e = std::move(x);
            } else {
                return e;
            }
        }
    }
};

// ---------------------------------------------------------------- rendering
struct LoopCtl {
    enum K { None, Break, Continue } k = None;
};

class Renderer {
public:
    Renderer(const Source& S, long long max_steps) : S_(S), max_steps_(max_steps) {}
    std::string out;

    void run(const Body& b, Dict globals) {
        scopes_.push_back(std::move(globals));
        LoopCtl c;
        exec(b, c);
    }

private:
    const Source& S_;
    std::vector<Dict> scopes_;
    std::deque<Dict> namespaces_;
    long long steps_ = 0;
    const long long max_steps_;

    [[noreturn]] void fail(Pos p, const std::string& what) const { S_.fail(p, what); }
    void step(Pos p) {
        if (++steps_ > max_steps_)
            fail(p, "the template takes more than " + std::to_string(max_steps_) + " evaluation steps");
    }
    // Work proportional to a size (building lists and strings) counts as steps too.
    void work(size_t units, Pos p) {
        steps_ += static_cast<long long>(units / 16);
        step(p);
    }
    void check_size(size_t n, Pos p) const {
        if (n > kMaxChatOutputBytes) fail(p, "a value or the output exceeds " + std::to_string(kMaxChatOutputBytes) + " bytes");
    }

    const Value* lookup(const std::string& name) const {
        for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
            if (const Value* v = it->find(name)) return v;
        return nullptr;
    }

    void exec(const Body& body, LoopCtl& ctl) {
        for (const auto& n : body) {
            step(n->pos);
            switch (n->k) {
            case Node::Text:
                out += n->text;
                check_size(out.size(), n->pos);
                break;
            case Node::Out: {
                const Value v = eval(*n->e);
                out += to_str(v, n->e->pos);
                check_size(out.size(), n->pos);
                break;
            }
            case Node::If: {
                bool done = false;
                for (const auto& [c, b] : n->branches)
                    if (truthy(eval(*c))) {
                        exec(b, ctl);
                        done = true;
                        break;
                    }
                if (!done) exec(n->else_body, ctl);
                break;
            }
            case Node::For: run_for(*n); break;
            case Node::Set: {
                Value v = eval(*n->e);
                if (n->targets.size() == 1) {
                    scopes_.back().put(n->targets[0], std::move(v));
                } else {
                    const Value* ns = lookup(n->targets[0]);
                    if (!ns || ns->t != Value::Ns)
                        fail(n->pos, "'" + n->targets[0] + "' is not a namespace; only namespace attributes can be set");
                    ns->ns->put(n->targets[1], std::move(v));
                }
                break;
            }
            case Node::Break: ctl.k = LoopCtl::Break; return;
            case Node::Continue: ctl.k = LoopCtl::Continue; return;
            }
            if (ctl.k != LoopCtl::None) return;
        }
    }

    List iterate(const Value& v, Pos p) {
        if (v.t == Value::Lst) work(v.l->size(), p);
        if (v.t == Value::Str) work(v.s.size(), p);
        if (v.t == Value::Dct) work(v.d->items.size(), p);
        switch (v.t) {
        case Value::Undef: return {};
        case Value::Lst: return *v.l;
        case Value::Dct: {
            List keys;
            for (const auto& [k, x] : v.d->items) keys.push_back(Value::str(k));
            return keys;
        }
        case Value::Str: {
            List chars;
            const auto off = cp_offsets(v.s);
            for (size_t i = 0; i + 1 < off.size(); ++i) chars.push_back(Value::str(v.s.substr(off[i], off[i + 1] - off[i])));
            return chars;
        }
        default: fail(p, std::string("cannot loop over ") + a_type(v));
        }
    }

    void run_for(const Node& n) {
        const List items = iterate(eval(*n.e), n.e->pos);
        if (items.empty()) {
            LoopCtl c;
            exec(n.else_body, c);
            return;
        }
        const long long len = static_cast<long long>(items.size());
        for (long long i = 0; i < len; ++i) {
            work(160, n.pos);  // a loop iteration builds its scope and loop object
            Dict scope;
            const Value& item = items[static_cast<size_t>(i)];
            if (n.targets.size() == 1) {
                scope.put(n.targets[0], item);
            } else {
                if (item.t != Value::Lst || item.l->size() != n.targets.size())
                    fail(n.pos, "cannot unpack " + a_type(item) + " into " +
                                    std::to_string(n.targets.size()) + " loop variables");
                for (size_t q = 0; q < n.targets.size(); ++q) scope.put(n.targets[q], (*item.l)[q]);
            }
            Dict loop;
            loop.put("index", Value::integer(i + 1));
            loop.put("index0", Value::integer(i));
            loop.put("revindex", Value::integer(len - i));
            loop.put("revindex0", Value::integer(len - i - 1));
            loop.put("first", Value::boolean(i == 0));
            loop.put("last", Value::boolean(i == len - 1));
            loop.put("length", Value::integer(len));
            loop.put("depth", Value::integer(1));
            loop.put("depth0", Value::integer(0));
            loop.put("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value{});
            loop.put("nextitem", i + 1 < len ? items[static_cast<size_t>(i + 1)] : Value{});
            scope.put("loop", make_dict(std::move(loop), Value::Loop));
            scopes_.push_back(std::move(scope));
            LoopCtl c;
            exec(n.body, c);
            scopes_.pop_back();
            if (c.k == LoopCtl::Break) break;
        }
    }

    // ---- conversions
    static bool truthy(const Value& v) {
        switch (v.t) {
        case Value::Undef: case Value::None: return false;
        case Value::Bool: return v.b;
        case Value::Int: return v.i != 0;
        case Value::Str: return !v.s.empty();
        case Value::Lst: return !v.l->empty();
        case Value::Dct: return !v.d->items.empty();
        default: return true;
        }
    }

    // Python's str.isprintable() is false for these non-ASCII code points (separators, controls,
    // format characters, private use); repr() escapes them. Unassigned code points are not known here.
    static bool py_unprintable(uint32_t c) {
        return (c >= 0x80 && c <= 0xA0) || c == 0xAD || c == 0x600 || c == 0x1680 || c == 0x180E ||
               (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) ||
               c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE000 && c <= 0xF8FF) ||
               c >= 0xF0000 || (c >= 0xD800 && c <= 0xDFFF);
    }
    static void repr_str(const std::string& s, std::string& o) {
        const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
        const char q = dq ? '"' : '\'';
        o += q;
        static const char* hex = "0123456789abcdef";
        for (size_t i = 0; i < s.size();) {
            size_t n;
            const uint32_t cp = decode_at(s, i, n);
            if (cp >= 0x80 && n > 1 && py_unprintable(cp)) {
                const int digits = cp < 0x100 ? 2 : cp < 0x10000 ? 4 : 8;
                o += digits == 2 ? "\\x" : digits == 4 ? "\\u" : "\\U";
                for (int d = digits - 1; d >= 0; --d) o += hex[(cp >> (4 * d)) & 15];
                i += n;
                continue;
            }
            if (n > 1) {
                o.append(s, i, n);
                i += n;
                continue;
            }
            const unsigned char c = static_cast<unsigned char>(s[i++]);
            if (c == '\\') o += "\\\\";
            else if (c == q) { o += '\\'; o += static_cast<char>(c); }
            else if (c == '\n') o += "\\n";
            else if (c == '\r') o += "\\r";
            else if (c == '\t') o += "\\t";
            else if (c < 0x20 || c == 0x7F) {
                o += "\\x";
                o += hex[c >> 4];
                o += hex[c & 15];
            } else {
                o += static_cast<char>(c);
            }
        }
        o += q;
    }
    void repr(const Value& v, std::string& o, Pos p, int depth) const {
        if (depth > kMaxValueDepth) fail(p, "a value nested too deeply to print");
        switch (v.t) {
        case Value::Str: repr_str(v.s, o); break;
        case Value::Lst:
            o += '[';
            for (size_t i = 0; i < v.l->size(); ++i) {
                if (i) o += ", ";
                repr((*v.l)[i], o, p, depth + 1);
                check_size(o.size(), p);
            }
            o += ']';
            break;
        case Value::Dct:
            o += '{';
            for (size_t i = 0; i < v.d->items.size(); ++i) {
                if (i) o += ", ";
                repr_str(v.d->items[i].first, o);
                o += ": ";
                repr(v.d->items[i].second, o, p, depth + 1);
                check_size(o.size(), p);
            }
            o += '}';
            break;
        case Value::Undef: case Value::Ns: case Value::Loop: case Value::Func:
            fail(p, std::string("cannot print ") + a_type(v) + " inside a list or dict");
        default: o += to_str(v, p);
        }
    }
    std::string to_str(const Value& v, Pos p) const {
        switch (v.t) {
        case Value::Undef: return "";
        case Value::None: return "None";
        case Value::Bool: return v.b ? "True" : "False";
        case Value::Int: return std::to_string(v.i);
        case Value::Str: return v.s;
        case Value::Lst: case Value::Dct: {
            std::string o;
            repr(v, o, p, 0);
            return o;
        }
        default: fail(p, std::string("cannot print ") + a_type(v));
        }
    }

    // Python's json.dumps(ensure_ascii=False, indent=indent, sort_keys=sort) (transformers' tojson).
    void json_str(const std::string& s, std::string& o) const {
        o += '"';
        for (unsigned char c : s) {
            switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            case '\b': o += "\\b"; break;
            case '\f': o += "\\f"; break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    o += "\\u00";
                    o += hex[c >> 4];
                    o += hex[c & 15];
                } else {
                    o += static_cast<char>(c);
                }
            }
        }
        o += '"';
    }
    void to_json(const Value& v, std::string& o, int indent, bool sort, int depth, Pos p) const {
        if (depth > kMaxValueDepth) fail(p, "a value nested too deeply for tojson");
        check_size(o.size(), p);
        auto newline = [&](int d) {
            if (indent < 0) return;
            o += '\n';
            o.append(static_cast<size_t>(indent) * static_cast<size_t>(d), ' ');
        };
        switch (v.t) {
        case Value::None: o += "null"; break;
        case Value::Bool: o += v.b ? "true" : "false"; break;
        case Value::Int: o += std::to_string(v.i); break;
        case Value::Str: json_str(v.s, o); break;
        case Value::Lst:
            if (v.l->empty()) { o += "[]"; break; }
            o += '[';
            for (size_t i = 0; i < v.l->size(); ++i) {
                if (i) o += indent < 0 ? ", " : ",";
                newline(depth + 1);
                to_json((*v.l)[i], o, indent, sort, depth + 1, p);
            }
            newline(depth);
            o += ']';
            break;
        case Value::Dct: {
            if (v.d->items.empty()) { o += "{}"; break; }
            std::vector<const std::pair<std::string, Value>*> items;
            for (const auto& kv : v.d->items) items.push_back(&kv);
            if (sort) std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
            o += '{';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) o += indent < 0 ? ", " : ",";
                newline(depth + 1);
                json_str(items[i]->first, o);
                o += ": ";
                to_json(items[i]->second, o, indent, sort, depth + 1, p);
            }
            newline(depth);
            o += '}';
            break;
        }
        default: fail(p, std::string("tojson cannot serialise ") + a_type(v));
        }
    }

    bool equal(const Value& a, const Value& b, int depth = 0) const {
        if (depth > kMaxValueDepth) return false;
        const bool an = a.t == Value::Int || a.t == Value::Bool, bn = b.t == Value::Int || b.t == Value::Bool;
        if (an && bn) return (a.t == Value::Bool ? a.b : a.i) == (b.t == Value::Bool ? b.b : b.i);
        if (a.t != b.t) return false;
        switch (a.t) {
        case Value::Undef: case Value::None: return true;
        case Value::Str: case Value::Func: return a.s == b.s;
        case Value::Lst:
            if (a.l->size() != b.l->size()) return false;
            for (size_t i = 0; i < a.l->size(); ++i)
                if (!equal((*a.l)[i], (*b.l)[i], depth + 1)) return false;
            return true;
        case Value::Dct: case Value::Loop:
            if (a.d->items.size() != b.d->items.size()) return false;
            for (const auto& [k, v] : a.d->items) {
                const Value* o = b.d->find(k);
                if (!o || !equal(v, *o, depth + 1)) return false;
            }
            return true;
        case Value::Ns: return a.ns == b.ns;
        default: return false;
        }
    }

    static long long as_num(const Value& v) { return v.t == Value::Bool ? (v.b ? 1 : 0) : v.i; }
    static bool is_num(const Value& v) { return v.t == Value::Int || v.t == Value::Bool; }

    std::string str_arg(const Value& v, Pos p, const std::string& what) const {
        if (v.t != Value::Str) fail(p, what + " must be a string, got " + a_type(v));
        return v.s;
    }
    long long int_arg(const Value& v, Pos p, const std::string& what) const {
        if (!is_num(v)) fail(p, what + " must be an integer, got " + a_type(v));
        return as_num(v);
    }

    // Python slice of a sequence of n elements: the selected indices.
    std::vector<long long> slice_indices(long long n, const Value* start, const Value* stop, const Value* stepv, Pos p) const {
        long long step = 1;
        if (stepv && stepv->t != Value::None) step = int_arg(*stepv, p, "a slice step");
        if (step == 0) fail(p, "slice step cannot be zero");
        auto norm = [&](const Value* v, long long dflt) {
            if (!v || v->t == Value::None) return dflt;
            long long x = int_arg(*v, p, "a slice index");
            if (x < 0) {
                x += n;
                if (x < 0) x = step < 0 ? -1 : 0;
            } else if (x >= n) {
                x = step < 0 ? n - 1 : n;
            }
            return x;
        };
        const long long a = norm(start, step < 0 ? n - 1 : 0), b = norm(stop, step < 0 ? -1 : n);
        std::vector<long long> idx;
        if (step > 0)
            for (long long i = a; i < b; i += step) idx.push_back(i);
        else
            for (long long i = a; i > b; i += step) idx.push_back(i);
        return idx;
    }

    std::string case_map(const std::string& s, Pos p, int mode) const {  // 0 lower, 1 upper, 2 capitalize, 3 title
        std::string o = s;
        bool word_start = true;
        for (size_t i = 0; i < o.size(); ++i) {
            const unsigned char c = static_cast<unsigned char>(o[i]);
            if (c >= 0x80) S_.unsupported(p, "changing the case of non-ASCII text");
            const bool alpha = std::isalpha(c) != 0;
            bool up = mode == 1 || (mode == 2 && i == 0) || (mode == 3 && word_start);
            o[i] = static_cast<char>(up ? std::toupper(c) : std::tolower(c));
            word_start = !alpha;
        }
        return o;
    }

    std::vector<std::string> py_split(const std::string& s, const Value* sep, long long maxsplit, Pos p) const {
        std::vector<std::string> parts;
        if (!sep || sep->t == Value::None) {
            const auto off = cp_offsets(s);
            size_t i = 0;
            const size_t n = off.size() - 1;
            auto space = [&](size_t k) {
                size_t len;
                return py_space(decode_at(s, off[k], len));
            };
            while (i < n) {
                while (i < n && space(i)) ++i;
                if (i >= n) break;
                if (maxsplit >= 0 && static_cast<long long>(parts.size()) >= maxsplit) {
                    // the rest as it is (Python keeps its trailing whitespace)
                    parts.push_back(s.substr(off[i]));
                    break;
                }
                size_t j = i;
                while (j < n && !space(j)) ++j;
                parts.push_back(s.substr(off[i], off[j] - off[i]));
                i = j;
            }
            return parts;
        }
        const std::string d = str_arg(*sep, p, "the separator of split()");
        if (d.empty()) fail(p, "split() with an empty separator");
        size_t from = 0;
        for (;;) {
            if (maxsplit >= 0 && static_cast<long long>(parts.size()) >= maxsplit) break;
            const size_t k = s.find(d, from);
            if (k == std::string::npos) break;
            parts.push_back(s.substr(from, k - from));
            from = k + d.size();
        }
        parts.push_back(s.substr(from));
        return parts;
    }

    std::string replace(const std::string& s, const std::string& a, const std::string& b, long long count, Pos p) const {
        std::string o;
        if (a.empty()) {
            // Python inserts b between code points (and at both ends).
            const auto off = cp_offsets(s);
            long long done = 0;
            for (size_t i = 0; i + 1 < off.size() || i == 0; ++i) {
                if (count < 0 || done < count) { o += b; ++done; }
                if (i + 1 < off.size()) o += s.substr(off[i], off[i + 1] - off[i]);
                check_size(o.size(), p);
                if (i + 1 >= off.size()) break;
            }
            if (off.size() > 1 && (count < 0 || done < count)) o += b;
            return o;
        }
        size_t from = 0;
        long long done = 0;
        for (;;) {
            const size_t k = (count >= 0 && done >= count) ? std::string::npos : s.find(a, from);
            if (k == std::string::npos) break;
            o.append(s, from, k - from);
            o += b;
            check_size(o.size(), p);
            from = k + a.size();
            ++done;
        }
        o.append(s, from, std::string::npos);
        return o;
    }

    struct Args {
        std::vector<Value> pos;
        std::vector<std::pair<std::string, Value>> kw;
    };
    Args args_of(const Expr& e, size_t first) {
        Args a;
        const size_t nkw = e.kw.size();
        const size_t npos = e.a.size() - first - nkw;
        for (size_t i = 0; i < npos; ++i) a.pos.push_back(eval(*e.a[first + i]));
        for (size_t i = 0; i < nkw; ++i) a.kw.emplace_back(e.kw[i], eval(*e.a[first + npos + i]));
        return a;
    }
    // Positional-or-keyword parameters in order; unknown keywords, duplicates and too many are errors.
    std::vector<const Value*> bind(const Args& a, const std::vector<const char*>& params, size_t required,
                                   const std::string& what, Pos p) const {
        std::vector<const Value*> out(params.size(), nullptr);
        if (a.pos.size() > params.size()) fail(p, what + " takes at most " + std::to_string(params.size()) + " arguments");
        for (size_t i = 0; i < a.pos.size(); ++i) out[i] = &a.pos[i];
        for (const auto& [k, v] : a.kw) {
            size_t i = 0;
            while (i < params.size() && k != params[i]) ++i;
            if (i == params.size()) S_.unsupported(p, "the argument '" + k + "' of " + what);
            if (out[i]) fail(p, what + " got '" + k + "' twice");
            out[i] = &v;
        }
        for (size_t i = 0; i < required; ++i)
            if (!out[i]) fail(p, what + " needs the argument '" + std::string(params[i]) + "'");
        return out;
    }

    Value filter(const Expr& e) {
        const Value v = eval(*e.a[0]);
        const Args a = args_of(e, 1);
        const Pos p = e.pos;
        const std::string& f = e.name;
        const std::string what = "the filter '" + f + "'";
        auto text = [&](const Value& x) { return x.t == Value::Str ? x.s : to_str(x, p); };
        if (f == "default" || f == "d") {
            auto b = bind(a, {"default_value", "boolean"}, 0, what, p);
            const bool use = v.t == Value::Undef || (b[1] && truthy(*b[1]) && !truthy(v));
            if (!use) return v;
            return b[0] ? *b[0] : Value::str("");
        }
        if (f == "tojson") {
            auto b = bind(a, {"ensure_ascii", "indent", "separators", "sort_keys"}, 0, what, p);
            if (b[0] && truthy(*b[0])) S_.unsupported(p, "tojson(ensure_ascii=true)");
            if (b[2] && b[2]->t != Value::None) S_.unsupported(p, "tojson(separators=...)");
            int indent = -1;
            if (b[1] && b[1]->t != Value::None) {
                const long long n = int_arg(*b[1], p, "tojson's indent");
                if (n < 0 || n > 64) fail(p, "tojson's indent must be 0 to 64");
                indent = static_cast<int>(n);
            }
            std::string o;
            to_json(v, o, indent, b[3] && truthy(*b[3]), 0, p);
            return Value::str(std::move(o));
        }
        if (f == "join") {
            auto b = bind(a, {"d", "attribute"}, 0, what, p);
            if (b[1]) S_.unsupported(p, "join(attribute=...)");
            const std::string sep = b[0] ? text(*b[0]) : "";
            std::string o;
            const List items = iterate(v, p);
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) o += sep;
                o += text(items[i]);
                check_size(o.size(), p);
            }
            return Value::str(std::move(o));
        }
        if (f == "replace") {
            auto b = bind(a, {"old", "new", "count"}, 2, what, p);
            const long long count = b[2] && b[2]->t != Value::None ? int_arg(*b[2], p, "replace's count") : -1;
            return Value::str(replace(text(v), text(*b[0]), text(*b[1]), count, p));
        }
        if (f == "trim") {
            auto b = bind(a, {"chars"}, 0, what, p);
            std::string chars;
            const bool has = b[0] && b[0]->t != Value::None;
            if (has) chars = str_arg(*b[0], p, "trim's chars");
            return Value::str(py_strip(text(v), has ? &chars : nullptr, true, true));
        }
        bind(a, {}, 0, what, p);
        if (f == "upper") return Value::str(case_map(text(v), p, 1));
        if (f == "lower") return Value::str(case_map(text(v), p, 0));
        if (f == "capitalize") return Value::str(case_map(text(v), p, 2));
        if (f == "title") return Value::str(case_map(text(v), p, 3));
        if (f == "string") return Value::str(text(v));
        if (f == "length" || f == "count") {
            switch (v.t) {
            case Value::Undef: return Value::integer(0);
            case Value::Str: return Value::integer(static_cast<long long>(cp_offsets(v.s).size() - 1));
            case Value::Lst: return Value::integer(static_cast<long long>(v.l->size()));
            case Value::Dct: return Value::integer(static_cast<long long>(v.d->items.size()));
            default: fail(p, a_type(v) + " has no length");
            }
        }
        if (f == "first" || f == "last") {
            const List items = iterate(v, p);
            if (items.empty()) return Value{};
            return f == "first" ? items.front() : items.back();
        }
        if (f == "list") return Value::list(iterate(v, p));
        if (f == "items") {
            if (v.t == Value::Undef) return Value::list({});
            if (v.t != Value::Dct) fail(p, std::string("items needs a dict, got ") + a_type(v));
            List o;
            for (const auto& [k, x] : v.d->items) o.push_back(Value::list({Value::str(k), x}));
            return Value::list(std::move(o));
        }
        S_.unsupported(p, what);
    }

    bool test(const Expr& e) {
        const Value v = eval(*e.a[0]);
        const std::string& t = e.name;
        if (t == "defined") return v.t != Value::Undef;
        if (t == "undefined") return v.t == Value::Undef;
        if (t == "none") return v.t == Value::None;
        if (t == "string") return v.t == Value::Str;
        if (t == "number") return v.t == Value::Int || v.t == Value::Bool;
        if (t == "integer") return v.t == Value::Int;
        if (t == "boolean") return v.t == Value::Bool;
        if (t == "mapping") return v.t == Value::Dct;
        if (t == "iterable") return v.t == Value::Str || v.t == Value::Lst || v.t == Value::Dct || v.t == Value::Undef;
        if (t == "sequence") return v.t == Value::Str || v.t == Value::Lst || v.t == Value::Dct || v.t == Value::Undef;
        if (t == "true") return v.t == Value::Bool && v.b;
        if (t == "false") return v.t == Value::Bool && !v.b;
        if (t == "odd" || t == "even") {
            const long long n = int_arg(v, e.pos, "the value tested by '" + t + "'");
            return (t == "odd") == ((n % 2) != 0);
        }
        S_.unsupported(e.pos, "the test '" + t + "'");
    }

    Value call(const Expr& e) {
        const Expr& callee = *e.a[0];
        const Pos p = e.pos;
        if (callee.k == Expr::Attr) {
            const Value obj = eval(*callee.a[0]);
            const Args a = args_of(e, 1);
            return method(obj, callee.name, a, p);
        }
        const Value f = eval(callee);
        if (f.t != Value::Func) {
            if (f.t == Value::Undef && callee.k == Expr::Name)
                S_.unsupported(p, "the function '" + callee.name + "' (not one the renderer provides, or undefined)");
            fail(p, a_type(f) + " cannot be called");
        }
        const Args a = args_of(e, 1);
        const std::string what = f.s + "()";
        if (f.s == "raise_exception") {
            auto b = bind(a, {"message"}, 1, what, p);
            throw Error(S_.file(), kField, "the template raised an exception at " + at(p) + ": " + text_of(*b[0], p));
        }
        if (f.s == "namespace" || f.s == "dict") {
            if (!a.pos.empty()) S_.unsupported(p, "positional arguments to " + what);
            Dict d;
            for (const auto& [k, v] : a.kw) d.put(k, v);
            if (f.s == "dict") return make_dict(std::move(d));
            namespaces_.push_back(std::move(d));
            Value v;
            v.t = Value::Ns;
            v.ns = &namespaces_.back();
            return v;
        }
        if (f.s == "range") {
            if (!a.kw.empty()) fail(p, "range() takes no keyword arguments");
            if (a.pos.empty() || a.pos.size() > 3) fail(p, "range() takes 1 to 3 arguments");
            long long lo = 0, hi, st = 1;
            if (a.pos.size() == 1) hi = int_arg(a.pos[0], p, "range's argument");
            else {
                lo = int_arg(a.pos[0], p, "range's start");
                hi = int_arg(a.pos[1], p, "range's stop");
                if (a.pos.size() == 3) st = int_arg(a.pos[2], p, "range's step");
            }
            if (st == 0) fail(p, "range() step must not be zero");
            List o;
            for (long long i = lo; st > 0 ? i < hi : i > hi; i += st) {
                if (o.size() >= kMaxListItems) fail(p, "range() longer than " + std::to_string(kMaxListItems));
                if (o.size() % 16 == 0) work(16, p);
                o.push_back(Value::integer(i));
            }
            return Value::list(std::move(o));
        }
        if (f.s == "strftime_now") {
            auto b = bind(a, {"format"}, 1, what, p);
            const std::string fmt = str_arg(*b[0], p, "strftime_now's format");
            const std::time_t now = std::time(nullptr);
            std::tm tm{};
            localtime_r(&now, &tm);
            char buf[512];
            const size_t n = fmt.size() < 200 ? std::strftime(buf, sizeof buf, fmt.c_str(), &tm) : 0;
            if (n == 0 && !fmt.empty()) fail(p, "strftime_now: the format gives no text");
            return Value::str(std::string(buf, n));
        }
        S_.unsupported(p, "the function '" + f.s + "'");
    }
    std::string text_of(const Value& v, Pos p) const { return v.t == Value::Str ? v.s : to_str(v, p); }

    Value method(const Value& obj, const std::string& m, const Args& a, Pos p) {
        const std::string what = "the method '" + m + "'";
        if (obj.t == Value::Str) {
            const std::string& s = obj.s;
            if (m == "strip" || m == "lstrip" || m == "rstrip") {
                auto b = bind(a, {"chars"}, 0, what, p);
                std::string chars;
                const bool has = b[0] && b[0]->t != Value::None;
                if (has) chars = str_arg(*b[0], p, m + "'s argument");
                return Value::str(py_strip(s, has ? &chars : nullptr, m != "rstrip", m != "lstrip"));
            }
            if (m == "startswith" || m == "endswith") {
                auto b = bind(a, {"prefix"}, 1, what, p);
                const std::string x = str_arg(*b[0], p, m + "'s argument");
                const bool r = x.size() <= s.size() &&
                               (m == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
                return Value::boolean(r);
            }
            if (m == "split") {
                auto b = bind(a, {"sep", "maxsplit"}, 0, what, p);
                const long long maxsplit = b[1] ? int_arg(*b[1], p, "split's maxsplit") : -1;
                List o;
                for (auto& part : py_split(s, b[0], maxsplit, p)) o.push_back(Value::str(std::move(part)));
                return Value::list(std::move(o));
            }
            if (m == "upper" || m == "lower" || m == "title" || m == "capitalize") {
                bind(a, {}, 0, what, p);
                return Value::str(case_map(s, p, m == "lower" ? 0 : m == "upper" ? 1 : m == "capitalize" ? 2 : 3));
            }
            if (m == "replace") {
                auto b = bind(a, {"old", "new", "count"}, 2, what, p);
                const long long count = b[2] ? int_arg(*b[2], p, "replace's count") : -1;
                return Value::str(replace(s, str_arg(*b[0], p, "replace's old"), str_arg(*b[1], p, "replace's new"), count, p));
            }
            if (m == "join") {
                auto b = bind(a, {"iterable"}, 1, what, p);
                std::string o;
                const List items = iterate(*b[0], p);
                for (size_t i = 0; i < items.size(); ++i) {
                    if (i) o += s;
                    o += str_arg(items[i], p, "an item joined");
                    check_size(o.size(), p);
                }
                return Value::str(std::move(o));
            }
            S_.unsupported(p, what + " of a string");
        }
        if (obj.t == Value::Dct) {
            if (m == "get") {
                auto b = bind(a, {"key", "default"}, 1, what, p);
                const Value* v = b[0]->t == Value::Str ? obj.d->find(b[0]->s) : nullptr;
                return v ? *v : (b[1] ? *b[1] : Value::none());
            }
            bind(a, {}, 0, what, p);
            if (m == "items" || m == "keys" || m == "values") {
                List o;
                for (const auto& [k, v] : obj.d->items)
                    o.push_back(m == "items" ? Value::list({Value::str(k), v}) : m == "keys" ? Value::str(k) : v);
                return Value::list(std::move(o));
            }
            S_.unsupported(p, what + " of a dict");
        }
        if (obj.t == Value::Undef) fail(p, "cannot call " + what + " of an undefined value");
        S_.unsupported(p, what + " of " + a_type(obj));
    }

    Value attr(const Value& v, const std::string& name, Pos p) const {
        switch (v.t) {
        case Value::Dct: {
            const Value* x = v.d->find(name);
            return x ? *x : Value{};
        }
        case Value::Ns: {
            const Value* x = v.ns->find(name);
            return x ? *x : Value{};
        }
        case Value::Loop: {
            const Value* x = v.d->find(name);
            if (!x) S_.unsupported(p, "loop." + name);
            return *x;
        }
        case Value::None: return Value{};
        case Value::Undef: fail(p, "cannot read the attribute '" + name + "' of an undefined value");
        case Value::Str:
            S_.unsupported(p, "the string attribute '" + name + "' (string methods must be called)");
        default: S_.unsupported(p, std::string("the attribute '") + name + "' of " + a_type(v));
        }
    }

    Value index(const Value& v, const Value& k, Pos p) const {
        if (v.t == Value::Dct || v.t == Value::Ns || v.t == Value::Loop) {
            if (k.t != Value::Str) return Value{};
            return attr(v, k.s, p);
        }
        if (v.t == Value::Lst || v.t == Value::Str) {
            if (!is_num(k)) {
                if (k.t == Value::Str && v.t == Value::Str) S_.unsupported(p, "a string index into a string");
                fail(p, a_type(v) + " index must be an integer");
            }
            long long i = as_num(k);
            if (v.t == Value::Lst) {
                const long long n = static_cast<long long>(v.l->size());
                if (i < 0) i += n;
                if (i < 0 || i >= n) return Value{};
                return (*v.l)[static_cast<size_t>(i)];
            }
            const auto off = cp_offsets(v.s);
            const long long n = static_cast<long long>(off.size()) - 1;
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value{};
            return Value::str(v.s.substr(off[static_cast<size_t>(i)], off[static_cast<size_t>(i) + 1] - off[static_cast<size_t>(i)]));
        }
        if (v.t == Value::Undef) fail(p, "cannot index an undefined value");
        if (v.t == Value::None) return Value{};
        fail(p, std::string("cannot index ") + a_type(v));
    }

    Value binop(const std::string& op, const Value& x, const Value& y, Pos p) const {
        if (op == "==") return Value::boolean(equal(x, y));
        if (op == "!=") return Value::boolean(!equal(x, y));
        if (op == "in" || op == "not in") {
            bool r = false;
            if (y.t == Value::Str) {
                r = y.s.find(str_arg(x, p, "the left side of 'in' a string")) != std::string::npos;
            } else if (y.t == Value::Lst) {
                for (const auto& e : *y.l)
                    if (equal(x, e)) { r = true; break; }
            } else if (y.t == Value::Dct) {
                r = x.t == Value::Str && y.d->find(x.s);
            } else if (y.t == Value::Undef) {
                r = false;
            } else {
                fail(p, std::string("'in' needs a string, list or dict on its right, got ") + a_type(y));
            }
            return Value::boolean(op == "in" ? r : !r);
        }
        if (op == "~") {
            std::string s = to_str(x, p) + to_str(y, p);
            check_size(s.size(), p);
            return Value::str(std::move(s));
        }
        if (op == "<" || op == ">" || op == "<=" || op == ">=") {
            int c;
            if (is_num(x) && is_num(y)) c = as_num(x) < as_num(y) ? -1 : as_num(x) > as_num(y) ? 1 : 0;
            else if (x.t == Value::Str && y.t == Value::Str) c = x.s.compare(y.s) < 0 ? -1 : x.s == y.s ? 0 : 1;
            else fail(p, std::string("cannot compare ") + a_type(x) + " with " + a_type(y) + " by '" + op + "'");
            return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
        }
        if (op == "+") {
            if (x.t == Value::Str && y.t == Value::Str) {
                check_size(x.s.size() + y.s.size(), p);
                return Value::str(x.s + y.s);
            }
            if (x.t == Value::Lst && y.t == Value::Lst) {
                if (x.l->size() + y.l->size() > kMaxListItems) fail(p, "a list longer than " + std::to_string(kMaxListItems));
                List o = *x.l;
                o.insert(o.end(), y.l->begin(), y.l->end());
                return Value::list(std::move(o));
            }
        }
        if (op == "*") {
            const Value* s = x.t == Value::Str ? &x : y.t == Value::Str ? &y : nullptr;
            const Value* n = s == &x ? &y : &x;
            if (s && is_num(*n)) {
                const long long k = std::max(0LL, as_num(*n));
                if (!s->s.empty() && static_cast<unsigned long long>(k) > kMaxChatOutputBytes / s->s.size()) check_size(kMaxChatOutputBytes + 1, p);
                std::string o;
                for (long long i = 0; i < k; ++i) o += s->s;
                return Value::str(std::move(o));
            }
        }
        if (is_num(x) && is_num(y)) {
            const long long a = as_num(x), b = as_num(y);
            long long r = 0;
            bool ovf = false;
            if (op == "+") ovf = __builtin_add_overflow(a, b, &r);
            else if (op == "-") ovf = __builtin_sub_overflow(a, b, &r);
            else if (op == "*") ovf = __builtin_mul_overflow(a, b, &r);
            else if (op == "//" || op == "%") {
                if (b == 0) fail(p, "integer division or modulo by zero");
                if (a == LLONG_MIN && b == -1) ovf = true;
                else {
                    long long q = a / b, m = a % b;
                    if (m != 0 && ((m < 0) != (b < 0))) { --q; m += b; }  // Python floors
                    r = op == "//" ? q : m;
                }
            }
            if (ovf) fail(p, "integer overflow in '" + op + "'");
            return Value::integer(r);
        }
        if (op == "%" && x.t == Value::Str) S_.unsupported(p, "string formatting with '%'");
        fail(p, std::string("unsupported operand types for '") + op + "': " + type_name(x) + " and " + type_name(y));
    }

    Value sized(Value v, Pos p) {
        if (v.t == Value::Str) work(v.s.size(), p);
        else if (v.t == Value::Lst) work(v.l->size(), p);
        return v;
    }

    Value eval(const Expr& e) {
        step(e.pos);
        switch (e.k) {
        case Expr::Lit: return e.lit;
        case Expr::Name: {
            if (const Value* v = lookup(e.name)) return *v;
            if (e.name == "namespace" || e.name == "raise_exception" || e.name == "range" || e.name == "dict" ||
                e.name == "strftime_now")
                return Value::func(e.name);
            return Value{};
        }
        case Expr::ListE: {
            List o;
            for (const auto& x : e.a) o.push_back(eval(*x));
            return Value::list(std::move(o));
        }
        case Expr::DictE: {
            Dict d;
            for (size_t i = 0; i + 1 < e.a.size(); i += 2) {
                const Value k = eval(*e.a[i]);
                if (k.t != Value::Str) S_.unsupported(e.a[i]->pos, "a dict key that is not a string");
                d.put(k.s, eval(*e.a[i + 1]));
            }
            return make_dict(std::move(d));
        }
        case Expr::Attr: return attr(eval(*e.a[0]), e.name, e.pos);
        case Expr::Index: {
            const Value v = eval(*e.a[0]);
            return index(v, eval(*e.a[1]), e.pos);
        }
        case Expr::Slice: {
            const Value v = eval(*e.a[0]);
            Value parts[3];
            const Value* ptr[3] = {nullptr, nullptr, nullptr};
            for (int q = 0; q < 3; ++q)
                if (e.a[static_cast<size_t>(q) + 1]) {
                    parts[q] = eval(*e.a[static_cast<size_t>(q) + 1]);
                    ptr[q] = &parts[q];
                }
            if (v.t == Value::Lst) {
                List o;
                for (long long i : slice_indices(static_cast<long long>(v.l->size()), ptr[0], ptr[1], ptr[2], e.pos))
                    o.push_back((*v.l)[static_cast<size_t>(i)]);
                return Value::list(std::move(o));
            }
            if (v.t == Value::Str) {
                const auto off = cp_offsets(v.s);
                std::string o;
                for (long long i : slice_indices(static_cast<long long>(off.size()) - 1, ptr[0], ptr[1], ptr[2], e.pos))
                    o.append(v.s, off[static_cast<size_t>(i)], off[static_cast<size_t>(i) + 1] - off[static_cast<size_t>(i)]);
                return Value::str(std::move(o));
            }
            if (v.t == Value::Undef) fail(e.pos, "cannot slice an undefined value");
            fail(e.pos, std::string("cannot slice ") + a_type(v));
        }
        case Expr::Call: return sized(call(e), e.pos);
        case Expr::Filter: return sized(filter(e), e.pos);
        case Expr::Test: return Value::boolean(test(e) != e.negate);
        case Expr::Not: return Value::boolean(!truthy(eval(*e.a[0])));
        case Expr::Neg: {
            const Value v = eval(*e.a[0]);
            if (!is_num(v)) fail(e.pos, std::string("cannot negate ") + a_type(v));
            if (as_num(v) == LLONG_MIN) fail(e.pos, "integer overflow in '-'");
            return Value::integer(-as_num(v));
        }
        case Expr::Bin: {
            const Value x = eval(*e.a[0]);
            const Value y = eval(*e.a[1]);
            return sized(binop(e.name, x, y, e.pos), e.pos);
        }
        case Expr::And: {
            Value x = eval(*e.a[0]);
            return truthy(x) ? eval(*e.a[1]) : x;
        }
        case Expr::Or: {
            Value x = eval(*e.a[0]);
            return truthy(x) ? x : eval(*e.a[1]);
        }
        case Expr::Cond:
            if (truthy(eval(*e.a[1]))) return eval(*e.a[0]);
            return e.a[2] ? eval(*e.a[2]) : Value{};
        }
        return Value{};
    }
};

Value from_json(const nlohmann::ordered_json& j, const std::string& file, int depth) {
    if (depth > kMaxValueDepth) throw Error(file, "context", "nested deeper than " + std::to_string(kMaxValueDepth));
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<long long>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
        const auto u = j.get<unsigned long long>();
        if (u > static_cast<unsigned long long>(LLONG_MAX)) throw Error(file, "context", "an integer out of range");
        return Value::integer(static_cast<long long>(u));
    }
    case nlohmann::ordered_json::value_t::string: return Value::str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
        List o;
        for (const auto& x : j) o.push_back(from_json(x, file, depth + 1));
        return Value::list(std::move(o));
    }
    case nlohmann::ordered_json::value_t::object: {
        Dict d;
        for (const auto& [k, x] : j.items()) d.put(k, from_json(x, file, depth + 1));
        return make_dict(std::move(d));
    }
    default: throw Error(file, "context", "floating-point numbers are not supported in a chat-template context");
    }
}

}  // namespace

// ---------------------------------------------------------------- ChatTemplate
struct ChatTemplate::Impl {
    Source src;
    Body body;
    Impl(std::string text, std::string file) : src(std::move(text), std::move(file)) {}
};

ChatTemplate::ChatTemplate(std::string text, std::string file) : text_(std::move(text)), file_(std::move(file)) {
    if (text_.size() > kMaxChatTemplateBytes)
        throw Error(file_, kField, "the template is larger than " + std::to_string(kMaxChatTemplateBytes) + " bytes");
    impl_ = std::make_unique<Impl>(text_, file_);
    impl_->body = Parser(impl_->src).parse();
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

namespace {
std::string render_with(const ChatTemplate::Impl& impl, Dict globals, long long max_steps) {
    Renderer r(impl.src, max_steps);
    r.run(impl.body, std::move(globals));
    return std::move(r.out);
}
}  // namespace

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const std::map<std::string, bool>& flags,
                                 const std::map<std::string, std::string>& strings) const {
    Dict g;
    for (const auto& [k, v] : vars_) g.put(k, Value::str(v));
    List msgs;
    for (const auto& m : messages) {
        Dict d;
        d.put("role", Value::str(m.role));
        d.put("content", Value::str(m.content));
        for (const auto& [k, v] : m.extra) d.put(k, Value::str(v));
        msgs.push_back(make_dict(std::move(d)));
    }
    g.put("messages", Value::list(std::move(msgs)));
    g.put("tools", Value::none());
    g.put("documents", Value::none());
    g.put("add_generation_prompt", Value::boolean(add_generation_prompt));
    for (const auto& [k, v] : flags) g.put(k, Value::boolean(v));
    for (const auto& [k, v] : strings) g.put(k, Value::str(v));
    return render_with(*impl_, std::move(g), max_steps_);
}

std::string ChatTemplate::render_json(const std::string& context_json) const {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(context_json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(file_, "context", "is not a JSON object");
    Dict g;
    for (const auto& [k, v] : vars_) g.put(k, Value::str(v));
    g.put("tools", Value::none());
    g.put("documents", Value::none());
    g.put("add_generation_prompt", Value::boolean(false));
    for (const auto& [k, x] : j.items()) g.put(k, from_json(x, file_, 1));
    return render_with(*impl_, std::move(g), max_steps_);
}

std::string ChatTemplate::render_user_prompt(const std::string& user) const {
    return render({ChatMessage{"user", user, {}}}, true);
}

// ---------------------------------------------------------------- loading
namespace {
std::string config_path(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return (std::filesystem::path(path) / "tokenizer_config.json").string();
    return path;
}
nlohmann::json read_config(const std::string& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        throw Error(file, kField, "the model has no tokenizer_config.json, so no chat template");
    const std::string text = read_file(file);
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(file, "", "is not a JSON object");
    return j;
}
}  // namespace

bool has_chat_template(const std::string& path) {
    const std::string file = config_path(path);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return false;
    try {
        const nlohmann::json j = read_config(file);
        return j.contains(kField) && !j[kField].is_null();
    } catch (const Error&) {
        return false;
    }
}

ChatTemplate load_chat_template(const std::string& path) {
    const std::string file = config_path(path);
    const nlohmann::json j = read_config(file);
    if (!j.contains(kField) || j[kField].is_null())
        throw Error(file, kField, "is missing: this model has no chat template (leave out --chat-template)");
    const nlohmann::json& t = j[kField];
    std::string text, note;
    if (t.is_string()) {
        text = t.get<std::string>();
    } else if (t.is_array()) {
        std::vector<std::string> names;
        bool found = false;
        for (const auto& e : t) {
            if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") ||
                !e["template"].is_string())
                throw Error(file, kField, "a list entry is not {\"name\": string, \"template\": string}");
            names.push_back(e["name"].get<std::string>());
            if (names.back() == "default" && !found) {
                text = e["template"].get<std::string>();
                found = true;
            }
        }
        std::string all;
        for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
        if (!found) throw Error(file, kField, "holds named templates (" + all + ") but none is named 'default'");
        note = "picked the template named 'default' of " + std::to_string(names.size()) + " (" + all + ")";
    } else {
        throw Error(file, kField, "must be a string or a list of {name, template}");
    }
    ChatTemplate ct(std::move(text), file);
    ct.set_note(std::move(note));
    // The special tokens transformers passes to the template (its special_tokens_map).
    std::map<std::string, std::string> vars;
    for (const char* k : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
        if (!j.contains(k)) continue;
        const auto& v = j[k];
        if (v.is_string()) vars[k] = v.get<std::string>();
        else if (v.is_object() && v.contains("content") && v["content"].is_string()) vars[k] = v["content"].get<std::string>();
    }
    ct.set_variables(std::move(vars));
    return ct;
}

}  // namespace achilles
