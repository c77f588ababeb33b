// SPDX-License-Identifier: GPL-3.0-or-later
// The family registry and the one sliding-window rule.
#include "model/family.h"
#include "achilles/config.h"
#include "achilles/error.h"
#include "model/families/families.h"
#include <deque>
#include <mutex>

namespace achilles {

namespace {

struct Registry {
    std::mutex mu;
    std::deque<FamilyDescriptor> store;  // stable addresses
    std::vector<const FamilyDescriptor*> list;
    Registry() {
        for (auto make : {builtin_families::llama, builtin_families::mistral, builtin_families::qwen2, builtin_families::qwen3, builtin_families::gemma,
                          builtin_families::gemma2, builtin_families::phi3})
            list.push_back(&store.emplace_back(make()));
    }
};

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

const std::vector<const FamilyDescriptor*>& families() { return registry().list; }

const FamilyDescriptor* find_family(const std::string& model_type) {
    for (const FamilyDescriptor* f : families())
        if (f->model_type == model_type) return f;
    return nullptr;
}

const FamilyDescriptor& family_of(const ModelConfig& config) {
    if (const FamilyDescriptor* f = find_family(config.model_type)) return *f;
    std::string known;
    for (const FamilyDescriptor* f : families()) known += (known.empty() ? "" : ", ") + f->model_type;
    throw Error(config.source_path.empty() ? std::string("config.json") : config.source_path, "model_type",
                "unsupported model_type '" + config.model_type + "' (supported: " + known + ")");
}

void register_family(FamilyDescriptor descriptor) {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    if (descriptor.model_type.empty()) throw Error("families", "model_type", "a family needs a model_type");
    if (find_family(descriptor.model_type))
        throw Error("families", "model_type", "model_type '" + descriptor.model_type + "' is already registered");
    r.list.push_back(&r.store.emplace_back(std::move(descriptor)));
}

bool pattern_slides(const FamilyDescriptor& f, const ModelConfig& c, int layer) {
    if (c.sliding_window <= 0) return false;
    switch (f.sliding) {
        case SlidingPattern::none: return false;
        case SlidingPattern::all_layers: return true;
        case SlidingPattern::even_layers: return layer % 2 == 0;
        case SlidingPattern::from_max_window_layers: return c.use_sliding_window && layer >= c.max_window_layers;
    }
    return false;
}

std::vector<int> layer_windows(const FamilyDescriptor& f, const ModelConfig& c) {
    std::vector<int> w(size_t(std::max(0, c.num_hidden_layers)), 0);
    if (c.sliding_window <= 0) return w;
    const bool listed = c.layer_types.size() == w.size();
    for (size_t i = 0; i < w.size(); ++i) {
        const bool slides = listed ? c.layer_types[i] == "sliding_attention" : pattern_slides(f, c, int(i));
        if (slides) w[i] = c.sliding_window;
    }
    return w;
}

bool required_by(Presence p, bool config_flag) {
    return p == Presence::required || (p == Presence::if_config && config_flag);
}

}  // namespace achilles
