// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What a number on screen was computed on: the model (its fingerprint) and the probe (its token
// ids). Every result, mask set, generation and perplexity the workbench holds carries one; views
// compare it with the workbench's current one and show the value only when they match, or mark it
// stale and say what it belongs to. Masks are never applied across a model mismatch.
#include "achilles/engine.h"
#include <QString>
#include <optional>
#include <vector>

namespace achilles::ui {

struct Provenance {
    std::optional<ModelFingerprint> model;  // nullopt: no model (nothing computed yet)
    std::vector<int> ids;                   // the probe's token ids as the search and PPL see them
    QString text;                           // the probe text, for naming it (not compared)

    bool hasModel() const { return model.has_value(); }
    // The same checkpoint: the config and tensor-header hashes when both have them, else the fingerprint.
    bool sameModel(const Provenance& o) const;
    bool sameModel(const ModelFingerprint& f) const;
    // Model and probe ids.
    bool matches(const Provenance& o) const { return sameModel(o) && ids == o.ids; }

    // "stories260K" / "embedded default model" / "no model"
    QString modelName() const;
    // "“Once upon a time, …” (85 tokens)"
    QString probeName() const;
    // "stories260K on “Once upon a time, …” (85 tokens)"
    QString describe() const;
};

bool sameModel(const ModelFingerprint& a, const ModelFingerprint& b);
QString modelNameOf(const ModelFingerprint& f);

}  // namespace achilles::ui
