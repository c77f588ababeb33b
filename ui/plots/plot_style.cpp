// SPDX-License-Identifier: GPL-3.0-or-later
#include "plots/plot_style.h"
#include <qcustomplot.h>

namespace achilles::ui {

QCPTextElement* stylePlot(QCustomPlot* plot, const QString& title) {
    plot->setAntialiasedElements(QCP::aeAll);
    plot->setNoAntialiasingOnDrag(true);
    plot->setBackground(Qt::white);
    QFont f = plot->font();
    f.setPointSizeF(9.5);
    for (QCPAxis* a : {plot->xAxis, plot->yAxis}) {
        a->setTickLabelFont(f);
        QFont lf = f;
        lf.setPointSizeF(10);
        a->setLabelFont(lf);
        a->grid()->setPen(QPen(QColor(225, 225, 225), 0, Qt::SolidLine));
        a->grid()->setSubGridVisible(false);
    }
    plot->plotLayout()->insertRow(0);
    QFont tf = f;
    tf.setPointSizeF(11);
    tf.setBold(true);
    auto* t = new QCPTextElement(plot, title, tf);
    plot->plotLayout()->addElement(0, 0, t);
    return t;
}

void setPlotHint(QCustomPlot* plot, const QString& text) {
    QCPItemText* hint = nullptr;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (plot->item(i)->objectName() == QLatin1String("hint")) hint = qobject_cast<QCPItemText*>(plot->item(i));
    if (!hint) {
        hint = new QCPItemText(plot);
        hint->setObjectName(QStringLiteral("hint"));
        hint->position->setType(QCPItemPosition::ptAxisRectRatio);
        hint->position->setCoords(0.5, 0.5);
        hint->setPositionAlignment(Qt::AlignCenter);
        hint->setColor(QColor(120, 120, 120));
        QFont f = plot->font();
        f.setPointSizeF(11);
        hint->setFont(f);
        hint->setClipToAxisRect(false);
    }
    hint->setText(text);
    hint->setVisible(!text.isEmpty());
}

QColor seriesColor(int i) {
    static const QColor c[] = {QColor(200, 40, 40), QColor(31, 119, 180), QColor(44, 160, 44),
                               QColor(148, 103, 189), QColor(255, 127, 14), QColor(140, 86, 75)};
    return c[i % 6];
}

void setLegendBelow(QCustomPlot* plot, bool on) {
    QCPLayoutGrid* grid = plot->plotLayout();
    QCPLayoutInset* inset = plot->axisRect()->insetLayout();
    if (on && inset->take(plot->legend)) {
        const int row = grid->rowCount();
        grid->addElement(row, 0, plot->legend);
        grid->setRowStretchFactor(row, 0.001);
        plot->legend->setBorderPen(Qt::NoPen);
        plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    } else if (!on && grid->take(plot->legend)) {
        grid->simplify();
        inset->addElement(plot->legend, Qt::AlignTop | Qt::AlignRight);
    }
    plot->legend->setVisible(on);
}

}  // namespace achilles::ui
