// SPDX-License-Identifier: GPL-3.0-or-later
#include "widgets/stale_banner.h"

namespace achilles::ui {

StaleBanner::StaleBanner(QWidget* parent) : QLabel(parent) {
    setObjectName(QStringLiteral("staleBanner"));
    setWordWrap(true);
    setTextFormat(Qt::PlainText);
    setStyleSheet(QStringLiteral("QLabel { background: #fff3cd; color: #7a4b00; border: 1px solid #e0b44c; "
                                 "border-radius: 3px; padding: 3px 6px; }"));
    hide();
}

void StaleBanner::setReason(const QString& text) {
    setText(text);
    setVisible(!text.isEmpty());
}

}  // namespace achilles::ui
