// SPDX-License-Identifier: GPL-3.0-or-later
// Gemma 2 (Gemma2Config): Gemma 1 plus sandwich norms, attention and final logit soft-capping,
// query_pre_attn_scalar as the attention scale and a sliding window on even layers.
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor gemma2() {
    FamilyDescriptor f = gemma();
    f.model_type = "gemma2";
    f.defaults.kv_heads = 4;
    f.defaults.sliding_window = 4096;
    f.activation_keys = {"hidden_activation", "hidden_act"};
    f.soft_capping = true;
    f.sandwich_norms = Presence::required;
    f.sliding = SlidingPattern::even_layers;
    return f;
}

}  // namespace achilles::builtin_families
