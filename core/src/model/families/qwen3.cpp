// SPDX-License-Identifier: GPL-3.0-or-later
// Qwen3 dense (Qwen3Config): RMSNorm of q and k per head before RoPE, optional attention bias.
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor qwen3() {
    FamilyDescriptor f;
    f.model_type = "qwen3";
    f.defaults.kv_heads = 32;
    f.defaults.head_dim = 128;
    f.defaults.max_position_embeddings = 32768;
    f.defaults.sliding_window = 4096;
    f.defaults.max_window_layers = 28;
    f.reads_attention_bias = true;
    f.qkv_bias = Presence::if_config;
    f.o_bias = Presence::if_config;
    f.qk_norm = Presence::required;
    f.sliding = SlidingPattern::from_max_window_layers;
    return f;
}

}  // namespace achilles::builtin_families
