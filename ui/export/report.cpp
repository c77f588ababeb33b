// SPDX-License-Identifier: GPL-3.0-or-later
#include "export/report.h"
#include "achilles/error.h"
#include "export/export.h"
#include "workbench/session.h"
#include <QDateTime>
#include <QObject>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
QString qs(const std::string& s) { return QString::fromStdString(s); }
QString qs(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }
}  // namespace

void writeHtmlReport(const QString& path, const ReportInput& in) {
    if (!in.result) throw Error(path.toStdString(), "", "there is no result to report");
    const SearchResult* r = in.result;
    auto esc = [](const QString& s) { return s.toHtmlEscaped(); };
    QString h;
    h += QStringLiteral("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Achilles report</title><style>"
                        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
                        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
                        "th{background:#f3f3f3}.fig{margin:1em 0}.mono{font-family:monospace}</style></head><body>\n");
    h += QStringLiteral("<h1>Achilles Workbench report</h1>\n<p>%1 · app %2 · libtorch %3</p>\n")
             .arg(QDateTime::currentDateTime().toString(Qt::ISODate), esc(qs(r->app_version)), esc(qs(r->libtorch_version)));
    h += QStringLiteral("<h2>Model and search</h2><table>");
    auto row = [&](const QString& k, const QString& v) { h += QStringLiteral("<tr><th>%1</th><td>%2</td></tr>").arg(esc(k), esc(v)); };
    row(QObject::tr("Model"), qs(r->model.path));
    row(QObject::tr("Model type"), qs(r->model_type));
    row(QObject::tr("Layers"), QString::number(r->layers));
    row(QObject::tr("Probe tokens"), QString::number(r->ids.size()));
    row(QObject::tr("Options"), QStringLiteral("α=%1, K=%2, seed=%3, ε=%4, Δn=%5, mode=%6, strategy=%7")
                           .arg(r->options.alpha).arg(r->options.samples).arg(r->options.seed).arg(r->options.epsilon)
                           .arg(r->options.step).arg(qs(to_string(r->options.mode)), qs(to_string(r->options.strategy))));
    row(QObject::tr("Entries N"), QString::number(r->total_entries));
    row(QObject::tr("PPL original"), QString::number(r->ppl_orig, 'g', 6));
    row(QObject::tr("Critical set"), QObject::tr("%1 neurons, n* = %2, PPL %3, Δ log10 = %4%5")
                                .arg(r->faithful.neurons.size()).arg(r->faithful.n).arg(r->faithful.ppl, 0, 'g', 6)
                                .arg(r->faithful.delta, 0, 'f', 3).arg(r->faithful.reached ? QString() : QObject::tr(" (ε not reached)")));
    row(QObject::tr("Rate"), QString::number(r->rate(), 'g', 4));
    if (r->bisected) row(QObject::tr("Bisected set"), QObject::tr("%1 neurons, Δ %2").arg(r->bisected->neurons.size()).arg(r->bisected->delta, 0, 'f', 3));
    if (r->minimal) row(QObject::tr("Minimal set"), QObject::tr("%1 neurons, Δ %2").arg(r->minimal->neurons.size()).arg(r->minimal->delta, 0, 'f', 3));
    for (const auto& e : r->evaluations)
        row(QObject::tr("Dataset %1").arg(qs(e.dataset)), QObject::tr("%1 set: PPL %2 → %3 (%4 samples, %5 tokens)")
                                                    .arg(qs(e.set)).arg(e.ppl_orig, 0, 'g', 5).arg(e.ppl_masked, 0, 'g', 5)
                                                    .arg(e.samples).arg(e.tokens));
    h += QStringLiteral("</table>\n<h2>Figures</h2>\n");
    auto fig = [&](QCustomPlot* p, int w, int ht) {
        QByteArray svg = plotToSvg(p, w, ht);
        const int at = svg.indexOf("<svg");
        h += QStringLiteral("<div class=\"fig\">") + QString::fromUtf8(at >= 0 ? svg.mid(at) : svg) + QStringLiteral("</div>\n");
    };
    if (in.heatmap) fig(in.heatmap, 700, 520);
    if (in.phase) fig(in.phase, 900, 520);
    h += QStringLiteral("<h2>Critical neurons</h2><table><tr><th>#</th><th>neuron</th></tr>");
    int i = 0;
    for (const Neuron& n : r->faithful.neurons)
        h += QStringLiteral("<tr><td>%1</td><td class=\"mono\">%2</td></tr>").arg(++i).arg(esc(qs(to_string(n))));
    h += QStringLiteral("</table>\n");
    if (in.generation && in.generation->valid) {
        const GenerationState& g = *in.generation;
        h += QStringLiteral("<h2>Generations</h2><p>Prompt: <i>%1</i>; %2 neurons masked</p><table><tr><th>original</th><th>masked</th></tr>"
                            "<tr><td>%3</td><td>%4</td></tr></table>\n")
                 .arg(esc(g.prompt)).arg(in.maskedNeurons).arg(esc(qs(g.original.text)), esc(qs(g.masked.text)));
    }
    h += QStringLiteral("</body></html>\n");
    writeWhole(path, h.toUtf8());  // atomic, checked to the end
}

}  // namespace achilles::ui
