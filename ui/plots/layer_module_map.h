// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The layer × module colour map shared by the Heatmap panel and the Compare panel's paired maps:
// the gradient, the module ticks, the colour-scale range and the max stage-1 importance per cell.
#include "achilles/results.h"
#include <QSharedPointer>
#include <QString>
#include <vector>

class QCustomPlot;
class QCPAxisRect;
class QCPAxisTickerText;
class QCPColorGradient;
class QCPColorMap;
class QCPColorScale;

namespace achilles::ui {

// Light yellow -> orange -> red -> dark red; empty (NaN) cells transparent.
QCPColorGradient heatGradient();
// Tick labels of the 9 modules on the x axis (post_attention_layernorm shortened).
QSharedPointer<QCPAxisTickerText> moduleTicker();
// The colour range of `scale` over the positive values of v (linear from 0, or log from the
// smallest positive value); every map attached to `scale` follows it.
void applyHeatScale(QCPColorScale* scale, const std::vector<double>& v, bool log);
// The layers a result spans: r.layers, or one past the largest ranked layer when r.layers is 0.
int resultLayers(const SearchResult& r);
// layers × 9 (row-major by layer): the largest stage-1 importance of the ranking in each cell.
std::vector<double> maxImportanceCells(const SearchResult& r, int layers);
// Fills `map` (layers × 9) with v, empty cells (<= 0) as NaN, and sets the axes of its rect.
void fillLayerModuleMap(QCPColorMap* map, const std::vector<double>& v, int layers);

}  // namespace achilles::ui
