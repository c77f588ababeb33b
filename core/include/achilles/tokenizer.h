// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace achilles {

struct EncodeOptions {
    bool add_special = true;     // BOS (and EOS where the tokenizer's post-processor adds it)
    bool split_special = false;  // true: special-token text is encoded as plain text
};

// A tokenizer: HF tokenizer.json byte-level BPE or a SentencePiece .model.
class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    virtual std::vector<int> encode(std::string_view text, const EncodeOptions& opt = {}) const = 0;
    virtual std::string decode(const std::vector<int>& ids, bool skip_special = false) const = 0;
    virtual std::string token_string(int id) const = 0;   // the vocabulary piece, e.g. "▁the", "Ġthe"
    virtual int vocab_size() const = 0;
    virtual int bos_id() const = 0;   // -1 if none
    virtual int eos_id() const = 0;   // -1 if none
    virtual bool is_special(int id) const = 0;
    virtual std::string kind() const = 0;   // "sentencepiece" or "bpe"
    virtual std::string source() const = 0; // the file read
};

// Loads from a file (tokenizer.model / tokenizer.json) or a model folder (prefers tokenizer.json,
// else tokenizer.model; reads tokenizer_config.json beside it for BOS/EOS handling).
// Throws achilles::Error naming the file and field. Non-UTF-8 input to encode() throws too.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

// Train a SentencePiece model (through the isolated bridge). args are sentencepiece trainer
// flags, e.g. "--input=corpus.txt --model_prefix=out/tok --vocab_size=512 --model_type=bpe".
void train_sentencepiece(const std::string& args);

}  // namespace achilles
