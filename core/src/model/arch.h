// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal to core/src/model: the tensor table of a family and the resolved weights of a model.
#include "achilles/config.h"
#include "model/family.h"
#include <ATen/ATen.h>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace achilles {

struct LayerWeights {
    at::Tensor input_norm, post_attn_norm, pre_ff_norm, post_ff_norm;
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, qkv_w;
    at::Tensor q_norm, k_norm;
    at::Tensor gate_w, gate_b, up_w, up_b, down_w, down_b, gate_up_w;
    at::Device device{at::kCPU};
};

struct ModelWeights {
    at::Tensor embed, final_norm, lm_head;  // lm_head == embed when tied
    std::vector<LayerWeights> layers;
    at::Device embed_device{at::kCPU}, head_device{at::kCPU};
};

// One expected tensor: its HF name, shape, the slot it fills and the layer (-1: embed, -2: head).
struct TensorSlot {
    std::string name;
    std::vector<int64_t> shape;
    at::Tensor* slot;
    int layer;
};

// The single table of tensor names: every tensor the family and config call for, with its shape
// (names from the family descriptor). `has` tells whether the checkpoint holds a tensor: it
// decides the Presence::if_present parts; without it those parts are left out.
std::vector<TensorSlot> arch_tensor_slots(const ModelConfig& config, ModelWeights& w,
                                          const std::function<bool(const std::string&)>& has = {});

// HF names of the embedding and lm_head weights of a config's family.
std::string embed_name(const ModelConfig& config);
std::string lm_head_name(const ModelConfig& config);

// Weight conversion: the compute dtype for a device/option/checkpoint dtype.
at::ScalarType compute_dtype(const std::string& option, const at::Device& device, at::ScalarType checkpoint);
at::ScalarType parse_dtype_option(const std::string& option);  // throws Error; auto -> Undefined
std::string dtype_label(at::ScalarType t);                      // f32, f16, bf16
at::Device parse_device(const std::string& device);             // throws Error

}  // namespace achilles

namespace achilles {
struct Checkpoint;

// Loads every tensor of the table from the checkpoint (zero-copy where the dtype and device
// allow), placing layer i on layer_devices[i], embeddings on embed_device, norm/lm_head on
// head_device. Missing / shape mismatch -> Error naming the tensor and the file; unused tensors
// -> warnings.
void load_weights(const Checkpoint& ckpt, at::ScalarType dtype, const std::vector<at::Device>& layer_devices,
                  at::Device embed_device, at::Device head_device, ModelWeights& w,
                  std::vector<std::string>& warnings, const std::function<void(double)>& on_progress = {});
// Binds in-memory tensors (used as given, no copy) to the table; same validation.
void bind_weights(const ModelConfig& config, const std::map<std::string, at::Tensor>& tensors, ModelWeights& w,
                  std::vector<std::string>& warnings);
// Checkpoint dtype of the embeddings (the dtype "auto" keeps on CUDA; float32 when unknown).
at::ScalarType checkpoint_dtype(const Checkpoint& ckpt);
}  // namespace achilles
