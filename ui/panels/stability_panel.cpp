// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/stability_panel.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "plots/plot_style.h"
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number(const QJsonValue& v) {
    if (v.isDouble()) return v.toDouble();
    const QString s = v.toString();
    if (s == QLatin1String("inf")) return std::numeric_limits<double>::infinity();
    if (s == QLatin1String("-inf")) return -std::numeric_limits<double>::infinity();
    return kNaN;
}
QString neuronText(const QJsonObject& o) {
    return QStringLiteral("L%1.%2:%3").arg(o.value("layer").toInt()).arg(o.value("module").toString()).arg(o.value("channel").toInt());
}
QStringList neurons(const QJsonValue& v) {
    QStringList out;
    for (const QJsonValue& n : v.toArray()) out << neuronText(n.toObject());
    return out;
}
QTableWidget* table(QWidget* parent, const QStringList& headers) {
    auto* t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->verticalHeader()->setVisible(false);
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setAlternatingRowColors(true);
    t->setMinimumHeight(80);
    return t;
}
void setRow(QTableWidget* t, const QStringList& cells) {
    const int row = t->rowCount();
    t->insertRow(row);
    for (int c = 0; c < cells.size(); ++c) {
        auto* it = new QTableWidgetItem(cells[c]);
        if (c > 0) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        t->setItem(row, c, it);
    }
}
}  // namespace

StabilityDoc readStabilityDoc(const QString& path) {
    const std::string p = path.toStdString();
    const std::string text = read_file(p);
    QJsonParseError pe;
    const QJsonDocument d = QJsonDocument::fromJson(QByteArray::fromStdString(text), &pe);
    if (pe.error != QJsonParseError::NoError) throw Error(p, "", "not JSON: " + pe.errorString().toStdString());
    const QJsonObject o = d.object();
    if (o.value("schema").toString() != QLatin1String("achilles.stability/1"))
        throw Error(p, "schema", "expected \"achilles.stability/1\", got \"" + o.value("schema").toString().toStdString() + "\"");
    StabilityDoc doc;
    doc.source = path;
    doc.model = o.value("model").toString();
    for (const QJsonValue& v : o.value("runs").toArray()) {
        const QJsonObject r = v.toObject();
        doc.runs.push_back({r.value("label").toString(), r.value("probe").toString(), int(r.value("set").toArray().size()),
                            r.value("tokens").toInt(), number(r.value("delta")), r.value("reached").toBool()});
    }
    const QJsonArray jac = o.value("jaccard").toArray();
    if (size_t(jac.size()) != doc.runs.size()) throw Error(p, "jaccard", "must be a runs x runs matrix");
    for (int i = 0; i < jac.size(); ++i) {
        const QJsonArray row = jac[i].toArray();
        if (size_t(row.size()) != doc.runs.size()) throw Error(p, "jaccard[" + std::to_string(i) + "]", "must have one value per run");
        std::vector<double> r;
        for (const QJsonValue& x : row) {
            const double v = number(x);
            if (!(v >= 0 && v <= 1)) throw Error(p, "jaccard[" + std::to_string(i) + "]", "values must lie in [0, 1]");
            r.push_back(v);
        }
        doc.jaccard.push_back(std::move(r));
    }
    for (const QJsonValue& v : o.value("counts").toArray()) doc.counts.push_back({neuronText(v.toObject()), v.toObject().value("count").toInt()});
    doc.intersection = neurons(o.value("intersection"));
    doc.unionSize = o.value("union_size").toInt();
    const QJsonObject cons = o.value("consensus").toObject();
    doc.consensusK = cons.value("k").toInt();
    doc.consensus = neurons(cons.value("neurons"));
    if (o.contains("heldout")) {
        const QJsonObject h = o.value("heldout").toObject();
        doc.heldout = QObject::tr("held-out Δ log10 PPL of the consensus set: %1 on %2 (%3 samples, PPL %4 → %5)")
                          .arg(number(h.value("delta")), 0, 'f', 3).arg(h.value("dataset").toString()).arg(h.value("samples").toInt())
                          .arg(number(h.value("ppl_orig")), 0, 'g', 4).arg(number(h.value("ppl_masked")), 0, 'g', 4);
    }
    return doc;
}

StabilityPanel::StabilityPanel(QWidget* parent) : QWidget(parent) {
    auto* open = new QPushButton(tr("Open stability study…"), this);
    open->setToolTip(tr("An achilles.stability/1 document (achilles-cli search --probes FILE --out ...)"));
    auto* exportBtn = new QPushButton(tr("Export heatmap…"), this);
    summary_ = new QLabel(tr("Open a stability study made by achilles-cli search --probes."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    consensus_ = new QLabel(this);
    consensus_->setWordWrap(true);
    consensus_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("stability"));
    stylePlot(plot_, tr("Jaccard similarity of the runs' critical sets"));
    plot_->xAxis->setLabel(tr("run"));
    plot_->yAxis->setLabel(tr("run"));
    scale_ = new QCPColorScale(plot_);
    plot_->plotLayout()->addElement(1, 1, scale_);
    scale_->setType(QCPAxis::atRight);
    scale_->axis()->setLabel(tr("Jaccard |A∩B| / |A∪B|"));
    scale_->setBarWidth(14);
    scale_->setDataRange(QCPRange(0, 1));
    map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
    map_->setColorScale(scale_);
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(247, 251, 255));
    g.setColorStopAt(0.5, QColor(107, 174, 214));
    g.setColorStopAt(1.0, QColor(8, 48, 107));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    map_->setGradient(g);
    map_->setInterpolate(false);
    map_->setTightBoundary(false);
    map_->setDataRange(QCPRange(0, 1));
    auto* group = new QCPMarginGroup(plot_);
    plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    plot_->xAxis->grid()->setVisible(false);
    plot_->yAxis->grid()->setVisible(false);
    plot_->yAxis->setRangeReversed(true);  // run 1 at the top, as in a matrix
    plot_->setMinimumSize(300, 240);

    runs_ = table(this, {tr("run"), tr("set size"), tr("Δ log10 PPL"), tr("reached ε"), tr("tokens")});
    counts_ = table(this, {tr("channel"), tr("runs holding it")});
    counts_->setObjectName(QStringLiteral("stabilityCounts"));

    auto* top = new QHBoxLayout;
    top->addWidget(open);
    top->addStretch();
    top->addWidget(exportBtn);
    auto* tables = new QSplitter(Qt::Vertical, this);
    tables->addWidget(runs_);
    tables->addWidget(counts_);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(plot_);
    split->addWidget(tables);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setSizes({600, 400});
    auto* page = new QWidget(this);
    auto* lay = new QVBoxLayout(page);
    lay->addLayout(top);
    lay->addWidget(summary_);
    lay->addWidget(split, 1);
    lay->addWidget(consensus_);
    page->setMinimumSize(560, 400);
    auto* sa = new QScrollArea(this);
    sa->setWidgetResizable(true);
    sa->setFrameShape(QFrame::NoFrame);
    sa->setWidget(page);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(sa);

    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open stability study"), QFileInfo(doc_.source).path(),
                                                       tr("Stability studies (*.json);;All files (*)"));
        if (!f.isEmpty()) openFile(f);
    });
    connect(exportBtn, &QPushButton::clicked, this, [this] { emit exportRequested(plot_, QStringLiteral("stability")); });
    refresh();
}

bool StabilityPanel::openFile(const QString& path) {
    try {
        setDoc(readStabilityDoc(path));
    } catch (const std::exception& e) {
        emit errorOccurred(tr("Cannot open the stability study"), QString::fromUtf8(e.what()));
        return false;
    }
    emit opened(path);
    return true;
}

void StabilityPanel::setDoc(StabilityDoc d) {
    doc_ = std::move(d);
    refresh();
}

double StabilityPanel::cellValue(int i, int j) const {
    const int n = int(doc_.runs.size());
    if (i < 0 || j < 0 || i >= n || j >= n) return kNaN;
    return map_->data()->cell(j, i);
}

QString StabilityPanel::consensusText() const { return consensus_->text(); }

void StabilityPanel::refresh() {
    runs_->setRowCount(0);
    counts_->setRowCount(0);
    const int n = int(doc_.runs.size());
    if (n == 0) {
        map_->data()->setSize(1, 1);
        map_->data()->setCell(0, 0, kNaN);
        scale_->setVisible(false);
        plot_->xAxis->setRange(-0.5, 2.5);
        plot_->yAxis->setRange(-0.5, 2.5);
        setPlotHint(plot_, tr("Open a stability study: the Jaccard matrix of its runs appears here."));
        consensus_->clear();
        plot_->replot();
        return;
    }
    setPlotHint(plot_, {});
    scale_->setVisible(true);
    map_->data()->setSize(n, n);
    map_->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) map_->data()->setCell(j, i, doc_.jaccard[i][j]);  // x: column j, y: row i
    map_->setDataRange(QCPRange(0, 1));
    scale_->setDataRange(QCPRange(0, 1));
    auto tx = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    auto ty = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    const int step = std::max(1, n / 16);
    for (int i = 0; i < n; i += step) {
        QString l = doc_.runs[i].label;
        if (l.size() > 22) l = l.left(20) + QStringLiteral("…");
        tx->addTick(i, QString::number(i + 1));
        ty->addTick(i, QStringLiteral("%1 %2").arg(i + 1).arg(l));
    }
    plot_->xAxis->setTicker(tx);
    plot_->yAxis->setTicker(ty);
    plot_->xAxis->setSubTicks(false);
    plot_->yAxis->setSubTicks(false);
    plot_->xAxis->setLabel(tr("run (numbered as on the left)"));
    plot_->yAxis->setLabel(tr("run"));
    plot_->xAxis->setRange(-0.5, n - 0.5);
    plot_->yAxis->setRange(-0.5, n - 0.5);
    // The value in each cell when the matrix is small enough to read.
    plot_->clearItems();
    if (n <= 12) {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                auto* t = new QCPItemText(plot_);
                t->position->setCoords(j, i);
                t->setText(QString::number(doc_.jaccard[i][j], 'f', 2));
                t->setColor(doc_.jaccard[i][j] > 0.55 ? Qt::white : QColor(30, 30, 30));
                t->setClipToAxisRect(true);
            }
    }
    plot_->replot();

    for (int i = 0; i < n; ++i) {
        const auto& r = doc_.runs[i];
        setRow(runs_, {QStringLiteral("%1 %2").arg(i + 1).arg(r.label), QString::number(r.size),
                       std::isfinite(r.delta) ? QString::number(r.delta, 'f', 3) : QStringLiteral("—"),
                       r.reached ? tr("yes") : tr("no"), QString::number(r.tokens)});
    }
    for (const auto& c : doc_.counts) setRow(counts_, {c.neuron, QStringLiteral("%1 / %2").arg(c.count).arg(n)});
    summary_->setText(tr("%1 — %2 runs on %3 · union %4 channels · intersection %5 channels")
                          .arg(QFileInfo(doc_.source).fileName()).arg(n).arg(doc_.model).arg(doc_.unionSize).arg(doc_.intersection.size()));
    QString cons = tr("Consensus set (in at least %1 of %2 runs): %3 channels").arg(doc_.consensusK).arg(n).arg(doc_.consensus.size());
    if (!doc_.consensus.isEmpty()) {
        QStringList shown = doc_.consensus.mid(0, 40);
        cons += QStringLiteral(": ") + shown.join(QStringLiteral(", ")) +
                (doc_.consensus.size() > 40 ? tr(" … (%1 more)").arg(doc_.consensus.size() - 40) : QString());
    }
    if (!doc_.heldout.isEmpty()) cons += QStringLiteral("\n") + doc_.heldout;
    consensus_->setText(cons);
}

}  // namespace achilles::ui
