// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/generations_panel.h"
#include "workbench/workbench.h"
#include "widgets/token_flow.h"
#include "widgets/stale_banner.h"
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>
#include <cmath>

namespace achilles::ui {

GenerationsPanel::GenerationsPanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    prompt_ = new QLineEdit(this);
    prompt_->setPlaceholderText(tr("Prompt (models without a tokenizer: \"ids: 1 5 9\")"));
    decoding_ = new QComboBox(this);
    decoding_->addItem(tr("Greedy"));
    decoding_->addItem(tr("Sampled"));
    decoding_->setToolTip(tr("Both sides use the same decoding settings and seed"));
    seed_ = new QSpinBox(this);
    seed_->setRange(0, 2147483647);
    seed_->setToolTip(tr("Sampling seed (the same for both sides)"));
    temperature_ = new QDoubleSpinBox(this);
    temperature_->setRange(0.01, 10);
    temperature_->setSingleStep(0.1);
    temperature_->setToolTip(tr("Sampling temperature"));
    topK_ = new QSpinBox(this);
    topK_->setRange(0, 100000);
    topK_->setSpecialValueText(tr("off"));
    topK_->setToolTip(tr("Sample among the k most likely tokens (0: off)"));
    topP_ = new QDoubleSpinBox(this);
    topP_->setRange(0.01, 1.0);
    topP_->setSingleStep(0.05);
    topP_->setToolTip(tr("Nucleus sampling: smallest set of tokens with total probability ≥ p"));
    maxNew_ = new QSpinBox(this);
    maxNew_->setRange(1, 4096);
    maxNew_->setToolTip(tr("New tokens per side"));
    run_ = new QPushButton(tr("Generate"), this);
    run_->setToolTip(tr("Generate the original and the masked continuation (Ctrl+G)"));
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setEnabled(false);
    status_ = new QLabel(this);
    status_->setWordWrap(true);

    auto* row1 = new QHBoxLayout;
    row1->addWidget(new QLabel(tr("Prompt"), this));
    row1->addWidget(prompt_, 1);
    row1->addWidget(stop_);
    row1->addWidget(run_);
    // Two rows of three settings: the panel fits beside the neuron table.
    auto* row2 = new QGridLayout;
    int slot = 0;
    auto add = [&](const QString& l, QWidget* w) {
        row2->addWidget(new QLabel(l, this), slot / 3, (slot % 3) * 2);
        row2->addWidget(w, slot / 3, (slot % 3) * 2 + 1);
        ++slot;
    };
    add(tr("Decoding"), decoding_);
    add(tr("Seed"), seed_);
    add(tr("Temp."), temperature_);
    add(tr("Top-k"), topK_);
    add(tr("Top-p"), topP_);
    add(tr("Max new"), maxNew_);
    row2->setColumnStretch(6, 1);

    auto* grid = new QGridLayout;
    for (int side = 0; side < 2; ++side) {
        labels_[side] = new QLabel(this);
        views_[side] = new TokenFlowView(this);
        auto* scroll = new QScrollArea(this);
        scroll->setWidget(views_[side]);
        scroll->setWidgetResizable(true);
        scroll->setMinimumHeight(90);
        grid->addWidget(labels_[side], 0, side);
        grid->addWidget(scroll, 1, side);
    }
    labels_[0]->setText(tr("<b>Original</b>"));
    labels_[1]->setText(tr("<b>Masked</b>"));
    grid->setColumnStretch(0, 1);
    grid->setColumnStretch(1, 1);
    grid->setRowStretch(1, 1);
    auto* legend = new QLabel(tr("Colour: probability of the chosen token (red low → green high). "
                                 "Red outline: first divergence. Hover a token for the top alternatives."),
                              this);
    legend->setWordWrap(true);
    legend->setStyleSheet(QStringLiteral("color:#666"));
    stale_ = new StaleBanner(this);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(row1);
    lay->addLayout(row2);
    lay->addWidget(stale_);
    lay->addLayout(grid, 1);
    lay->addWidget(status_);
    lay->addWidget(legend);

    auto enableSampling = [this] {
        const bool s = decoding_->currentIndex() == 1;
        for (QWidget* w : std::initializer_list<QWidget*>{seed_, temperature_, topK_, topP_}) w->setEnabled(s);
    };
    connect(decoding_, &QComboBox::currentIndexChanged, this, enableSampling);
    connect(decoding_, &QComboBox::currentIndexChanged, this, &GenerationsPanel::push);
    for (QSpinBox* s : {seed_, topK_, maxNew_}) connect(s, &QSpinBox::valueChanged, this, &GenerationsPanel::push);
    for (QDoubleSpinBox* s : {temperature_, topP_}) connect(s, &QDoubleSpinBox::valueChanged, this, &GenerationsPanel::push);
    connect(prompt_, &QLineEdit::textEdited, this, &GenerationsPanel::push);
    connect(prompt_, &QLineEdit::returnPressed, this, &GenerationsPanel::generate);
    connect(run_, &QPushButton::clicked, this, &GenerationsPanel::generate);
    connect(stop_, &QPushButton::clicked, wb_, &Workbench::cancelGeneration);
    connect(wb_, &Workbench::generationStarted, this, [this] {
        views_[0]->setChips({});
        views_[1]->setChips({});
        divergence_ = -1;
        run_->setEnabled(false);
        stop_->setEnabled(true);
        status_->setText(tr("Generating…"));
        labels_[1]->setText(tr("<b>Masked</b> (%1 neurons)").arg(wb_->masked().size()));
    });
    connect(wb_, &Workbench::generationToken, this, &GenerationsPanel::addToken);
    connect(wb_, &Workbench::generationFinished, this, [this] {
        run_->setEnabled(true);
        stop_->setEnabled(false);
        rebuild();
    });
    connect(wb_, &Workbench::generationFailed, this, [this](const QString& m) {
        run_->setEnabled(true);
        stop_->setEnabled(false);
        status_->setText(QStringLiteral("<span style='color:#b00'>%1</span>").arg(m.toHtmlEscaped()));
    });
    connect(wb_, &Workbench::generationCancelled, this, [this] {
        run_->setEnabled(true);
        stop_->setEnabled(false);
        status_->setText(tr("Stopped."));
    });
    connect(wb_, &Workbench::provenanceChanged, this, [this] { stale_->setReason(wb_->generationStaleReason()); });
    pull();
    enableSampling();
}

QString GenerationsPanel::staleText() const {
    return stale_->isVisibleTo(const_cast<GenerationsPanel*>(this)) ? stale_->text() : QString();
}

void GenerationsPanel::setPrompt(const QString& p) {
    prompt_->setText(p);
    push();
}

GenerateOptions GenerationsPanel::options() const {
    GenerateOptions o = wb_->generation().options;
    o.greedy = decoding_->currentIndex() == 0;
    o.seed = uint64_t(seed_->value());
    o.temperature = temperature_->value();
    o.top_k = topK_->value();
    o.top_p = topP_->value();
    o.max_new = maxNew_->value();
    return o;
}

void GenerationsPanel::push() {
    if (updating_) return;
    wb_->generation().options = options();
    wb_->generation().prompt = prompt_->text();
}

void GenerationsPanel::pull() {
    updating_ = true;
    const GenerationState& g = wb_->generation();
    prompt_->setText(g.prompt);
    decoding_->setCurrentIndex(g.options.greedy ? 0 : 1);
    seed_->setValue(int(std::min<uint64_t>(g.options.seed, 2147483647)));
    temperature_->setValue(g.options.temperature);
    topK_->setValue(g.options.top_k);
    topP_->setValue(g.options.top_p);
    maxNew_->setValue(g.options.max_new);
    updating_ = false;
}

void GenerationsPanel::generate() {
    push();
    wb_->generate();
}

QColor GenerationsPanel::probColor(double p) {
    p = std::clamp(p, 0.0, 1.0);
    return QColor::fromHsvF(float(p * 120.0 / 360.0), 0.38f, 1.0f);
}

QString GenerationsPanel::tooltipFor(const TokenStep& s, int index) {
    QString t = tr("step %1: %2 (id %3), p = %4").arg(index).arg(qs(s.text).toHtmlEscaped()).arg(s.id).arg(std::exp(s.logprob), 0, 'f', 3);
    if (!s.alternatives.empty()) {
        t += tr("\ntop alternatives:");
        for (const auto& a : s.alternatives)
            t += QStringLiteral("\n  %1  %2 (id %3)").arg(std::exp(a.logprob), 0, 'f', 3).arg(TokenFlowView::visible(qs(a.text))).arg(a.id);
    }
    return t;
}

void GenerationsPanel::addToken(int side, const TokenStep& s) {
    if (side < 0 || side > 1) return;
    TokenChip c;
    c.text = TokenFlowView::visible(qs(s.text));
    c.background = probColor(std::exp(s.logprob));
    c.tooltip = tooltipFor(s, int(views_[side]->chips().size()));
    views_[side]->appendChip(std::move(c));
    updateDivergence();
}

void GenerationsPanel::updateDivergence() {
    const auto& a = wb_->generation().original.steps;
    const auto& b = wb_->generation().masked.steps;
    const size_t n = std::min(a.size(), b.size());
    int d = -1;
    for (size_t i = 0; i < n; ++i)
        if (a[i].id != b[i].id) {
            d = int(i);
            break;
        }
    if (d == divergence_) return;
    for (int side = 0; side < 2; ++side) {
        auto& v = views_[side];
        if (divergence_ >= 0 && divergence_ < int(v->chips().size())) {
            TokenChip c = v->chips()[size_t(divergence_)];
            c.outlined = false;
            v->setChip(divergence_, c);
        }
        if (d >= 0 && d < int(v->chips().size())) {
            TokenChip c = v->chips()[size_t(d)];
            c.outlined = true;
            v->setChip(d, c);
        }
    }
    divergence_ = d;
}

void GenerationsPanel::rebuild() {
    pull();
    const GenerationState& g = wb_->generation();
    labels_[1]->setText(tr("<b>Masked</b> (%1 neurons)").arg(g.valid ? g.maskedCount : int(wb_->masked().size())));
    divergence_ = -1;
    for (int side = 0; side < 2; ++side) {
        const auto& steps = side == 0 ? g.original.steps : g.masked.steps;
        std::vector<TokenChip> chips;
        for (size_t i = 0; i < steps.size(); ++i) {
            TokenChip c;
            c.text = TokenFlowView::visible(qs(steps[i].text));
            c.background = probColor(std::exp(steps[i].logprob));
            c.tooltip = tooltipFor(steps[i], int(i));
            chips.push_back(std::move(c));
        }
        views_[side]->setChips(std::move(chips));
    }
    updateDivergence();
    if (g.valid) {
        auto meanP = [](const std::vector<TokenStep>& s) {
            double t = 0;
            for (auto& x : s) t += std::exp(x.logprob);
            return s.empty() ? 0.0 : t / double(s.size());
        };
        status_->setText(tr("Original: %1 tokens, mean p %2 · Masked: %3 tokens, mean p %4 · %5")
                             .arg(g.original.steps.size())
                             .arg(meanP(g.original.steps), 0, 'f', 3)
                             .arg(g.masked.steps.size())
                             .arg(meanP(g.masked.steps), 0, 'f', 3)
                             .arg(divergence_ < 0 ? tr("identical") : tr("first divergence at step %1").arg(divergence_)));
    } else {
        status_->clear();
    }
}

}  // namespace achilles::ui
