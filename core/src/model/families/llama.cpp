// SPDX-License-Identifier: GPL-3.0-or-later
// Llama 2/3.x, DeepSeek-R1-Distill-Llama (transformers' LlamaConfig / LlamaForCausalLM).
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor llama() {
    FamilyDescriptor f;
    f.model_type = "llama";
    f.defaults = {.bos = {1}, .eos = {2}};
    f.reads_attention_bias = true;   // q/k/v and o_proj biases
    f.reads_mlp_bias = true;         // gate/up/down biases
    f.qkv_bias = Presence::if_config;
    f.o_bias = Presence::if_config;
    f.mlp_bias = Presence::if_config;
    return f;
}

}  // namespace achilles::builtin_families
