// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QColor>
#include <QString>

class QCustomPlot;
class QCPTextElement;

namespace achilles::ui {
// Common look: fonts, grid, white background, antialiasing, title element.
QCPTextElement* stylePlot(QCustomPlot* plot, const QString& title);
// A centred hint shown over an empty plot (nullptr-safe); hidden when text is empty.
void setPlotHint(QCustomPlot* plot, const QString& text);
QColor seriesColor(int i);
// The legend in its own row under the axes (on: never covers the data), or hidden and out of the
// layout (off: an empty legend row would squeeze the axes).
void setLegendBelow(QCustomPlot* plot, bool on);
}  // namespace achilles::ui
