// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// File dialogs that start in the last folder used for their kind of file (QSettings
// "dialogs/<kind>"), or in the home folder the first time and when that folder is gone.
#include <QString>

class QWidget;

namespace achilles::ui {

enum class DialogKind { models, sessions, exports, texts, probes };  // probes: stability studies' probe files and folders

QString dialogKindKey(DialogKind kind);             // "dialogs/models", ...
QString lastDialogDir(DialogKind kind);             // the remembered folder, else the home folder
QString dialogStartPath(DialogKind kind, const QString& fileName = {});  // lastDialogDir/fileName
// Remembers the folder of a chosen file, or a chosen folder itself (a model folder: its parent,
// where the other models are; a probes folder likewise).
void rememberDialogPath(DialogKind kind, const QString& chosen, bool chosenIsFolder = false);

// The QFileDialog static functions, started at dialogStartPath and remembering the choice.
// fileName may be a bare name ("session.achilles") or a path whose file name is kept.
QString openFileDialog(QWidget* parent, DialogKind kind, const QString& title, const QString& filter);
QString saveFileDialog(QWidget* parent, DialogKind kind, const QString& title, const QString& fileName, const QString& filter);
QString folderDialog(QWidget* parent, DialogKind kind, const QString& title);

}  // namespace achilles::ui
