// SPDX-License-Identifier: GPL-3.0-or-later
// Gemma 1 (GemmaConfig): (1 + w) RMSNorm, embeddings x sqrt(hidden), GELU-tanh, tied head.
// The activation comes from hidden_activation only: the legacy hidden_act "gelu" of the Gemma 1
// configs is ignored (transformers 4.38-4.47 behaviour, the activation the models were trained
// with; later transformers read hidden_act again, which upstream reports as a regression).
#include "model/families/families.h"

namespace achilles::builtin_families {

FamilyDescriptor gemma() {
    FamilyDescriptor f;
    f.model_type = "gemma";
    f.defaults = {.kv_heads = 16, .head_dim = 256, .max_position_embeddings = 8192, .tie = true,
                  .act = "gelu_pytorch_tanh", .bos = {2}, .eos = {1}, .pad = 0};
    f.activation_keys = {"hidden_activation"};
    f.reads_attention_bias = true;
    f.qkv_bias = Presence::if_config;
    f.o_bias = Presence::if_config;
    f.norm = NormStyle::rms_one_plus;
    f.embed_scale = true;
    f.forced_activation = "gelu_pytorch_tanh";
    return f;
}

}  // namespace achilles::builtin_families
