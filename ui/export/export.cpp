// SPDX-License-Identifier: GPL-3.0-or-later
#include "export/export.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include <QImage>
#include <QPageSize>
#include <QPdfWriter>
#include <QAbstractItemModel>
#include <QBuffer>
#include <QDialog>
#include <QLabel>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QSaveFile>
#include <QSpinBox>
#include <QComboBox>
#include <functional>
#include <QSvgGenerator>
#include <qcustomplot.h>
#include <cmath>

namespace achilles::ui {

namespace {
// Items marked as UI-only (the heatmap's selection rectangle) are hidden while a plot is exported.
struct HideUiOnlyItems {
    std::vector<QCPAbstractItem*> hidden;
    explicit HideUiOnlyItems(QCustomPlot* p) {
        for (int i = 0; i < p->itemCount(); ++i)
            if (QCPAbstractItem* it = p->item(i); it->visible() && it->property(kUiOnlyProperty).toBool()) {
                it->setVisible(false);
                hidden.push_back(it);
            }
    }
    ~HideUiOnlyItems() {
        for (QCPAbstractItem* it : hidden) it->setVisible(true);
    }
};

// The paper style while a plot is rendered: fonts at their printed sizes, thinner lines;
// everything is put back afterwards.
class PaperStyle {
public:
    PaperStyle(QCustomPlot* p, bool on) {
        if (!on) return;
        QFont base = p->font();
        auto sized = [&](QFont f, double pt, bool bold = false) {
            f.setFamily(base.family());
            f.setPointSizeF(pt);
            f.setBold(bold);
            return f;
        };
        auto axis = [&](QCPAxis* a) {
            if (!a) return;
            const QFont tf = a->tickLabelFont(), lf = a->labelFont();
            const QPen bp = a->basePen(), tp = a->tickPen(), sp = a->subTickPen();
            const int tl = a->tickLengthIn(), stl = a->subTickLengthIn();
            undo_.push_back([=] {
                a->setTickLabelFont(tf);
                a->setLabelFont(lf);
                a->setBasePen(bp);
                a->setTickPen(tp);
                a->setSubTickPen(sp);
                a->setTickLengthIn(tl);
                a->setSubTickLengthIn(stl);
            });
            a->setTickLabelFont(sized(tf, 8));
            a->setLabelFont(sized(lf, 9));
            QPen thin = bp;
            thin.setWidthF(0.75);
            a->setBasePen(thin);
            QPen t = tp;
            t.setWidthF(0.75);
            a->setTickPen(t);
            QPen st = sp;
            st.setWidthF(0.5);
            a->setSubTickPen(st);
            a->setTickLengthIn(3);
            a->setSubTickLengthIn(2);
        };
        for (QCPLayoutElement* e : p->plotLayout()->elements(true)) {
            if (auto* r = qobject_cast<QCPAxisRect*>(e)) {
                for (QCPAxis* a : r->axes()) axis(a);
            } else if (auto* cs = qobject_cast<QCPColorScale*>(e)) {
                axis(cs->axis());
                const int bw = cs->barWidth();
                undo_.push_back([cs, bw] { cs->setBarWidth(bw); });
                cs->setBarWidth(std::max(6, bw * 2 / 3));
            } else if (auto* t = qobject_cast<QCPTextElement*>(e)) {
                const QFont f = t->font();
                undo_.push_back([t, f] { t->setFont(f); });
                t->setFont(sized(f, 9, true));
            } else if (auto* l = qobject_cast<QCPLegend*>(e)) {
                const QFont f = l->font();
                const QSize icon = l->iconSize();
                undo_.push_back([l, f, icon] {
                    l->setFont(f);
                    for (int i = 0; i < l->itemCount(); ++i) l->item(i)->setFont(f);
                    l->setIconSize(icon);
                });
                const QFont nf = sized(f, 8);
                l->setFont(nf);
                for (int i = 0; i < l->itemCount(); ++i) l->item(i)->setFont(nf);
                l->setIconSize(QSize(20, 9));
            }
        }
        for (int i = 0; i < p->itemCount(); ++i)
            if (auto* t = qobject_cast<QCPItemText*>(p->item(i))) {
                const QFont f = t->font();
                const QString text = t->text();
                undo_.push_back([t, f, text] {
                    t->setFont(f);
                    t->setText(text);
                });
                t->setFont(sized(f, 6.5, f.bold()));  // in-plot notes: the smallest text journals take
                // A long note centred on its anchor (the n* label) in two lines, to fit a column;
                // notes that sit on a line (above or below it) keep one line.
                if (text.size() > 36 && !text.contains(QLatin1Char('\n')) && (t->positionAlignment() & Qt::AlignVCenter)) {
                    const int mid = int(text.size()) / 2;
                    int cut = int(text.lastIndexOf(QLatin1Char(' '), mid));
                    const int after = int(text.indexOf(QLatin1Char(' '), mid));
                    if (cut < 0 || (after >= 0 && after - mid < mid - cut)) cut = after;
                    if (cut > 0) t->setText(text.left(cut) + QLatin1Char('\n') + text.mid(cut + 1));
                }
            }
        for (int i = 0; i < p->graphCount(); ++i) {
            QCPGraph* g = p->graph(i);
            const QPen pen = g->pen();
            const QCPScatterStyle sc = g->scatterStyle();
            undo_.push_back([g, pen, sc] {
                g->setPen(pen);
                g->setScatterStyle(sc);
            });
            QPen np = pen;
            np.setWidthF(std::min(pen.widthF(), 1.25));
            g->setPen(np);
            QCPScatterStyle ns = sc;
            ns.setSize(std::min(sc.size(), 3.5));
            g->setScatterStyle(ns);
        }
    }
    ~PaperStyle() {
        for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
    }
    PaperStyle(const PaperStyle&) = delete;
    PaperStyle& operator=(const PaperStyle&) = delete;

private:
    std::vector<std::function<void()>> undo_;
};

// SVG and PDF draw colour maps as one filled rectangle per cell instead of QCPColorMap's bitmap
// (sharp at any zoom); maps with more data cells than kMaxVectorCells stay bitmaps.
constexpr int kMaxVectorCells = 40000;
struct VectorCells {
    QCustomPlot* plot;
    std::vector<QCPAbstractItem*> added;
    std::vector<QCPColorMap*> hidden;
    explicit VectorCells(QCustomPlot* p) : plot(p) {
        for (int i = 0; i < p->plottableCount(); ++i) {
            auto* m = qobject_cast<QCPColorMap*>(p->plottable(i));
            if (!m || !m->visible()) continue;
            QCPColorMapData* d = m->data();
            const int nx = d->keySize(), ny = d->valueSize();
            int cells = 0;
            for (int x = 0; x < nx; ++x)
                for (int y = 0; y < ny; ++y) cells += std::isfinite(d->cell(x, y)) ? 1 : 0;
            if (cells == 0 || cells > kMaxVectorCells) continue;
            const QCPRange kr = d->keyRange(), vr = d->valueRange();
            const double dx = nx > 1 ? kr.size() / (nx - 1) : 1.0, dy = ny > 1 ? vr.size() / (ny - 1) : 1.0;
            QCPColorGradient g = m->gradient();
            const bool log = m->dataScaleType() == QCPAxis::stLogarithmic;
            for (int x = 0; x < nx; ++x)
                for (int y = 0; y < ny; ++y) {
                    const double v = d->cell(x, y);
                    if (!std::isfinite(v)) continue;
                    const double key = kr.lower + x * dx, value = vr.lower + y * dy;
                    auto* r = new QCPItemRect(p);
                    r->setLayer(m->layer());
                    r->setClipAxisRect(m->keyAxis()->axisRect());
                    for (QCPItemPosition* pos : {r->topLeft, r->bottomRight}) pos->setAxes(m->keyAxis(), m->valueAxis());
                    r->topLeft->setCoords(key - dx / 2, value + dy / 2);
                    r->bottomRight->setCoords(key + dx / 2, value - dy / 2);
                    const QColor c = QColor::fromRgba(g.color(v, m->dataRange(), log));
                    r->setPen(QPen(c, 0));  // hairline in the cell's colour: no seams between cells
                    r->setBrush(c);
                    added.push_back(r);
                }
            m->setVisible(false);
            hidden.push_back(m);
        }
    }
    ~VectorCells() {
        for (QCPAbstractItem* it : added) plot->removeItem(it);
        for (QCPColorMap* m : hidden) m->setVisible(true);
    }
};
}  // namespace

QByteArray plotToSvg(QCustomPlot* plot, int width, int height) {
    const HideUiOnlyItems uiOnly(plot);
    const VectorCells cells(plot);
    QBuffer buf;
    buf.open(QIODevice::WriteOnly);
    QSvgGenerator gen;
    gen.setOutputDevice(&buf);
    gen.setSize(QSize(width, height));
    gen.setViewBox(QRect(0, 0, width, height));
    gen.setResolution(96);
    gen.setTitle(plot->objectName());
    gen.setDescription(QStringLiteral("Achilles Workbench plot"));
    QCPPainter painter;
    painter.begin(&gen);
    plot->toPainter(&painter, width, height);
    painter.end();
    return buf.data();
}

namespace {

// The bytes of one plot in the format of the path's suffix, rendered in memory so that the file
// itself is written once, atomically, and never left empty or half-written.
QByteArray renderPlot(QCustomPlot* plot, const QString& path, const PlotExportOptions& opt) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    const std::string file = path.toStdString();
    if (opt.width < 16 || opt.height < 16 || opt.width > 20000 || opt.height > 20000)
        throw Error(file, "size", "must be between 16 and 20000");
    if (opt.dpi < 24 || opt.dpi > 1200) throw Error(file, "dpi", "must be between 24 and 1200");
    const HideUiOnlyItems uiOnly(plot);
    const PaperStyle paper(plot, opt.style == FigureStyle::paper);
    QByteArray bytes;
    if (suffix == QLatin1String("png")) {
        const QImage img = plot->toPixmap(opt.width, opt.height, opt.dpi / 96.0).toImage();
        QImage out = img;
        const int dpm = int(opt.dpi / 0.0254 + 0.5);
        out.setDotsPerMeterX(dpm);
        out.setDotsPerMeterY(dpm);
        QBuffer buf(&bytes);
        buf.open(QIODevice::WriteOnly);
        if (img.isNull() || !out.save(&buf, "PNG")) throw Error(file, "", "the PNG could not be rendered");
    } else if (suffix == QLatin1String("pdf")) {
        QBuffer buf(&bytes);
        buf.open(QIODevice::WriteOnly);
        QPdfWriter pdf(&buf);
        pdf.setCreator(QStringLiteral("Achilles Workbench"));
        pdf.setTitle(plot->objectName());
        // 96 units per inch, like the SVG and the PNG's logical size: a page of width/96 in, and
        // fonts come out at their point size (a 1200-DPI writer under a window transform drew
        // them 12.5 times too large).
        pdf.setResolution(96);
        pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
        pdf.setPageSize(QPageSize(QSizeF(opt.width / 96.0, opt.height / 96.0), QPageSize::Inch));
        const VectorCells cells(plot);
        QCPPainter painter;
        if (!painter.begin(&pdf)) throw Error(file, "", "the PDF could not be rendered");
        painter.setMode(QCPPainter::pmVectorized);
        plot->toPainter(&painter, opt.width, opt.height);
        painter.end();
    } else if (suffix == QLatin1String("svg")) {
        bytes = plotToSvg(plot, opt.width, opt.height);
    } else {
        throw Error(file, "format", "unknown plot format '." + suffix.toStdString() + "' (use .png, .svg or .pdf)");
    }
    if (bytes.isEmpty()) throw Error(file, "", "rendering gave no data");
    return bytes;
}
}  // namespace

void exportPlot(QCustomPlot* plot, const QString& path, const PlotExportOptions& opt) {
    exportPlots({{plot, path}}, opt);
}

void exportPlots(const std::vector<std::pair<QCustomPlot*, QString>>& plots, const PlotExportOptions& opt) {
    std::vector<QByteArray> bytes;
    std::vector<std::string> paths;
    bytes.reserve(plots.size());
    for (const auto& [plot, path] : plots) {
        bytes.push_back(renderPlot(plot, path, opt));
        paths.push_back(path.toStdString());
    }
    std::vector<FileContents> files;
    for (size_t i = 0; i < plots.size(); ++i)
        files.push_back({paths[i], std::string_view(bytes[i].constData(), size_t(bytes[i].size()))});
    write_files_atomic(files);  // all or nothing: no empty PNG, no half of a figure set
}

void writeWhole(const QString& path, const QByteArray& bytes) {
    write_file_atomic(path.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

QString csvField(const QString& s) {
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')) || s.contains(QLatin1Char('\n'))) {
        QString q = s;
        q.replace(QLatin1String("\""), QLatin1String("\"\""));
        return QLatin1Char('"') + q + QLatin1Char('"');
    }
    return s;
}

void exportCsv(const QAbstractItemModel* model, const QString& path) {
    QSaveFile f(path);  // only to refuse an unwritable place before the table is assembled
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text))
        throw Error(path.toStdString(), "", "cannot be written: " + f.errorString().toStdString());
    QByteArray out;
    const int cols = model->columnCount();
    QStringList header;
    for (int c = 0; c < cols; ++c) header << csvField(model->headerData(c, Qt::Horizontal).toString());
    out += header.join(QLatin1Char(',')).toUtf8() + '\n';
    for (int r = 0; r < model->rowCount(); ++r) {
        QStringList row;
        for (int c = 0; c < cols; ++c) {
            const QModelIndex i = model->index(r, c);
            QVariant v = model->data(i, kCsvRole);
            if (!v.isValid()) v = model->data(i, Qt::DisplayRole);
            if (!v.isValid()) {
                const QVariant cs = model->data(i, Qt::CheckStateRole);
                if (cs.isValid()) v = cs.toInt() == Qt::Checked ? 1 : 0;
            }
            row << csvField(v.toString());
        }
        out += row.join(QLatin1Char(',')).toUtf8() + '\n';
    }
    f.cancelWriting();
    writeWhole(path, out);
}

PlotExportOptions paperOptions(bool doubleColumn) {
    PlotExportOptions o;
    o.width = doubleColumn ? 691 : 336;   // 7.2 in (183 mm) : 3.5 in (89 mm), at 96 per inch
    o.height = doubleColumn ? 346 : 250;  // 3.6 in : 2.6 in
    o.dpi = 600;
    o.style = FigureStyle::paper;
    return o;
}

PlotExportOptions figureOptionsByName(const QString& name) {
    if (name == QLatin1String("screen")) return PlotExportOptions{};
    if (name == QLatin1String("paper") || name == QLatin1String("paper-single")) return paperOptions(false);
    if (name == QLatin1String("paper-double")) return paperOptions(true);
    throw Error("--figure-style", "style", "unknown figure style '" + name.toStdString() + "' (use screen, paper or paper-double)");
}

bool askPlotExportOptions(QWidget* parent, PlotExportOptions& opt) {
    QDialog dlg(parent);
    dlg.setObjectName(QStringLiteral("exportSizeDialog"));
    dlg.setWindowTitle(QObject::tr("Export size"));
    auto* form = new QFormLayout(&dlg);
    auto* preset = new QComboBox(&dlg);
    preset->setObjectName(QStringLiteral("figureStyle"));
    preset->addItem(QObject::tr("Screen (as drawn in the window)"), 0);
    preset->addItem(QObject::tr("Paper, single column (3.5 in / 89 mm, 8–9 pt, 600 DPI)"), 1);
    preset->addItem(QObject::tr("Paper, double column (7.2 in / 183 mm, 8–9 pt, 600 DPI)"), 2);
    preset->addItem(QObject::tr("Paper style, custom size"), 3);
    preset->setToolTip(QObject::tr("Paper: fonts at the printed size journals ask for (8 pt ticks, 9 pt labels), thin lines; "
                                   "SVG and PDF are vector at that physical size."));
    form->addRow(QObject::tr("Style"), preset);
    auto* w = new QSpinBox(&dlg);
    w->setRange(16, 20000);
    w->setValue(opt.width);
    auto* h = new QSpinBox(&dlg);
    h->setRange(16, 20000);
    h->setValue(opt.height);
    auto* dpi = new QSpinBox(&dlg);
    dpi->setRange(24, 1200);
    dpi->setValue(opt.dpi);
    dpi->setToolTip(QObject::tr("PNG resolution: pixels = size × DPI / 96. SVG and PDF are vector."));
    // The size is logical (1/96 inch units): a PNG gets size × DPI / 96 pixels, SVG and PDF keep it.
    w->setSuffix(QObject::tr(" px @96 DPI"));
    h->setSuffix(QObject::tr(" px @96 DPI"));
    auto* out = new QLabel(&dlg);
    out->setObjectName(QStringLiteral("pngSize"));
    auto update = [=] {
        out->setText(QObject::tr("PNG: %1 × %2 pixels · SVG/PDF: %3 × %4 pt")
                         .arg(qRound(w->value() * dpi->value() / 96.0))
                         .arg(qRound(h->value() * dpi->value() / 96.0))
                         .arg(qRound(w->value() * 0.75))
                         .arg(qRound(h->value() * 0.75)));
    };
    for (QSpinBox* s : {w, h, dpi}) QObject::connect(s, &QSpinBox::valueChanged, &dlg, update);
    auto inches = [=] {
        out->setToolTip(QObject::tr("%1 × %2 in (%3 × %4 mm)")
                            .arg(w->value() / 96.0, 0, 'f', 2)
                            .arg(h->value() / 96.0, 0, 'f', 2)
                            .arg(w->value() / 96.0 * 25.4, 0, 'f', 0)
                            .arg(h->value() / 96.0 * 25.4, 0, 'f', 0));
    };
    for (QSpinBox* s : {w, h}) QObject::connect(s, &QSpinBox::valueChanged, &dlg, inches);
    QObject::connect(preset, &QComboBox::currentIndexChanged, &dlg, [=](int i) {
        if (i == 1 || i == 2) {
            const PlotExportOptions p = paperOptions(i == 2);
            w->setValue(p.width);
            h->setValue(p.height);
            dpi->setValue(p.dpi);
        }
    });
    preset->setCurrentIndex(opt.style == FigureStyle::paper ? 3 : 0);
    update();
    inches();
    form->addRow(QObject::tr("Width"), w);
    form->addRow(QObject::tr("Height"), h);
    form->addRow(QObject::tr("DPI (PNG)"), dpi);
    form->addRow(QObject::tr("Output"), out);
    auto* bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    form->addRow(bb);
    QObject::connect(bb, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    QObject::connect(bb, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    if (dlg.exec() != QDialog::Accepted) return false;
    opt.width = w->value();
    opt.height = h->value();
    opt.dpi = dpi->value();
    opt.style = preset->currentIndex() == 0 ? FigureStyle::screen : FigureStyle::paper;
    return true;
}

}  // namespace achilles::ui
