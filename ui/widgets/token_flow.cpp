// SPDX-License-Identifier: GPL-3.0-or-later
#include "widgets/token_flow.h"
#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

namespace achilles::ui {

TokenFlowView::TokenFlowView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    QSizePolicy sp(QSizePolicy::Preferred, QSizePolicy::Preferred);
    sp.setHeightForWidth(true);
    setSizePolicy(sp);
}

QString TokenFlowView::visible(const QString& piece) {
    QString s = piece;
    s.replace(QChar(0x2581), QChar(' '));  // SentencePiece word boundary
    s.replace(QChar(0x0120), QChar(' '));  // byte-level BPE space
    s.replace(QChar(0x010A), QStringLiteral("\u21B5"));
    s.replace(QChar('\n'), QStringLiteral("\u21B5"));
    s.replace(QChar('\t'), QStringLiteral("\u2192"));
    if (s.startsWith(' ')) s[0] = QChar(0x00B7);  // a visible leading space
    if (s.isEmpty()) s = QStringLiteral("\u2205");
    return s;
}

void TokenFlowView::setChips(std::vector<TokenChip> chips) {
    chips_ = std::move(chips);
    laidOutWidth_ = -1;
    updateGeometry();
    update();
}

void TokenFlowView::appendChip(TokenChip chip) {
    chips_.push_back(std::move(chip));
    laidOutWidth_ = -1;
    updateGeometry();
    update();
}

void TokenFlowView::setChip(int i, TokenChip chip) {
    if (i < 0 || i >= int(chips_.size())) return;
    chips_[size_t(i)] = std::move(chip);
    laidOutWidth_ = -1;
    update();
}

void TokenFlowView::relayout(int width) const {
    if (width == laidOutWidth_) return;
    laidOutWidth_ = width;
    rects_.clear();
    const QFontMetrics fm(font());
    const int h = fm.height() + 4, gap = 3, pad = 4;
    int x = gap, y = gap;
    for (const TokenChip& c : chips_) {
        const int w = fm.horizontalAdvance(c.text) + 2 * pad;
        if (x + w > width - gap && x > gap) {
            x = gap;
            y += h + gap;
        }
        rects_.emplace_back(x, y, w, h);
        x += w + gap;
    }
    height_ = chips_.empty() ? h + 2 * gap : y + h + gap;
}

int TokenFlowView::heightForWidth(int w) const {
    relayout(w);
    return height_;
}

QSize TokenFlowView::sizeHint() const { return QSize(300, heightForWidth(width() > 0 ? width() : 300)); }

void TokenFlowView::resizeEvent(QResizeEvent*) {
    laidOutWidth_ = -1;
    relayout(width());
    if (height() != height_) updateGeometry();
}

int TokenFlowView::chipAt(const QPoint& p) const {
    relayout(width());
    for (size_t i = 0; i < rects_.size(); ++i)
        if (rects_[i].contains(p)) return int(i);
    return -1;
}

void TokenFlowView::paintEvent(QPaintEvent*) {
    relayout(width());
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    for (size_t i = 0; i < chips_.size(); ++i) {
        const TokenChip& c = chips_[i];
        const QRectF r = QRectF(rects_[i]).adjusted(0.5, 0.5, -0.5, -0.5);
        const QColor bg = c.background.isValid() ? c.background : pal.color(QPalette::AlternateBase);
        p.setPen(c.outlined ? QPen(QColor(220, 30, 30), 2.0) : QPen(pal.color(QPalette::Mid), 0.6));
        p.setBrush(bg);
        p.drawRoundedRect(r, 3, 3);
        p.setPen(bg.lightnessF() < 0.45 ? Qt::white : Qt::black);
        p.drawText(r, Qt::AlignCenter, c.text);
    }
    if (chips_.empty()) {
        p.setPen(pal.color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(6, 0, 0, 0), Qt::AlignVCenter | Qt::AlignLeft, tr("(no tokens)"));
    }
}

bool TokenFlowView::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* he = static_cast<QHelpEvent*>(e);
        const int i = chipAt(he->pos());
        if (i >= 0 && !chips_[size_t(i)].tooltip.isEmpty())
            QToolTip::showText(he->globalPos(), chips_[size_t(i)].tooltip, this, rects_[size_t(i)]);
        else
            QToolTip::hideText();
        return true;
    }
    return QWidget::event(e);
}

}  // namespace achilles::ui
