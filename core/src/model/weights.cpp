// SPDX-License-Identifier: GPL-3.0-or-later
// Weights: zero-copy views over the memory-mapped safetensors, dtype conversion, placement.
//
// Dtype policy (LoadOptions.dtype):
//   auto  on CUDA: the checkpoint's own dtype (bf16 stays bf16, ...).
//   auto  on CPU : float32 compute (CPU half-precision GEMMs are slow and inexact); f32
//                  checkpoints stay zero-copy views of the mapping, so loading adds ~no RSS
//                  beyond the mapped weight bytes.
//   f32 / f16 / bf16: that dtype on any device. bf16 on CPU is honoured (slow); f16 on CPU is an
//                  Error with libtorch 1.x, which has no half-precision CPU matmul.
// Half-precision compute follows HF: RMSNorm statistics and the attention softmax in float32,
// logits returned as float32.
#include "achilles/checkpoint.h"
#include "achilles/error.h"
#include "model/arch.h"
#include <cstring>
#include <set>
#include <torch/cuda.h>
#include <torch/version.h>

namespace achilles {

namespace {

at::ScalarType scalar_of(const TensorView& v) {
    switch (v.dtype) {
        case DType::F32: return at::kFloat;
        case DType::F16: return at::kHalf;
        case DType::BF16: return at::kBFloat16;
        case DType::F64: return at::kDouble;
        default:
            throw Error(v.file, v.name, std::string("tensor dtype ") + dtype_name(v.dtype) +
                                            " is not a floating-point weight type (F32, F16, BF16)");
    }
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string o = "[";
    for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
    return o + "]";
}

at::Tensor view_to_tensor(const TensorView& v, at::ScalarType dtype, const at::Device& device) {
    const at::ScalarType src = scalar_of(v);
    void* ptr = const_cast<std::byte*>(v.data);
    const bool aligned = reinterpret_cast<uintptr_t>(ptr) % at::elementSize(src) == 0;
    if (src == dtype && device.is_cpu() && aligned) {
        // Zero-copy: the deleter holds the mapping alive for as long as the tensor lives.
        std::shared_ptr<const void> owner = v.owner;
        return at::from_blob(ptr, v.shape, [owner](void*) mutable { owner.reset(); },
                             at::TensorOptions().dtype(src));
    }
    at::Tensor raw;
    if (aligned) {
        raw = at::from_blob(ptr, v.shape, at::TensorOptions().dtype(src));
    } else {
        raw = at::empty(v.shape, at::TensorOptions().dtype(src));
        std::memcpy(raw.data_ptr(), ptr, v.nbytes);
    }
    return raw.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
}

bool ignorable(const std::string& name) {
    return name.find("rotary_emb.inv_freq") != std::string::npos;
}

void report_unused(const std::set<std::string>& unused, const std::function<std::string(const std::string&)>& where,
                   std::vector<std::string>& warnings) {
    int shown = 0;
    for (const auto& n : unused) {
        if (shown == 20) {
            warnings.push_back("... and " + std::to_string(unused.size() - 20) + " more unused tensors");
            break;
        }
        warnings.push_back("unused tensor '" + n + "'" + where(n));
        ++shown;
    }
}

at::Device device_for(int layer, const std::vector<at::Device>& layers, at::Device embed, at::Device head) {
    if (layer == -1) return embed;
    if (layer == -2) return head;
    return layers.at(size_t(layer));
}

}  // namespace

at::ScalarType checkpoint_dtype(const Checkpoint& ckpt) {
    if (!find_family(ckpt.config.model_type)) return at::kFloat;
    auto it = ckpt.tensors.find(embed_name(ckpt.config));
    if (it != ckpt.tensors.end()) {
        try {
            at::ScalarType t = scalar_of(it->second);
            return t == at::kDouble ? at::kFloat : t;
        } catch (const Error&) {
        }
    }
    return at::kFloat;
}

void load_weights(const Checkpoint& ckpt, at::ScalarType dtype, const std::vector<at::Device>& layer_devices,
                  at::Device embed_device, at::Device head_device, ModelWeights& w,
                  std::vector<std::string>& warnings, const std::function<void(double)>& on_progress) {
    const ModelConfig& c = ckpt.config;
    std::vector<TensorSlot> slots =
        arch_tensor_slots(c, w, [&](const std::string& n) { return ckpt.tensors.count(n) > 0; });
    const std::string where_missing =
        ckpt.files.size() == 1 ? ckpt.files[0]->path() : ckpt.dir + "/model.safetensors.index.json";
    // Validate everything before converting anything.
    for (const auto& s : slots) {
        auto it = ckpt.tensors.find(s.name);
        if (it == ckpt.tensors.end())
            throw Error(where_missing, s.name,
                        "missing tensor '" + s.name + "' required by model_type " + c.model_type);
        if (it->second.shape != s.shape)
            throw Error(it->second.file, s.name,
                        "tensor '" + s.name + "' has shape " + shape_str(it->second.shape) +
                            " but config.json implies " + shape_str(s.shape));
        (void)scalar_of(it->second);
    }
    std::set<std::string> used;
    size_t done = 0;
    for (const auto& s : slots) {
        const TensorView& v = ckpt.tensors.at(s.name);
        *s.slot = view_to_tensor(v, dtype, device_for(s.layer, layer_devices, embed_device, head_device));
        used.insert(s.name);
        if (on_progress) on_progress(double(++done) / double(slots.size()));
    }
    for (size_t i = 0; i < w.layers.size(); ++i) w.layers[i].device = layer_devices.at(i);
    w.embed_device = embed_device;
    w.head_device = head_device;
    if (c.tie_word_embeddings) {
        w.lm_head = embed_device == head_device ? w.embed : w.embed.to(head_device);
        const std::string head = lm_head_name(c);
        if (ckpt.tensors.count(head)) {
            warnings.push_back(head + " ignored: tie_word_embeddings is true in config.json");
            used.insert(head);
        }
    }
    std::set<std::string> unused;
    for (const auto& [name, view] : ckpt.tensors)
        if (!used.count(name) && !ignorable(name)) unused.insert(name);
    report_unused(unused, [&](const std::string& n) { return " in " + ckpt.tensors.at(n).file; }, warnings);
}

void bind_weights(const ModelConfig& c, const std::map<std::string, at::Tensor>& tensors, ModelWeights& w,
                  std::vector<std::string>& warnings) {
    std::vector<TensorSlot> slots =
        arch_tensor_slots(c, w, [&](const std::string& n) { return tensors.count(n) > 0; });
    std::set<std::string> used;
    for (const auto& s : slots) {
        auto it = tensors.find(s.name);
        if (it == tensors.end())
            throw Error("weights", s.name, "missing tensor '" + s.name + "' required by model_type " + c.model_type);
        std::vector<int64_t> shape(it->second.sizes().begin(), it->second.sizes().end());
        if (shape != s.shape)
            throw Error("weights", s.name,
                        "tensor '" + s.name + "' has shape " + shape_str(shape) + " but the config implies " +
                            shape_str(s.shape));
        *s.slot = it->second;
        used.insert(s.name);
    }
    const at::Device dev = w.embed.device();
    for (auto& L : w.layers) L.device = dev;
    w.embed_device = w.head_device = dev;
    if (c.tie_word_embeddings) {
        w.lm_head = w.embed;
        used.insert(lm_head_name(c));
    }
    std::set<std::string> unused;
    for (const auto& [name, t] : tensors)
        if (!used.count(name) && !ignorable(name)) unused.insert(name);
    report_unused(unused, [](const std::string&) { return std::string(); }, warnings);
}

at::ScalarType parse_dtype_option(const std::string& o) {
    if (o == "auto" || o.empty()) return at::ScalarType::Undefined;
    if (o == "f32" || o == "float32" || o == "fp32") return at::kFloat;
    if (o == "f16" || o == "float16" || o == "fp16") return at::kHalf;
    if (o == "bf16" || o == "bfloat16") return at::kBFloat16;
    throw Error("options", "dtype", "unknown dtype '" + o + "' (expected auto, f32, f16 or bf16)");
}

at::ScalarType compute_dtype(const std::string& option, const at::Device& device, at::ScalarType checkpoint) {
    at::ScalarType t = parse_dtype_option(option);
#if TORCH_VERSION_MAJOR < 2
    if (t == at::kHalf && device.is_cpu())
        throw Error("options", "dtype", "f16 compute on CPU is not supported by libtorch " TORCH_VERSION
                                        " (no half-precision CPU matmul); use f32 or bf16, or a CUDA device");
#endif
    if (t != at::ScalarType::Undefined) return t;
    if (device.is_cpu()) return at::kFloat;
    return checkpoint == at::kDouble ? at::kFloat : checkpoint;
}

std::string dtype_label(at::ScalarType t) {
    switch (t) {
        case at::kFloat: return "f32";
        case at::kHalf: return "f16";
        case at::kBFloat16: return "bf16";
        case at::kDouble: return "f64";
        default: return c10::toString(t);
    }
}

at::Device parse_device(const std::string& d) {
    if (d.empty() || d == "cpu") return at::Device(at::kCPU);
    if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
        int idx = 0;
        if (d.size() > 5) {
            try {
                size_t pos = 0;
                idx = std::stoi(d.substr(5), &pos);
                if (pos != d.size() - 5 || idx < 0) throw std::invalid_argument(d);
            } catch (const std::exception&) {
                throw Error("options", "device", "bad device '" + d + "' (expected cpu, cuda or cuda:N)");
            }
        }
        if (!torch::cuda::is_available())
            throw Error("options", "device", "device '" + d + "' requested but this libtorch has no CUDA support or no GPU is visible");
        const int n = int(torch::cuda::device_count());
        if (idx >= n)
            throw Error("options", "device", "device '" + d + "' requested but only " + std::to_string(n) + " CUDA devices are visible");
        return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(idx));
    }
    throw Error("options", "device", "bad device '" + d + "' (expected cpu, cuda or cuda:N)");
}

}  // namespace achilles
