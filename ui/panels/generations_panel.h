// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Original vs masked continuations, streamed token by token with the same decoding settings.
#include "achilles/engine.h"
#include <QWidget>

class QLineEdit;
class QComboBox;
class QSpinBox;
class QDoubleSpinBox;
class QPushButton;
class QLabel;

namespace achilles::ui {

class Workbench;
class TokenFlowView;

class GenerationsPanel : public QWidget {
    Q_OBJECT
public:
    explicit GenerationsPanel(Workbench* wb, QWidget* parent = nullptr);
    TokenFlowView* originalView() const { return views_[0]; }
    TokenFlowView* maskedView() const { return views_[1]; }
    int firstDivergence() const { return divergence_; }  // -1: none (yet)
    GenerateOptions options() const;                     // from the widgets
    void setPrompt(const QString& p);
    QString staleText() const;  // the banner over the continuations (empty when hidden)

public slots:
    void generate();
    void rebuild();  // from the workbench's generation state

private:
    void pull();
    void push();
    void addToken(int side, const TokenStep& s);
    void updateDivergence();
    static QColor probColor(double p);
    static QString tooltipFor(const TokenStep& s, int index);
    Workbench* wb_;
    QLineEdit* prompt_;
    QComboBox* decoding_;
    QSpinBox *seed_, *topK_, *maxNew_;
    QDoubleSpinBox *temperature_, *topP_;
    QPushButton *run_, *stop_;
    QLabel *status_, *labels_[2];
    TokenFlowView* views_[2];
    class StaleBanner* stale_;
    int divergence_ = -1;
    bool updating_ = false;
};

}  // namespace achilles::ui
