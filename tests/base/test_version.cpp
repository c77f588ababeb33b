// SPDX-License-Identifier: GPL-3.0-or-later
// app_version(): the project version, with git describe when configured from a git checkout.
#include "achilles/version.h"
#include <QProcess>
#include <QtTest>
#include <filesystem>

class TestVersion : public QObject {
    Q_OBJECT
private slots:
    void projectVersionFirst() {
        const std::string v = achilles::app_version();
        QVERIFY2(v.rfind(ACHILLES_PROJECT_VERSION, 0) == 0 || v.rfind("v", 0) == 0, v.c_str());
    }
    // From a git checkout the version names the commit it was configured at; from a tarball it is
    // the plain project version.
    void gitDescribeWhenCheckedOut() {
        const std::string v = achilles::app_version();
        if (!std::filesystem::exists(std::filesystem::path(ACHILLES_SOURCE_DIR) / ".git")) {
            QCOMPARE(v, std::string(ACHILLES_PROJECT_VERSION));
            return;
        }
        QProcess git;
        git.setWorkingDirectory(QStringLiteral(ACHILLES_SOURCE_DIR));
        git.start(QStringLiteral("git"), {QStringLiteral("log"), QStringLiteral("--format=%h"), QStringLiteral("-n"), QStringLiteral("50")});
        if (!git.waitForFinished(30000) || git.exitCode() != 0) QSKIP("git is not available");
        const QStringList recent = QString::fromUtf8(git.readAllStandardOutput()).split('\n', Qt::SkipEmptyParts);
        const auto g = v.find("g");
        QVERIFY2(g != std::string::npos, v.c_str());
        const QString hash = QString::fromStdString(v.substr(g + 1, v.find('-', g) == std::string::npos ? std::string::npos : v.find('-', g) - g - 1));
        bool known = false;
        for (const QString& h : recent) known |= h.startsWith(hash) || hash.startsWith(h);
        QVERIFY2(known, qPrintable("version " + QString::fromStdString(v) + " names no recent commit"));
    }
};

QTEST_APPLESS_MAIN(TestVersion)
#include "test_version.moc"
