// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Spin boxes and combo boxes take the mouse wheel only when they have focus: scrolling a panel
// over them scrolls the panel instead of changing a value.
class QWidget;

namespace achilles::ui {

// Every QAbstractSpinBox and QComboBox under root (root included): click focus, wheel only with focus.
void guardWheel(QWidget* root);

}  // namespace achilles::ui
