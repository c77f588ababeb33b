// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal to core: what a loaded Engine holds, and the accessor core/src/analysis (and core's
// tests) use to reach the libtorch model. Not part of the public headers.
#include "achilles/checkpoint.h"
#include "achilles/engine.h"
#include "model/transformer.h"
#include <memory>
#include <vector>

namespace achilles {

struct Engine::Impl {
    Checkpoint checkpoint;
    std::unique_ptr<Tokenizer> tokenizer;
    std::unique_ptr<Transformer> model;
    ModelInfo info;
    std::vector<int> eos_ids;   // config.json + generation_config.json + tokenizer EOS
};

struct EngineAccess {
    static const Transformer& model(const Engine& e) { return *e.impl_->model; }
    static const Checkpoint& checkpoint(const Engine& e) { return e.impl_->checkpoint; }
    // Engine::load's work: checkpoint, model, tokenizer, info (engine.cpp).
    static std::unique_ptr<Engine::Impl> load(const LoadOptions& opt, Progress& progress);
};

}  // namespace achilles
