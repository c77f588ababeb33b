// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test seams over the public signals of the window and the workbench (no test switches in them).
#include "main_window.h"
#include "workbench/workbench.h"
#include <QTest>

namespace achilles::ui::uitest {

// The last error and warning a MainWindow showed (its errorShown / warningShown signals).
class Shown : public QObject {
public:
    explicit Shown(MainWindow* w) {
        connect(w, &MainWindow::errorShown, this, [this](const QString&, const QString& m) { error = m; });
        connect(w, &MainWindow::warningShown, this, [this](const QString&, const QString& m) { warning = m; });
    }
    QString error, warning;
};

// Runs the event loop until the workbench has no job queued, running or undelivered.
inline bool waitIdle(const Workbench* wb, int timeoutMs = 60000) {
    return QTest::qWaitFor([wb] { return !wb->busy(); }, timeoutMs);
}

}  // namespace achilles::ui::uitest
