// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QByteArray>
// Exports: plots to PNG/SVG/PDF at a chosen size and DPI, tables to CSV (the HTML report: report.h).
#include <QString>
#include <utility>
#include <vector>

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
// Several plots as one write: all are rendered, then written together (write_files_atomic); a
// failure leaves every previous file as it was and no empty or partial file behind.
void exportPlots(const std::vector<std::pair<QCustomPlot*, QString>>& plots, const PlotExportOptions& opt = {});
// Writes bytes atomically and checked to the end (core's write_file_atomic); throws Error.
void writeWhole(const QString& path, const QByteArray& bytes);
QByteArray plotToSvg(QCustomPlot* plot, int width, int height);
// A plot item with this property set to true is drawn on screen only, never exported.
inline constexpr const char* kUiOnlyProperty = "achillesUiOnly";
// A model's exact value for CSV (full precision), where it differs from the display text.
inline constexpr int kCsvRole = 0x0100 + 2;  // Qt::UserRole + 2
void exportCsv(const QAbstractItemModel* model, const QString& path);  // kCsvRole or display text, header row
QString csvField(const QString& s);

// Asks for size and DPI; returns false when cancelled.
bool askPlotExportOptions(QWidget* parent, PlotExportOptions& opt);

}  // namespace achilles::ui
