// SPDX-License-Identifier: GPL-3.0-or-later
#include "export/export.h"
#include "achilles/error.h"
#include <QAbstractItemModel>
#include <QBuffer>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QSaveFile>
#include <QSpinBox>
#include <QSvgGenerator>
#include <qcustomplot.h>

namespace achilles::ui {

QByteArray plotToSvg(QCustomPlot* plot, int width, int height) {
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

void exportPlot(QCustomPlot* plot, const QString& path, const PlotExportOptions& opt) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    const std::string file = path.toStdString();
    if (opt.width < 16 || opt.height < 16 || opt.width > 20000 || opt.height > 20000)
        throw Error(file, "size", "must be between 16 and 20000");
    if (opt.dpi < 24 || opt.dpi > 1200) throw Error(file, "dpi", "must be between 24 and 1200");
    bool ok = false;
    if (suffix == QLatin1String("png")) {
        ok = plot->savePng(path, opt.width, opt.height, opt.dpi / 96.0, -1, opt.dpi, QCP::ruDotsPerInch);
    } else if (suffix == QLatin1String("pdf")) {
        ok = plot->savePdf(path, opt.width, opt.height, QCP::epNoCosmetic, QStringLiteral("Achilles Workbench"),
                           plot->objectName());
    } else if (suffix == QLatin1String("svg")) {
        QSaveFile f(path);
        ok = f.open(QIODevice::WriteOnly) && f.write(plotToSvg(plot, opt.width, opt.height)) > 0 && f.commit();
    } else {
        throw Error(file, "format", "unknown plot format '." + suffix.toStdString() + "' (use .png, .svg or .pdf)");
    }
    if (!ok) throw Error(file, "", "could not be written");
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
    QSaveFile f(path);
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
            QVariant v = model->data(i, Qt::DisplayRole);
            if (!v.isValid()) {
                const QVariant cs = model->data(i, Qt::CheckStateRole);
                if (cs.isValid()) v = cs.toInt() == Qt::Checked ? 1 : 0;
            }
            row << csvField(v.toString());
        }
        out += row.join(QLatin1Char(',')).toUtf8() + '\n';
    }
    f.write(out);
    if (!f.commit()) throw Error(path.toStdString(), "", "could not be saved");
}

bool askPlotExportOptions(QWidget* parent, PlotExportOptions& opt) {
    QDialog dlg(parent);
    dlg.setWindowTitle(QObject::tr("Export size"));
    auto* form = new QFormLayout(&dlg);
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
    form->addRow(QObject::tr("Width"), w);
    form->addRow(QObject::tr("Height"), h);
    form->addRow(QObject::tr("DPI (PNG)"), dpi);
    auto* bb = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    form->addRow(bb);
    QObject::connect(bb, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    QObject::connect(bb, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    if (dlg.exec() != QDialog::Accepted) return false;
    opt.width = w->value();
    opt.height = h->value();
    opt.dpi = dpi->value();
    return true;
}

}  // namespace achilles::ui
