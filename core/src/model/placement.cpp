// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/placement.h"
#include "achilles/error.h"
#include <cmath>

namespace achilles {

namespace {

// Items in order: embeddings, layers..., head. Returns false when they do not fit.
bool assign(const std::vector<uint64_t>& cap, const std::vector<uint64_t>& items, const std::vector<double>& cum_target,
            std::vector<int>& where, std::vector<uint64_t>& used) {
    const size_t nd = cap.size();
    where.assign(items.size(), -1);
    used.assign(nd, 0);
    size_t d = 0;
    double cum = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        const uint64_t b = items[i];
        for (;;) {
            if (d >= nd) return false;
            const bool fits = used[d] + b <= cap[d];
            // Proportional rule: move on once the item's midpoint passes this device's share.
            const bool within = cum_target.empty() || used[d] == 0 || cum + double(b) / 2 <= cum_target[d];
            if (fits && within) break;
            ++d;
        }
        where[i] = int(d);
        used[d] += b;
        cum += double(b);
    }
    return true;
}

}  // namespace

PlacementPlan plan_placement(const std::vector<uint64_t>& free_bytes, const std::vector<uint64_t>& layer_bytes,
                             uint64_t embed_bytes, uint64_t head_bytes, double usable_fraction) {
    if (free_bytes.empty()) throw Error("placement", "devices", "no devices to place the model on");
    if (layer_bytes.empty()) throw Error("placement", "layers", "the model has no layers");
    if (!(usable_fraction > 0 && usable_fraction <= 1))
        throw Error("placement", "usable_fraction", "must be in (0, 1]");
    std::vector<uint64_t> cap;
    long double cap_total = 0;
    for (uint64_t f : free_bytes) {
        cap.push_back(uint64_t(std::floor((long double)f * usable_fraction)));
        cap_total += cap.back();
    }
    std::vector<uint64_t> items;
    items.push_back(embed_bytes);
    for (uint64_t b : layer_bytes) items.push_back(b);
    items.push_back(head_bytes);
    long double total = 0;
    for (uint64_t b : items) total += b;

    std::vector<int> where;
    std::vector<uint64_t> used;
    bool ok = false;
    if (cap_total > 0 && total <= cap_total) {
        std::vector<double> cum_target;
        long double acc = 0;
        for (uint64_t c : cap) {
            acc += c;
            cum_target.push_back(double(total * acc / cap_total));
        }
        ok = assign(cap, items, cum_target, where, used);
    }
    if (!ok) ok = assign(cap, items, {}, where, used);
    if (!ok) {
        auto gib = [](long double b) { return std::to_string(double(b / (1024.0L * 1024 * 1024))).substr(0, 6); };
        throw Error("placement", "devices",
                    "the model (" + gib(total) + " GiB of weights) does not fit on the given devices (" +
                        gib(cap_total) + " GiB usable)");
    }
    PlacementPlan p;
    p.embed_device = where.front();
    p.head_device = where.back();
    p.layer_device.assign(where.begin() + 1, where.end() - 1);
    p.bytes = used;
    return p;
}

std::string placement_summary(const PlacementPlan& plan, const std::vector<std::string>& names) {
    std::string out;
    size_t i = 0;
    while (i < plan.layer_device.size()) {
        size_t j = i;
        while (j + 1 < plan.layer_device.size() && plan.layer_device[j + 1] == plan.layer_device[i]) ++j;
        const int d = plan.layer_device[i];
        std::string name = d >= 0 && size_t(d) < names.size() ? names[size_t(d)] : "device" + std::to_string(d);
        if (!out.empty()) out += ",";
        out += name + ":L" + std::to_string(i) + "-" + std::to_string(j);
        i = j + 1;
    }
    return out;
}

}  // namespace achilles
