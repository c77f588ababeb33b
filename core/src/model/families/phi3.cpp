// SPDX-License-Identifier: GPL-3.0-or-later
// Phi-3 / Phi-3.5 (Phi3Config): fused qkv_proj and gate_up_proj, partial rotary, longrope.
// A sliding window, when set, applies to every layer (transformers' Phi3Model mask).
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor phi3() {
    FamilyDescriptor f;
    f.model_type = "phi3";
    f.defaults = {.rms_norm_eps = 1e-5, .max_position_embeddings = 4096, .bos = {1}, .eos = {32000},
                  .pad = 32000};
    f.partial_rotary = true;
    f.longrope_only = true;
    f.fused_qkv = true;
    f.fused_gate_up = true;
    f.sliding = SlidingPattern::all_layers;
    return f;
}

}  // namespace achilles::builtin_families
