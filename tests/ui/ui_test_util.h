// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Helpers shared by the GUI tests.
#include "core/workbench.h"
#include "jobs/job_controller.h"
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QTest>

namespace achilles::ui::testutil {

// Spins the event loop until the workbench's worker has been idle for a moment (or `ms` passes).
inline bool waitIdle(Workbench* wb, int ms = 60000) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        if (!wb->jobs()->busy()) {
            QTest::qWait(30);
            if (!wb->jobs()->busy()) return true;
        }
    }
    return false;
}

}  // namespace achilles::ui::testutil
