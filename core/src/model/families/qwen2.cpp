// SPDX-License-Identifier: GPL-3.0-or-later
// Qwen2 / Qwen2.5, DeepSeek-R1-Distill-Qwen (Qwen2Config): q/k/v always biased, o_proj never;
// the window applies only with use_sliding_window, on layers >= max_window_layers.
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor qwen2() {
    FamilyDescriptor f;
    f.model_type = "qwen2";
    f.defaults = {.kv_heads = 32, .max_position_embeddings = 32768, .sliding_window = 4096,
                  .max_window_layers = 28};
    f.attention_bias_fixed = true;
    f.qkv_bias = Presence::required;
    f.sliding = SlidingPattern::from_max_window_layers;
    return f;
}

}  // namespace achilles::builtin_families
