// SPDX-License-Identifier: GPL-3.0-or-later
#include "workbench/token_ids.h"
#include "achilles/error.h"
#include <QRegularExpression>

namespace achilles::ui {

std::optional<std::vector<int>> parseIdsText(const QString& text, int vocab, const std::string& source) {
    const QString t = text.trimmed();
    if (!t.startsWith(QLatin1String("ids:"))) return std::nullopt;
    static const QRegularExpression sep(QStringLiteral("[\\s,]+"));
    std::vector<int> ids;
    for (const QString& part : t.mid(4).split(sep, Qt::SkipEmptyParts)) {
        bool ok = false;
        const int v = part.toInt(&ok);
        if (!ok || v < 0 || (vocab > 0 && v >= vocab))
            throw Error(source, "ids", "'" + part.toStdString() + "' is not a token id of this model");
        ids.push_back(v);
    }
    return ids;
}

}  // namespace achilles::ui
