// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The HTML report: model, options and critical sets as tables, the heatmap and phase-transition
// plots as inline SVG, the critical neurons and the generations. Written atomically.
#include "achilles/results.h"
#include <QString>
#include <cstddef>

class QCustomPlot;

namespace achilles::ui {

struct GenerationState;

struct ReportInput {
    const SearchResult* result = nullptr;           // required
    const GenerationState* generation = nullptr;    // shown when valid
    size_t maskedNeurons = 0;                       // masked while generating
    QCustomPlot* heatmap = nullptr;
    QCustomPlot* phase = nullptr;
};

// Throws achilles::Error naming the file when it cannot be written.
void writeHtmlReport(const QString& path, const ReportInput& in);

}  // namespace achilles::ui
