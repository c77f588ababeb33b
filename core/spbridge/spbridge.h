// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The C interface of the SentencePiece bridge module (libachilles_spbridge.so).
//
// Debian's libsentencepiece carries its own protobuf-lite whose symbols clash with the protobuf
// that libtorch loads. The bridge is the only code that links libsentencepiece; it is dlopen()ed
// with RTLD_LOCAL (and RTLD_DEEPBIND outside ASan) so the two protobufs never resolve to each
// other. Only plain C types cross this boundary; nothing throws across it.
//
// Memory: strings and arrays returned through out-parameters are malloc()ed by the bridge and
// must be released with spb_free_mem(). Error strings likewise.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPB_ABI_VERSION 1

typedef struct spb_model spb_model;

int spb_abi_version(void);

// Loads a .model file. On failure returns NULL and sets *err.
spb_model* spb_load(const char* path, char** err);
void spb_free(spb_model* m);
void spb_free_mem(void* p);

// Encodes UTF-8 text (len bytes). Returns 0 and sets *ids (malloc, *n entries); else -1 and *err.
int spb_encode(const spb_model* m, const char* text, size_t len, int** ids, size_t* n, char** err);
// Decodes ids. Returns 0 and sets *out (malloc, NUL-terminated, *out_len bytes); else -1 and *err.
int spb_decode(const spb_model* m, const int* ids, size_t n, char** out, size_t* out_len, char** err);

int spb_piece_size(const spb_model* m);
// The piece for id (pointer valid while m lives); NULL when out of range.
const char* spb_id_to_piece(const spb_model* m, int id, size_t* len);
int spb_piece_to_id(const spb_model* m, const char* piece, size_t len);  // unk id if unknown
int spb_bos_id(const spb_model* m);
int spb_eos_id(const spb_model* m);
int spb_unk_id(const spb_model* m);
int spb_pad_id(const spb_model* m);
// Piece kinds: bit 0 control, bit 1 byte, bit 2 unknown, bit 3 unused. -1 when out of range.
int spb_piece_flags(const spb_model* m, int id);

// Trains a model from sentencepiece trainer flags. Returns NULL on success, else an error string.
char* spb_train(const char* args);

#ifdef __cplusplus
}
#endif
