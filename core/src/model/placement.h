// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Layer-wise placement of a model across several devices. Plain C++ (no torch), unit-tested.
#include <cstdint>
#include <string>
#include <vector>

namespace achilles {

struct PlacementPlan {
    int embed_device = 0;               // index into the device list
    std::vector<int> layer_device;      // per decoder layer, non-decreasing
    int head_device = 0;                // final norm + lm_head; >= the last layer's device
    std::vector<uint64_t> bytes;        // planned bytes per device
};

// Splits embeddings, layers (in order) and the head over devices in order. Each device d may hold
// at most free_bytes[d] * usable_fraction. Layers are spread in proportion to each device's usable
// memory when that fits, else packed greedily. Throws achilles::Error when the model does not fit
// (or on empty inputs).
PlacementPlan plan_placement(const std::vector<uint64_t>& free_bytes, const std::vector<uint64_t>& layer_bytes,
                             uint64_t embed_bytes, uint64_t head_bytes, double usable_fraction = 0.9);

// "cuda:0:2-5,cuda:1:6-9"-style summary: device name with its layer range.
std::string placement_summary(const PlacementPlan& plan, const std::vector<std::string>& device_names);

}  // namespace achilles
