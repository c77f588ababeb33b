// SPDX-License-Identifier: GPL-3.0-or-later
#include "workbench/provenance.h"
#include <QDir>
#include <QFileInfo>
#include <QObject>

namespace achilles::ui {

bool sameModel(const ModelFingerprint& a, const ModelFingerprint& b) {
    if (!a.header_hash.empty() && !b.header_hash.empty())
        return a.header_hash == b.header_hash && a.config_hash == b.config_hash;
    return a == b;
}

QString modelNameOf(const ModelFingerprint& f) {
    const QString p = QString::fromStdString(f.path);
    if (p.isEmpty()) return QObject::tr("unnamed model");
    if (p == QLatin1String("default")) return QObject::tr("embedded default model");
    try {
        const QString def = QFileInfo(QString::fromStdString(default_model_dir())).canonicalFilePath();
        if (!def.isEmpty() && QFileInfo(p).canonicalFilePath() == def) return QObject::tr("embedded default model");
    } catch (const std::exception&) {
    }
    const QString name = QFileInfo(QDir::cleanPath(p)).fileName();
    return name.isEmpty() ? p : name;
}

bool Provenance::sameModel(const Provenance& o) const {
    return model && o.model && achilles::ui::sameModel(*model, *o.model);
}

bool Provenance::sameModel(const ModelFingerprint& f) const { return model && achilles::ui::sameModel(*model, f); }

QString Provenance::modelName() const { return model ? modelNameOf(*model) : QObject::tr("no model"); }

QString Provenance::probeName() const {
    QString t = text.simplified();
    if (t.size() > 28) t = t.left(26) + QStringLiteral("…");
    const QString n = ids.size() == 1 ? QObject::tr("1 token") : QObject::tr("%1 tokens").arg(ids.size());
    return t.isEmpty() ? n : QStringLiteral("“%1” (%2)").arg(t, n);
}

QString Provenance::describe() const { return QObject::tr("%1 on %2").arg(modelName(), probeName()); }

}  // namespace achilles::ui
