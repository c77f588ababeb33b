// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The session document "achilles.session/1" (a .achilles file): everything the workbench shows,
// as JSON. Plain functions over value types, usable off the UI thread. The search options and the
// result are written and read by core's serializers (achilles/options.h, achilles/results.h).
//
//   schema, app_version,
//   model {path, device, dtype, fingerprint? {path, config_hash, header_hash}},
//   text, options {core's options object; 64-bit integers as strings}, result (core's result
//   document, or null), masks (a mask spec array), ppl {original, masked},
//   generation {prompt, options, valid, original, masked}, view {panel state}
#include "achilles/engine.h"
#include "achilles/results.h"
#include <QJsonObject>
#include <QString>
#include <optional>
#include <set>

namespace achilles::ui {

inline constexpr const char* kSessionSchema = "achilles.session/1";

struct GenerationState {
    QString prompt = QStringLiteral("Once upon a time");
    GenerateOptions options;
    GenerateResult original, masked;
    bool valid = false;  // both sides complete
    std::optional<ModelFingerprint> model;  // the model that generated them
    int maskedCount = 0;                    // neurons masked on the masked side
};

// A session's content. Also what an achilles-cli result document opens as.
struct SessionState {
    std::optional<SearchResult> result;
    QString text, modelPath, device = QStringLiteral("cpu"), dtype = QStringLiteral("auto");
    SearchOptions options;
    std::set<Neuron> masks;
    GenerationState generation;
    QJsonObject view;
    std::optional<ModelFingerprint> fingerprint;
    double pplOriginal = 0, pplMasked = 0;
    // What the PPL and the masks were computed on ("provenance" in the document; older sessions:
    // the session's fingerprint and, for the PPL, the result's ids when the text is the result's).
    std::optional<ModelFingerprint> pplModel, masksModel;
    std::vector<int> pplIds;
    bool pplIdsKnown = false;
    int pplMaskCount = -1;
};

// The document without its result ("result": null); the result is added by writeSessionFile,
// so that serializing a large result can happen off the UI thread.
QJsonObject sessionToJson(const SessionState& s);
// Parses a session or an achilles-cli result document. Throws Error naming sourceName and the field.
SessionState sessionFromJson(const QJsonObject& doc, const QString& sourceName);

// Atomic (QSaveFile). `result`, when set, becomes the document's "result". Throws Error.
void writeSessionFile(const QString& path, QJsonObject doc, const std::optional<SearchResult>& result);
// Reads a JSON object; throws Error naming the file (unreadable, not JSON, not an object).
QJsonObject readJsonFile(const QString& path);

// Core's result document as a Qt JSON object.
QJsonObject resultJsonObject(const SearchResult& r);

}  // namespace achilles::ui
