// SPDX-License-Identifier: GPL-3.0-or-later
// Builds the .deb with CPack and checks what a user gets: binaries, desktop integration, man page,
// the embedded model where the installed app finds it, and runtime dependencies.
#include "test_paths.h"
#include <QDir>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

class TestPackage : public QObject {
    Q_OBJECT
    QTemporaryDir work_;
    QString deb_;
    QStringList contents_;

    static QString run(const QString& prog, const QStringList& args, int* rc = nullptr, const QString& cwd = {}) {
        QProcess p;
        if (!cwd.isEmpty()) p.setWorkingDirectory(cwd);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(prog, args);
        if (!p.waitForFinished(540000)) { p.kill(); p.waitForFinished(); }
        if (rc) *rc = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        return QString::fromLocal8Bit(p.readAll());
    }

private Q_SLOTS:
    void initTestCase() {
        if (QStandardPaths::findExecutable("dpkg-deb").isEmpty()) QSKIP("dpkg-deb not installed");
        QVERIFY(work_.isValid());
        int rc = 0;
        QString out = run(ACHILLES_CPACK, {"-G", "DEB", "-B", work_.path()}, &rc, ACHILLES_BINARY_DIR);
        QVERIFY2(rc == 0, qPrintable(out));
        const auto debs = QDir(work_.path()).entryList({"*.deb"}, QDir::Files);
        QCOMPARE(debs.size(), 1);
        deb_ = work_.filePath(debs.first());
        out = run("dpkg-deb", {"-c", deb_}, &rc);
        QCOMPARE(rc, 0);
        for (const QString& line : out.split('\n', Qt::SkipEmptyParts)) {
            int i = line.indexOf("./");
            if (i >= 0) contents_ << line.mid(i + 1).section(" -> ", 0, 0);
        }
        QVERIFY(contents_.size() > 5);
    }

    void containsWhatAUserNeeds_data() {
        QTest::addColumn<QString>("path");
        QTest::newRow("cli") << "/usr/bin/achilles-cli";
        if (ACHILLES_HAS_GUI) QTest::newRow("gui") << "/usr/bin/achilles";
        QTest::newRow("desktop") << "/usr/share/applications/io.github.achilles_workbench.Achilles.desktop";
        QTest::newRow("metainfo") << "/usr/share/metainfo/io.github.achilles_workbench.Achilles.metainfo.xml";
        QTest::newRow("icon") << "/usr/share/icons/hicolor/scalable/apps/io.github.achilles_workbench.Achilles.svg";
        QTest::newRow("man") << "/usr/share/man/man1/achilles-cli.1";
        QTest::newRow("spbridge") << "/usr/" ACHILLES_LIBDIR "/achilles/libachilles_spbridge.so";
        QTest::newRow("model config") << "/usr/share/achilles/default-model/config.json";
        QTest::newRow("model weights") << "/usr/share/achilles/default-model/model.safetensors";
        QTest::newRow("model tokenizer") << "/usr/share/achilles/default-model/tokenizer.model";
        QTest::newRow("copyright") << "/usr/share/doc/achilles/copyright";
    }
    void containsWhatAUserNeeds() {
        QFETCH(QString, path);
        QVERIFY2(contents_.contains(path), qPrintable(path + " missing from " + deb_ + ":\n" + contents_.join('\n')));
    }

    void declaresRuntimeDependencies() {
        int rc = 0;
        QString depends = run("dpkg-deb", {"-f", deb_, "Depends"}, &rc).trimmed();
        QCOMPARE(rc, 0);
        for (const char* dep : {"libtorch1.13", "libopenblas0-pthread", "libsentencepiece0"})
            QVERIFY2(depends.contains(dep), qPrintable(depends));
        if (ACHILLES_HAS_GUI) QVERIFY2(depends.contains("libqcustomplot2.1-qt6"), qPrintable(depends));
    }

    void installedCliFindsTheEmbeddedModel() {
        // Unpack as a user's system would have it (under a prefix) and ask the installed CLI about
        // `--model default`: it must resolve to <prefix>/share/achilles/default-model, not to the
        // source tree compiled into the binary (installed locations are searched first).
        QTemporaryDir root;
        int rc = 0;
        QString out = run("dpkg-deb", {"-x", deb_, root.path()}, &rc);
        QCOMPARE(rc, 0);
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("ACHILLES_SPBRIDGE", root.path() + "/usr/" ACHILLES_LIBDIR "/achilles/libachilles_spbridge.so");
        env.remove("ACHILLES_DEFAULT_MODEL");
        p.setProcessEnvironment(env);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(root.path() + "/usr/bin/achilles-cli", {"--json", "info", "--model", "default"});
        QVERIFY(p.waitForFinished(120000));
        out = QString::fromUtf8(p.readAll());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, qPrintable(out));
        QVERIFY2(out.contains(root.path() + "/usr/share/achilles/default-model"), qPrintable(out));
        QVERIFY2(out.contains("llama"), qPrintable(out));
    }
};

QTEST_APPLESS_MAIN(TestPackage)
#include "test_package.moc"
