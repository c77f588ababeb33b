// SPDX-License-Identifier: GPL-3.0-or-later
#include "widgets/ablation_control.h"
#include "workbench/workbench.h"
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>

namespace achilles::ui {

AblationControl::AblationControl(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    mode_ = new QComboBox(this);
    mode_->setObjectName(QStringLiteral("ablationMode"));
    mode_->addItem(tr("zero"), int(Ablation::zero));
    mode_->addItem(tr("mean"), int(Ablation::mean));
    mode_->addItem(tr("scale ×s"), int(Ablation::scale));
    mode_->addItem(tr("clamp p"), int(Ablation::clamp));
    mode_->setToolTip(tr("How each ticked channel is ablated:\n"
                         "• zero: set to 0 (the paper's)\n"
                         "• mean: its mean clean value over the probe's positions\n"
                         "• scale ×s: multiplied by s\n"
                         "• clamp p: clipped to the [100−p, p] percentiles of its clean values"));
    factor_ = new QDoubleSpinBox(this);
    factor_->setRange(-100, 100);
    factor_->setDecimals(3);
    factor_->setSingleStep(0.5);
    factor_->setValue(0.5);
    factor_->setPrefix(QStringLiteral("s = "));
    factor_->setToolTip(tr("Scale factor s"));
    percentile_ = new QDoubleSpinBox(this);
    percentile_->setRange(50, 100);
    percentile_->setDecimals(1);
    percentile_->setValue(90);
    percentile_->setPrefix(QStringLiteral("p = "));
    percentile_->setToolTip(tr("Clamp percentile p (50–100) of the channel's clean values"));
    first_ = new QCheckBox(tr("only at the first token"), this);
    first_->setToolTip(tr("Ablate the ticked channels at token 0 only (where massive activations sit), "
                          "instead of at every position"));
    auto* lay = new QHBoxLayout(this);
    lay->setContentsMargins(0, 0, 0, 0);
    lay->addWidget(new QLabel(tr("Ablation:"), this));
    lay->addWidget(mode_);
    lay->addWidget(factor_);
    lay->addWidget(percentile_);
    lay->addWidget(first_);
    lay->addStretch();
    connect(mode_, &QComboBox::currentIndexChanged, this, &AblationControl::push);
    connect(factor_, &QDoubleSpinBox::valueChanged, this, &AblationControl::push);
    connect(percentile_, &QDoubleSpinBox::valueChanged, this, &AblationControl::push);
    connect(first_, &QCheckBox::toggled, this, &AblationControl::push);
    connect(wb_, &Workbench::ablationChanged, this, &AblationControl::pull);
    pull();
}

void AblationControl::push() {
    if (updating_) return;
    MaskEntry how;
    how.mode = Ablation(mode_->currentData().toInt());
    if (how.mode == Ablation::scale) how.factor = factor_->value();
    if (how.mode == Ablation::clamp) how.percentile = percentile_->value();
    if (first_->isChecked()) how.positions = {0};
    factor_->setVisible(how.mode == Ablation::scale);
    percentile_->setVisible(how.mode == Ablation::clamp);
    wb_->setAblation(how);
}

void AblationControl::pull() {
    const MaskEntry& how = wb_->ablation();
    updating_ = true;
    mode_->setCurrentIndex(mode_->findData(int(how.mode)));
    if (how.mode == Ablation::scale) factor_->setValue(how.factor);
    if (how.mode == Ablation::clamp) percentile_->setValue(how.percentile);
    first_->setChecked(how.positions == std::vector<int>{0});
    factor_->setVisible(how.mode == Ablation::scale);
    percentile_->setVisible(how.mode == Ablation::clamp);
    updating_ = false;
}

QJsonObject AblationControl::toJson(const Workbench* wb) {
    const MaskEntry& h = wb->ablation();
    return QJsonObject{{"mode", qs(ablation_name(h.mode))},
                       {"factor", h.factor},
                       {"percentile", h.percentile},
                       {"first_token", h.positions == std::vector<int>{0}}};
}

void AblationControl::fromJson(Workbench* wb, const QJsonObject& o) {
    MaskEntry h;
    const QString m = o.value("mode").toString(QStringLiteral("zero"));
    for (Ablation a : {Ablation::zero, Ablation::mean, Ablation::scale, Ablation::clamp})
        if (m == qs(ablation_name(a))) h.mode = a;
    if (h.mode == Ablation::scale) h.factor = o.value("factor").toDouble(1.0);
    if (h.mode == Ablation::clamp) h.percentile = std::clamp(o.value("percentile").toDouble(90.0), 50.0, 100.0);
    if (o.value("first_token").toBool(false)) h.positions = {0};
    wb->setAblation(h);
}

}  // namespace achilles::ui
