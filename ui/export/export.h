// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Exports: plots to PNG/SVG/PDF at a chosen size and DPI, tables to CSV (the HTML report: report.h).
#include <QString>

class QCustomPlot;
class QAbstractItemModel;
class QWidget;

namespace achilles::ui {

struct PlotExportOptions {
    int width = 1200;   // logical size in points/pixels at 96 dpi
    int height = 800;
    int dpi = 150;      // PNG: pixels = size * dpi / 96
};

// Format from the file suffix (.png, .svg, .pdf). Throws achilles::Error on failure.
void exportPlot(QCustomPlot* plot, const QString& path, const PlotExportOptions& opt = {});
QByteArray plotToSvg(QCustomPlot* plot, int width, int height);
void exportCsv(const QAbstractItemModel* model, const QString& path);  // display text, header row
QString csvField(const QString& s);

// Asks for size and DPI; returns false when cancelled.
bool askPlotExportOptions(QWidget* parent, PlotExportOptions& opt);

}  // namespace achilles::ui
