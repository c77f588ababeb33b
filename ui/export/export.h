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

// screen: the plots as the window draws them. paper: the fonts journals ask for at the printed size
// (tick labels 8 pt, axis labels, legend and title 9 pt), thinner lines; with paperOptions()'s sizes
// a figure is printed 1:1 in a column.
enum class FigureStyle { screen, paper };

struct PlotExportOptions {
    int width = 1200;   // logical size in 1/96 inch (pixels at 96 DPI); SVG and PDF: width/96 in
    int height = 800;
    int dpi = 150;      // PNG: pixels = size * dpi / 96
    FigureStyle style = FigureStyle::screen;
};

// The paper presets: single column 3.5 in (89 mm) × 2.6 in, double column 7.2 in (183 mm) × 3.6 in,
// PNG at 600 DPI, paper style (SVG and PDF are vector at that physical size).
PlotExportOptions paperOptions(bool doubleColumn);
// "screen", "paper" (single column), "paper-double"; throws Error on another name.
PlotExportOptions figureOptionsByName(const QString& name);

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
