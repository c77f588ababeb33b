// SPDX-License-Identifier: GPL-3.0-or-later
// SentencePiece tokenizer, reached only through the dlopen()ed bridge module (core/spbridge).
//
// Why: Debian's libsentencepiece bundles and exports protobuf-lite 3.14 symbols; libtorch loads
// libprotobuf 3.21. Linked into one process they crash at start-up. The bridge module alone links
// libsentencepiece and is opened with dlmopen(LM_ID_NEWLM) in a link-map namespace of its own, so
// its protobuf symbols bind inside that namespace and never meet libtorch's, in Release and under
// AddressSanitizer alike. (RTLD_LOCAL alone is not enough: libsentencepiece's own references to
// its protobuf resolve through the global scope first, where libtorch's libprotobuf sits, and
// protobuf aborts with "compiled against 3.14.0 ... installed 3.21.12". RTLD_DEEPBIND fixes that
// but ASan refuses it.)
#include "tokenizer/tokenizer_impl.h"

#include "../../spbridge/spbridge.h"
#include "achilles/error.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#ifndef ACHILLES_SPBRIDGE_BUILD_PATH
#define ACHILLES_SPBRIDGE_BUILD_PATH ""
#endif
#ifndef ACHILLES_SPBRIDGE_INSTALL_LIBDIR
#define ACHILLES_SPBRIDGE_INSTALL_LIBDIR ""
#endif
#ifndef ACHILLES_SPBRIDGE_INSTALL_PATH
#define ACHILLES_SPBRIDGE_INSTALL_PATH ""
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ACH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ACH_ASAN 1
#endif
#endif

namespace achilles::tok {
namespace {

namespace fs = std::filesystem;

struct Bridge {
    void* handle = nullptr;
    std::string path;
    int (*abi_version)();
    spb_model* (*load)(const char*, char**);
    void (*free_model)(spb_model*);
    void (*free_mem)(void*);
    int (*encode)(const spb_model*, const char*, size_t, int**, size_t*, char**);
    int (*decode)(const spb_model*, const int*, size_t, char**, size_t*, char**);
    int (*piece_size)(const spb_model*);
    const char* (*id_to_piece)(const spb_model*, int, size_t*);
    int (*piece_to_id)(const spb_model*, const char*, size_t);
    int (*bos_id)(const spb_model*);
    int (*eos_id)(const spb_model*);
    int (*unk_id)(const spb_model*);
    int (*pad_id)(const spb_model*);
    int (*piece_flags)(const spb_model*, int);
    char* (*train)(const char*);

    std::string take_err(char* e) const {
        std::string s = e ? std::string(e) : std::string("unknown error");
        if (e) free_mem(e);
        return s;
    }
};

std::vector<std::string> candidate_paths() {
    std::vector<std::string> c;
    if (const char* e = std::getenv("ACHILLES_SPBRIDGE"); e && *e) c.push_back(e);
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        fs::path dir = exe.parent_path();
        c.push_back((dir / "libachilles_spbridge.so").string());
        c.push_back((dir / ".." / "lib" / "achilles" / "libachilles_spbridge.so").lexically_normal().string());
        // Installed layout: <prefix>/bin/achilles-cli beside <prefix>/<libdir>/achilles/ (Debian multiarch).
        if (*ACHILLES_SPBRIDGE_INSTALL_LIBDIR)
            c.push_back((dir / ".." / ACHILLES_SPBRIDGE_INSTALL_LIBDIR / "achilles" / "libachilles_spbridge.so")
                            .lexically_normal()
                            .string());
    }
    if (*ACHILLES_SPBRIDGE_BUILD_PATH) c.push_back(ACHILLES_SPBRIDGE_BUILD_PATH);
    if (*ACHILLES_SPBRIDGE_INSTALL_PATH) c.push_back(ACHILLES_SPBRIDGE_INSTALL_PATH);
    return c;
}

template <class F>
void bind(Bridge& b, F& fn, const char* name) {
    void* p = dlsym(b.handle, name);
    if (!p) throw Error(b.path, name, "the SentencePiece bridge module lacks this symbol");
    fn = reinterpret_cast<F>(p);
}

const Bridge& bridge() {
    static std::once_flag once;
    static std::unique_ptr<Bridge> instance;
    static std::string failure;
    std::call_once(once, [] {
        // The module goes into a link-map namespace of its own (dlmopen LM_ID_NEWLM): its
        // libsentencepiece and that library's bundled protobuf 3.14 resolve only against each
        // other, never against the protobuf 3.21 libtorch put in the global scope. Unlike
        // RTLD_DEEPBIND this also works under AddressSanitizer. The C ABI is built for it: every
        // buffer the module returns is released by the module (spb_free_mem).
        // RTLD_DEEPBIND stays as the fallback where dlmopen is refused (not under ASan, which
        // refuses DEEPBIND itself).
        int flags = RTLD_NOW | RTLD_LOCAL;
        std::string tried;
        for (const std::string& p : candidate_paths()) {
            std::error_code ec;
            if (!fs::exists(p, ec)) {
                tried += "\n  " + p + " (absent)";
                continue;
            }
            void* h = dlmopen(LM_ID_NEWLM, p.c_str(), flags);
            std::string why;
            if (!h) {
                const char* e = dlerror();
                why = e ? e : "dlmopen failed";
#if !defined(ACH_ASAN)
                h = dlopen(p.c_str(), flags | RTLD_DEEPBIND);
                if (!h) {
                    const char* e2 = dlerror();
                    why += "; " + std::string(e2 ? e2 : "dlopen failed");
                }
#endif
            }
            if (!h) {
                tried += "\n  " + p + " (" + why + ")";
                continue;
            }
            auto b = std::make_unique<Bridge>();
            b->handle = h;
            b->path = p;
            try {
                bind(*b, b->abi_version, "spb_abi_version");
                if (b->abi_version() != SPB_ABI_VERSION)
                    throw Error(p, "spb_abi_version", "the SentencePiece bridge module has another ABI version");
                bind(*b, b->load, "spb_load");
                bind(*b, b->free_model, "spb_free");
                bind(*b, b->free_mem, "spb_free_mem");
                bind(*b, b->encode, "spb_encode");
                bind(*b, b->decode, "spb_decode");
                bind(*b, b->piece_size, "spb_piece_size");
                bind(*b, b->id_to_piece, "spb_id_to_piece");
                bind(*b, b->piece_to_id, "spb_piece_to_id");
                bind(*b, b->bos_id, "spb_bos_id");
                bind(*b, b->eos_id, "spb_eos_id");
                bind(*b, b->unk_id, "spb_unk_id");
                bind(*b, b->pad_id, "spb_pad_id");
                bind(*b, b->piece_flags, "spb_piece_flags");
                bind(*b, b->train, "spb_train");
            } catch (const Error& e) {
                tried += "\n  " + p + " (" + e.what() + ")";
                dlclose(h);
                continue;
            }
            instance = std::move(b);  // never dlclose()d: models may outlive static destruction order
            return;
        }
        failure = "cannot load the SentencePiece bridge module libachilles_spbridge.so (set ACHILLES_SPBRIDGE "
                  "to its path). Tried:" + tried;
    });
    if (!instance) throw Error(failure);
    return *instance;
}

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(const std::string& path, const TokenizerConfig& cfg) : path_(path) {
        const Bridge& b = bridge();
        {
            std::error_code ec;
            if (!fs::is_regular_file(path, ec)) throw Error(path, "", "no such SentencePiece model file");
        }
        char* err = nullptr;
        spb_model* m = b.load(path.c_str(), &err);
        if (!m) throw Error(path, "", "not a valid SentencePiece model: " + b.take_err(err));
        model_ = std::shared_ptr<spb_model>(m, [fn = b.free_model](spb_model* p) { fn(p); });
        sp_size_ = size_ = b.piece_size(m);
        bos_ = b.bos_id(m);
        eos_ = b.eos_id(m);
        unk_ = b.unk_id(m);
        // Added tokens from tokenizer_config.json; ids past the SentencePiece vocabulary extend it
        // (e.g. Phi-3's <|endoftext|> = 32000 over a 32000-piece model).
        for (const auto& a : cfg.added_tokens)
            if (a.id >= sp_size_ && a.id < (1 << 21)) size_ = std::max(size_, a.id + 1);
        special_.assign(size_, 0);
        extra_.assign(size_ - sp_size_, std::string());
        for (int i = 0; i < sp_size_; ++i) {
            int f = b.piece_flags(m, i);
            if (f > 0 && (f & (1 | 4))) special_[i] = 1;   // control and unknown pieces
        }
        for (int i = 0; i < sp_size_; ++i)
            if (special_[i]) add_match_text(piece(i), i, true);
        for (const auto& a : cfg.added_tokens) {
            if (a.id < 0 || a.id >= size_ || a.content.empty()) continue;
            if (a.id >= sp_size_) extra_[a.id - sp_size_] = a.content;
            if (a.special) special_[a.id] = 1;
            add_match_text(a.content, a.id, a.special);
        }
        std::stable_sort(specials_.begin(), specials_.end(),
                         [](const Match& x, const Match& y) { return x.text.size() > y.text.size(); });
        // tokenizer_config.json may name other BOS/EOS tokens (added tokens first, then pieces).
        auto lookup = [&](const std::optional<std::string>& tok, int fallback, const char* field) {
            if (!tok) return fallback;
            if (tok->empty()) return -1;
            for (const auto& mt : specials_)
                if (mt.text == *tok) return mt.id;
            int id = b.piece_to_id(m, tok->data(), tok->size());
            size_t n = 0;
            const char* p = b.id_to_piece(m, id, &n);
            if (p && std::string_view(p, n) == *tok) return id;
            throw Error(cfg.source, field, "the token '" + *tok + "' is not in " + path);
        };
        bos_ = lookup(cfg.bos_token, bos_, "bos_token");
        eos_ = lookup(cfg.eos_token, eos_, "eos_token");
        add_bos_ = cfg.add_bos_token.value_or(true) && bos_ >= 0;
        add_eos_ = cfg.add_eos_token.value_or(false) && eos_ >= 0;
    }

    std::vector<int> encode(std::string_view text, const EncodeOptions& opt) const override {
        check_utf8(text);
        std::vector<int> out;
        if (opt.add_special && add_bos_) out.push_back(bos_);
        if (specials_.empty()) {
            encode_plain(text, out);
        } else {
            size_t start = 0, i = 0;
            while (i < text.size()) {
                int hit = -1;
                size_t len = 0;
                if (first_bytes_[static_cast<unsigned char>(text[i])]) {
                    for (const auto& mt : specials_) {
                        if (opt.split_special && mt.special) continue;
                        if (text.compare(i, mt.text.size(), mt.text) == 0) { hit = mt.id; len = mt.text.size(); break; }
                    }
                }
                if (hit >= 0) {
                    if (i > start) encode_plain(text.substr(start, i - start), out);
                    out.push_back(hit);
                    i += len;
                    start = i;
                } else {
                    ++i;
                }
            }
            if (start < text.size()) encode_plain(text.substr(start), out);
        }
        if (opt.add_special && add_eos_) out.push_back(eos_);
        return out;
    }

    std::string decode(const std::vector<int>& ids, bool skip_special) const override {
        std::string out;
        std::vector<int> run;
        for (int id : ids) {
            if (id < 0 || id >= size_)
                throw Error("ids", "", "token id " + std::to_string(id) + " is outside the vocabulary (size " +
                                           std::to_string(size_) + ") of " + path_);
            if (id >= sp_size_ && extra_[id - sp_size_].empty())
                throw Error("ids", "", "token id " + std::to_string(id) + " is not assigned in " + path_);
            if (special_[id] || id >= sp_size_) {
                flush(run, out);
                if (!(skip_special && special_[id])) out += piece(id);
            } else {
                run.push_back(id);
            }
        }
        flush(run, out);
        return out;
    }

    std::string token_string(int id) const override {
        if (id < 0 || id >= size_) throw Error("ids", "", "token id " + std::to_string(id) + " is outside the vocabulary");
        if (id >= sp_size_ && extra_[id - sp_size_].empty())
            throw Error("ids", "", "token id " + std::to_string(id) + " is not assigned in " + path_);
        return piece(id);
    }
    int vocab_size() const override { return size_; }
    int bos_id() const override { return bos_; }
    int eos_id() const override { return eos_; }
    bool is_special(int id) const override { return id >= 0 && id < size_ && special_[id]; }
    std::string kind() const override { return "sentencepiece"; }
    std::string source() const override { return path_; }

private:
    std::string piece(int id) const {
        if (id >= sp_size_) return extra_[id - sp_size_];
        size_t n = 0;
        const char* p = bridge().id_to_piece(model_.get(), id, &n);
        return p ? std::string(p, n) : std::string();
    }
    void add_match_text(const std::string& s, int id, bool special) {
        if (s.empty()) return;
        for (const auto& e : specials_)
            if (e.text == s) return;
        specials_.push_back({s, id, special});
        first_bytes_[static_cast<unsigned char>(s[0])] = 1;
    }
    void encode_plain(std::string_view text, std::vector<int>& out) const {
        if (text.empty()) return;
        const Bridge& b = bridge();
        int* ids = nullptr;
        size_t n = 0;
        char* err = nullptr;
        if (b.encode(model_.get(), text.data(), text.size(), &ids, &n, &err) != 0)
            throw Error(path_, "", "SentencePiece encode failed: " + b.take_err(err));
        out.insert(out.end(), ids, ids + n);
        b.free_mem(ids);
    }
    void flush(std::vector<int>& run, std::string& out) const {
        if (run.empty()) return;
        const Bridge& b = bridge();
        char* s = nullptr;
        size_t n = 0;
        char* err = nullptr;
        if (b.decode(model_.get(), run.data(), run.size(), &s, &n, &err) != 0)
            throw Error(path_, "", "SentencePiece decode failed: " + b.take_err(err));
        out.append(s, n);
        b.free_mem(s);
        run.clear();
    }

    std::string path_;
    std::shared_ptr<spb_model> model_;
    int sp_size_ = 0, size_ = 0, bos_ = -1, eos_ = -1, unk_ = -1;
    bool add_bos_ = true, add_eos_ = false;
    std::vector<char> special_;
    struct Match {
        std::string text;
        int id;
        bool special;
    };
    std::vector<Match> specials_;          // texts split out of the input, longest first
    std::vector<std::string> extra_;       // added tokens past the SentencePiece vocabulary
    bool first_bytes_[256] = {};
};

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(const std::string& model_path, const TokenizerConfig& cfg) {
    return std::make_unique<SentencePieceTokenizer>(model_path, cfg);
}

}  // namespace achilles::tok

namespace achilles {

void train_sentencepiece(const std::string& args) {
    const auto& b = tok::bridge();
    if (char* err = b.train(args.c_str())) throw Error("sentencepiece trainer", "", "training failed: " + b.take_err(err));
}

}  // namespace achilles
