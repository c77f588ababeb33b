// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// How the toggled neurons are ablated: zero (the paper's), mean, scale ×s or clamp to a
// percentile, at every position or only at the first token. Bound to the workbench: every
// instance shows and edits Workbench::ablation().
#include <QJsonObject>
#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QCheckBox;

namespace achilles::ui {

class Workbench;

class AblationControl : public QWidget {
    Q_OBJECT
public:
    explicit AblationControl(Workbench* wb, QWidget* parent = nullptr);
    QComboBox* modeBox() const { return mode_; }
    QDoubleSpinBox* factorBox() const { return factor_; }
    QDoubleSpinBox* percentileBox() const { return percentile_; }
    QCheckBox* firstTokenBox() const { return first_; }

    // The session's view state of the ablation mode ({mode, factor, percentile, first_token}).
    static QJsonObject toJson(const Workbench* wb);
    static void fromJson(Workbench* wb, const QJsonObject& o);  // absent: the default (zero everywhere)

private:
    void push();   // controls -> workbench
    void pull();   // workbench -> controls
    Workbench* wb_;
    QComboBox* mode_;
    QDoubleSpinBox* factor_;
    QDoubleSpinBox* percentile_;
    QCheckBox* first_;
    bool updating_ = false;
};

}  // namespace achilles::ui
