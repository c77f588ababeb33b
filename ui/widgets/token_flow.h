// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A flowing view of tokens as coloured chips; hovering a chip shows its tooltip.
#include <QColor>
#include <QString>
#include <QWidget>
#include <vector>

namespace achilles::ui {

struct TokenChip {
    QString text;       // display text (whitespace made visible)
    QString tooltip;
    QColor background;  // invalid: default
    bool outlined = false;  // highlighted border (e.g. first divergence)
};

class TokenFlowView : public QWidget {
    Q_OBJECT
public:
    explicit TokenFlowView(QWidget* parent = nullptr);
    void setChips(std::vector<TokenChip> chips);
    void appendChip(TokenChip chip);
    const std::vector<TokenChip>& chips() const { return chips_; }
    void setChip(int i, TokenChip chip);
    int chipAt(const QPoint& p) const;
    QSize sizeHint() const override;
    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int w) const override;
    static QString visible(const QString& piece);  // "▁the" / spaces / newlines made readable

protected:
    void paintEvent(QPaintEvent*) override;
    bool event(QEvent* e) override;
    void resizeEvent(QResizeEvent*) override;

private:
    void relayout(int width) const;
    std::vector<TokenChip> chips_;
    mutable std::vector<QRect> rects_;
    mutable int laidOutWidth_ = -1;
    mutable int height_ = 0;
};

}  // namespace achilles::ui
