// SPDX-License-Identifier: GPL-3.0-or-later
#include "tokenizer/tokenizer_impl.h"
#include "achilles/error.h"
namespace achilles::tok {
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const std::string& json_path, const TokenizerConfig&) {
    throw Error(json_path, "", "byte-level BPE is not implemented yet");
}
}  // namespace achilles::tok
