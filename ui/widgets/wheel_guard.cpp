// SPDX-License-Identifier: GPL-3.0-or-later
#include "widgets/wheel_guard.h"
#include <QAbstractScrollArea>
#include <QAbstractSpinBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QEvent>
#include <QScrollBar>
#include <QWheelEvent>

namespace achilles::ui {

namespace {
class WheelGuard : public QObject {
public:
    using QObject::QObject;
    bool eventFilter(QObject* o, QEvent* e) override {
        if (e->type() != QEvent::Wheel) return false;
        auto* w = qobject_cast<QWidget*>(o);
        if (!w || w->hasFocus()) return false;
        // Not focused: the wheel scrolls the nearest scroll area around it, not the value.
        for (QWidget* p = w->parentWidget(); p; p = p->parentWidget())
            if (auto* area = qobject_cast<QAbstractScrollArea*>(p)) {
                auto* we = static_cast<QWheelEvent*>(e);
                QScrollBar* bar = area->verticalScrollBar();
                if (bar && we->angleDelta().y() != 0) bar->setValue(bar->value() - we->angleDelta().y() / 120 * bar->singleStep() * 3);
                break;
            }
        return true;
    }
};
WheelGuard* guard() {
    static WheelGuard* g = new WheelGuard(QCoreApplication::instance());
    return g;
}
void protect(QWidget* w) {
    w->setFocusPolicy(Qt::StrongFocus);
    w->removeEventFilter(guard());
    w->installEventFilter(guard());
}
}  // namespace

void guardWheel(QWidget* root) {
    if (qobject_cast<QAbstractSpinBox*>(root) || qobject_cast<QComboBox*>(root)) protect(root);
    for (auto* s : root->findChildren<QAbstractSpinBox*>()) protect(s);
    for (auto* c : root->findChildren<QComboBox*>()) protect(c);
}

}  // namespace achilles::ui
