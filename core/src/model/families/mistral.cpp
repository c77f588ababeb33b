// SPDX-License-Identifier: GPL-3.0-or-later
// Mistral 7B and derivatives (MistralConfig): no biases, a sliding window on every layer.
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor mistral() {
    FamilyDescriptor f;
    f.model_type = "mistral";
    f.defaults = {.kv_heads = 8, .max_position_embeddings = 4096 * 32, .bos = {1}, .eos = {2},
                  .sliding_window = 4096};
    f.sliding = SlidingPattern::all_layers;
    return f;
}

}  // namespace achilles::builtin_families
