// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test seams over the public signals of the window and the workbench (no test switches in them).
#include "main_window.h"
#include "panels/model_panel.h"
#include "test_paths.h"
#include "workbench/workbench.h"
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>
#include <QSignalSpy>
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

// Loads a model through the Model panel, as a user would, and waits until it is loaded and idle.
inline bool loadModel(MainWindow& w, const QString& path, int timeoutMs = 120000) {
    QSignalSpy loaded(w.workbench(), &Workbench::modelLoaded);
    w.modelPanel()->loadPath(path);
    return loaded.wait(timeoutMs) && waitIdle(w.workbench());
}

// The planted search fixture and its golden.json (tests/fixtures/search); empty when absent.
inline QString planted_fixture() {
    return QString::fromStdString(test::tests_dir()) + QStringLiteral("/fixtures/search/planted");
}
inline QJsonObject search_golden() {
    QFile f(QString::fromStdString(test::tests_dir()) + QStringLiteral("/fixtures/search/golden.json"));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}
// The golden's probe ids in the probe editor's "ids: 1 2 3" form.
inline QString ids_text(const QJsonObject& g) {
    QStringList s;
    for (auto v : g.value("ids").toArray()) s << QString::number(v.toInt());
    return QStringLiteral("ids: ") + s.join(QLatin1Char(' '));
}

}  // namespace achilles::ui::uitest
