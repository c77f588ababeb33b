// SPDX-License-Identifier: GPL-3.0-or-later
// Qwen3 dense (Qwen3Config): Qwen2 plus RMSNorm of q and k per head before RoPE, head_dim 128
// by default, and the attention bias from attention_bias (q/k/v and o) instead of always q/k/v.
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor qwen3() {
    FamilyDescriptor f = qwen2();
    f.model_type = "qwen3";
    f.defaults.head_dim = 128;
    f.attention_bias_fixed = false;
    f.reads_attention_bias = true;
    f.qkv_bias = Presence::if_config;
    f.o_bias = Presence::if_config;
    f.qk_norm = Presence::required;
    return f;
}

}  // namespace achilles::builtin_families
