// SPDX-License-Identifier: GPL-3.0-or-later
// tokenizer.json (and, from the same bytes, tokenizer_config.json): load, then encode and decode a
// fixed text. Any failure must be an achilles::Error; ids must be inside the vocabulary.
#include "achilles/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "fuzz_util.h"
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    fuzz::MemFile f(data, size, "tokenizer.json");
    tok::TokenizerConfig cfg;
    try {
        cfg = tok::read_tokenizer_config(f.path());
    } catch (const Error&) {
        cfg = {};
    }
    try {
        auto t = tok::make_bpe_tokenizer(f.path(), {});
        for (const char* text : {"Hello world! 123 \n\n  x", "", "  \t\u00e9\u4e2d"}) {
            EncodeOptions eo;
            const std::vector<int> ids = t->encode(text, eo);
            for (int id : ids)
                if (id < 0 || id >= t->vocab_size()) fuzz::finding("id outside the vocabulary");
            (void)t->decode(ids, false);
            (void)t->decode(ids, true);
        }
    } catch (const Error&) {
    }
    return 0;
}
