// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A plain banner over a view whose content belongs to another model or probe text
// (the workbench's *StaleReason() texts); hidden while the text is empty.
#include <QLabel>

namespace achilles::ui {

class StaleBanner : public QLabel {
    Q_OBJECT
public:
    explicit StaleBanner(QWidget* parent = nullptr);
    void setReason(const QString& text);  // empty: hidden
};

}  // namespace achilles::ui
