// SPDX-License-Identifier: GPL-3.0-or-later
// config.json and generation_config.json: accepted configs satisfy the bounds the rest of the
// code relies on; everything else is an achilles::Error.
#include "achilles/config.h"
#include "achilles/neuron.h"
#include "achilles/error.h"
#include "fuzz_util.h"
#include <cstdio>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace achilles;
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const ModelConfig c = parse_config(text, "config.json");
        if (c.num_hidden_layers < 1 || c.num_hidden_layers > kMaxLayers) fuzz::finding("layers out of bounds");
        if (c.head_dim < 1 || c.head_dim > kMaxHeadDim) fuzz::finding("head_dim out of bounds");
        if (c.vocab_size < 1 || c.vocab_size > kMaxVocab) fuzz::finding("vocab out of bounds");
        if (c.max_position_embeddings < 1 || c.max_position_embeddings > kMaxPositions) fuzz::finding("positions out of bounds");
        if (static_cast<int>(c.layer_types.size()) != c.num_hidden_layers) fuzz::finding("layer_types size");
        const ModelShape s = shape_from_config(c);
        for (Module m : kAllModules)
            if (s.module_width(m) < 1) fuzz::finding("non-positive module width");
    } catch (const Error&) {
    }
    try {
        for (int id : parse_generation_eos(text, "generation_config.json"))
            if (id < 0) fuzz::finding("negative eos id");
    } catch (const Error&) {
    }
    return 0;
}
