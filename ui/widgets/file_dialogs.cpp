// SPDX-License-Identifier: GPL-3.0-or-later
#include "widgets/file_dialogs.h"
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>

namespace achilles::ui {

QString dialogKindKey(DialogKind kind) {
    switch (kind) {
    case DialogKind::models: return QStringLiteral("dialogs/models");
    case DialogKind::sessions: return QStringLiteral("dialogs/sessions");
    case DialogKind::exports: return QStringLiteral("dialogs/exports");
    case DialogKind::texts: return QStringLiteral("dialogs/texts");
    case DialogKind::probes: return QStringLiteral("dialogs/probes");
    }
    return QStringLiteral("dialogs/other");
}

QString lastDialogDir(DialogKind kind) {
    const QString d = QSettings().value(dialogKindKey(kind)).toString();
    if (!d.isEmpty() && QFileInfo(d).isDir()) return d;
    return QDir::homePath();
}

QString dialogStartPath(DialogKind kind, const QString& fileName) {
    const QString dir = lastDialogDir(kind);
    const QString name = QFileInfo(fileName).fileName();
    return name.isEmpty() ? dir : QDir(dir).filePath(name);
}

void rememberDialogPath(DialogKind kind, const QString& chosen, bool chosenIsFolder) {
    if (chosen.isEmpty()) return;
    const QFileInfo fi(chosen);
    QString dir;
    if (chosenIsFolder) dir = kind == DialogKind::models || kind == DialogKind::probes ? fi.absolutePath() : fi.absoluteFilePath();
    else dir = fi.absolutePath();
    QSettings().setValue(dialogKindKey(kind), QDir::cleanPath(dir));
}

QString openFileDialog(QWidget* parent, DialogKind kind, const QString& title, const QString& filter) {
    const QString f = QFileDialog::getOpenFileName(parent, title, lastDialogDir(kind), filter);
    rememberDialogPath(kind, f);
    return f;
}

QString saveFileDialog(QWidget* parent, DialogKind kind, const QString& title, const QString& fileName, const QString& filter) {
    const QString f = QFileDialog::getSaveFileName(parent, title, dialogStartPath(kind, fileName), filter);
    rememberDialogPath(kind, f);
    return f;
}

QString folderDialog(QWidget* parent, DialogKind kind, const QString& title) {
    const QString d = QFileDialog::getExistingDirectory(parent, title, lastDialogDir(kind));
    rememberDialogPath(kind, d, true);
    return d;
}

}  // namespace achilles::ui
