// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include "achilles/config.h"
#include "achilles/safetensors.h"
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace achilles {

// A Hugging Face model folder: config.json, model.safetensors or shards listed in
// model.safetensors.index.json, tokenizer files. Validates the index against the shards.
struct Checkpoint {
    std::string dir;
    ModelConfig config;
    std::vector<std::shared_ptr<SafetensorsFile>> files;
    std::map<std::string, TensorView> tensors;  // all tensors over all shards
    std::string tokenizer_model;                 // path to tokenizer.model, or ""
    std::string tokenizer_json;                  // path to tokenizer.json, or ""
    std::string tokenizer_config;                // path to tokenizer_config.json, or ""
    std::string generation_config;               // path to generation_config.json, or ""
    size_t weight_bytes() const;
    std::string config_hash() const;             // sha-like hex digest of config.json bytes
    std::string header_hash() const;             // digest over tensor names, dtypes, shapes
};

Checkpoint open_checkpoint(const std::string& dir);

// FNV-1a 64-bit hex digest, used for fingerprints.
std::string fingerprint_hex(const std::string& bytes);

}  // namespace achilles
