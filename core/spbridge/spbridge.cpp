// SPDX-License-Identifier: GPL-3.0-or-later
// The SentencePiece bridge module: a thin C wrapper over Debian's libsentencepiece.
// See spbridge.h for why it exists.
#include "spbridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

// Exported by libsentencepiece (not declared in its public headers).
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

struct spb_model {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

char* dup_string(const std::string& s) {
    char* p = static_cast<char*>(std::malloc(s.size() + 1));
    if (!p) return nullptr;
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p;
}

void set_err(char** err, const std::string& s) {
    if (err) *err = dup_string(s);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int spb_abi_version(void) { return SPB_ABI_VERSION; }

__attribute__((visibility("default"))) spb_model* spb_load(const char* path, char** err) {
    if (err) *err = nullptr;
    try {
        auto m = std::make_unique<spb_model>();
        auto st = m->sp.Load(path ? path : "");
        if (!st.ok()) {
            set_err(err, st.ToString());
            return nullptr;
        }
        if (m->sp.GetPieceSize() <= 0) {
            set_err(err, "the model has no pieces");
            return nullptr;
        }
        return m.release();
    } catch (const std::exception& e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown failure in sentencepiece");
    }
    return nullptr;
}

__attribute__((visibility("default"))) void spb_free(spb_model* m) { delete m; }
__attribute__((visibility("default"))) void spb_free_mem(void* p) { std::free(p); }

__attribute__((visibility("default"))) int spb_encode(const spb_model* m, const char* text, size_t len,
                                                      int** ids, size_t* n, char** err) {
    if (err) *err = nullptr;
    *ids = nullptr;
    *n = 0;
    try {
        std::vector<int> out;
        auto st = m->sp.Encode(absl::string_view(text ? text : "", text ? len : 0), &out);
        if (!st.ok()) {
            set_err(err, st.ToString());
            return -1;
        }
        int* p = static_cast<int*>(std::malloc(sizeof(int) * (out.size() ? out.size() : 1)));
        if (!p) throw std::bad_alloc();
        if (!out.empty()) std::memcpy(p, out.data(), sizeof(int) * out.size());
        *ids = p;
        *n = out.size();
        return 0;
    } catch (const std::exception& e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown failure in sentencepiece");
    }
    return -1;
}

__attribute__((visibility("default"))) int spb_decode(const spb_model* m, const int* ids, size_t n, char** out,
                                                      size_t* out_len, char** err) {
    if (err) *err = nullptr;
    *out = nullptr;
    *out_len = 0;
    try {
        std::vector<int> v(ids, ids + n);
        const int size = m->sp.GetPieceSize();
        for (int id : v)
            if (id < 0 || id >= size) {
                set_err(err, "id " + std::to_string(id) + " is outside the vocabulary (size " +
                                 std::to_string(size) + ")");
                return -1;
            }
        std::string s;
        auto st = m->sp.Decode(v, &s);
        if (!st.ok()) {
            set_err(err, st.ToString());
            return -1;
        }
        *out = dup_string(s);
        if (!*out) throw std::bad_alloc();
        *out_len = s.size();
        return 0;
    } catch (const std::exception& e) {
        set_err(err, e.what());
    } catch (...) {
        set_err(err, "unknown failure in sentencepiece");
    }
    return -1;
}

__attribute__((visibility("default"))) int spb_piece_size(const spb_model* m) { return m->sp.GetPieceSize(); }

__attribute__((visibility("default"))) const char* spb_id_to_piece(const spb_model* m, int id, size_t* len) {
    if (id < 0 || id >= m->sp.GetPieceSize()) return nullptr;
    const std::string& s = m->sp.IdToPiece(id);
    if (len) *len = s.size();
    return s.c_str();
}

__attribute__((visibility("default"))) int spb_piece_to_id(const spb_model* m, const char* piece, size_t len) {
    return m->sp.PieceToId(absl::string_view(piece, len));
}

__attribute__((visibility("default"))) int spb_bos_id(const spb_model* m) { return m->sp.bos_id(); }
__attribute__((visibility("default"))) int spb_eos_id(const spb_model* m) { return m->sp.eos_id(); }
__attribute__((visibility("default"))) int spb_unk_id(const spb_model* m) { return m->sp.unk_id(); }
__attribute__((visibility("default"))) int spb_pad_id(const spb_model* m) { return m->sp.pad_id(); }

__attribute__((visibility("default"))) int spb_piece_flags(const spb_model* m, int id) {
    if (id < 0 || id >= m->sp.GetPieceSize()) return -1;
    return (m->sp.IsControl(id) ? 1 : 0) | (m->sp.IsByte(id) ? 2 : 0) | (m->sp.IsUnknown(id) ? 4 : 0) |
           (m->sp.IsUnused(id) ? 8 : 0);
}

__attribute__((visibility("default"))) char* spb_train(const char* args) {
    try {
        // Under RTLD_DEEPBIND the library's std::cerr binds to libstdc++'s own, never-constructed
        // copy when the executable has a copy-relocated std::cerr (any program that uses it, e.g.
        // achilles-cli): the trainer's first LOG(INFO) ("Running command") then crashes. Keep its
        // logging at ERROR and above (a --minloglevel in args still applies after parsing).
        sentencepiece::logging::SetMinLogLevel(2);
        auto st = sentencepiece::SentencePieceTrainer::Train(absl::string_view(args ? args : ""));
        if (!st.ok()) return dup_string(st.ToString());
        return nullptr;
    } catch (const std::exception& e) {
        return dup_string(e.what());
    } catch (...) {
        return dup_string("unknown failure in sentencepiece training");
    }
}

}  // extern "C"
