// SPDX-License-Identifier: GPL-3.0-or-later
#include "plots/layer_module_map.h"
#include "achilles/neuron.h"
#include <algorithm>
#include <cmath>
#include <qcustomplot.h>

namespace achilles::ui {

QCPColorGradient heatGradient() {
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(255, 237, 160));
    g.setColorStopAt(0.3, QColor(254, 178, 76));
    g.setColorStopAt(0.6, QColor(240, 59, 32));
    g.setColorStopAt(1.0, QColor(110, 0, 20));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

QSharedPointer<QCPAxisTickerText> moduleTicker() {
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (Module m : kAllModules) {
        const std::string_view sv = module_name(m);
        QString n = QString::fromUtf8(sv.data(), qsizetype(sv.size()));
        if (m == Module::post_attention_layernorm) n = QStringLiteral("post_attn_norm");
        ticker->addTick(int(m), n);
    }
    return ticker;
}

void applyHeatScale(QCPColorScale* scale, const std::vector<double>& v, bool log) {
    double lo = 0, hi = 0;
    bool any = false;
    for (double x : v)
        if (x > 0) {
            lo = any ? std::min(lo, x) : x;
            hi = any ? std::max(hi, x) : x;
            any = true;
        }
    if (!any) {
        lo = 0.5;
        hi = 1;
    }
    if (hi <= lo) hi = lo * 2;
    scale->setDataScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (log) {
        scale->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        scale->axis()->setNumberFormat(QStringLiteral("gb"));
    } else {
        scale->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        scale->axis()->setNumberFormat(QStringLiteral("g"));
    }
    scale->setDataRange(QCPRange(log ? lo : 0, hi));  // the attached maps follow
}

int resultLayers(const SearchResult& r) {
    int layers = r.layers;
    if (layers <= 0)
        for (const auto& e : r.ranking) layers = std::max(layers, e.neuron.layer + 1);
    return layers;
}

std::vector<double> maxImportanceCells(const SearchResult& r, int layers) {
    std::vector<double> v(size_t(std::max(layers, 0) * kNumModules), 0.0);
    for (const auto& e : r.ranking)
        if (e.neuron.layer >= 0 && e.neuron.layer < layers) {
            double& c = v[size_t(e.neuron.layer * kNumModules + int(e.neuron.module))];
            c = std::max(c, e.importance);
        }
    return v;
}

void fillLayerModuleMap(QCPColorMap* map, const std::vector<double>& v, int layers) {
    const int L = std::max(layers, 1);
    map->data()->setSize(kNumModules, L);
    map->data()->setRange(QCPRange(0, kNumModules - 1), QCPRange(0, L - 1));
    for (int l = 0; l < L; ++l)
        for (int m = 0; m < kNumModules; ++m) {
            const size_t i = size_t(l * kNumModules + m);
            const double x = l < layers && i < v.size() ? v[i] : 0;
            map->data()->setCell(m, l, x > 0 ? x : std::nan(""));
        }
    map->keyAxis()->setRange(-0.5, kNumModules - 0.5);
    map->valueAxis()->setRange(-0.5, L - 0.5);
}

}  // namespace achilles::ui
