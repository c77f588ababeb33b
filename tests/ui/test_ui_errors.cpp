// SPDX-License-Identifier: GPL-3.0-or-later
// Bad input through the main window: every case must end in an error that names the file or the
// field (what the dialog shows: MainWindow::errorShown), never a crash or a frozen UI, and the
// app must stay usable afterwards (the previous model still evaluates perplexity).
#include "achilles/error.h"
#include "workbench/workbench.h"
#include "main_window.h"
#include "panels/model_panel.h"
#include "panels/probe_panel.h"
#include "test_paths.h"
#include "ui_test_util.h"
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <cmath>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::Shown;
using achilles::ui::uitest::waitIdle;

namespace {
QString fixtures() { return QString::fromStdString(test::tests_dir()) + QStringLiteral("/fixtures"); }
QString planted() { return fixtures() + QStringLiteral("/search/planted"); }
void writeFile(const QString& path, const QByteArray& data) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    QCOMPARE(f.write(data), qint64(data.size()));
}
bool copyDir(const QString& from, const QString& to) {
    if (!QDir().mkpath(to)) return false;
    for (const QString& n : QDir(from).entryList(QDir::Files))
        if (!QFile::copy(from + QLatin1Char('/') + n, to + QLatin1Char('/') + n)) return false;
    return true;
}
}  // namespace

class TestUiErrors : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<MainWindow> w_;
    std::unique_ptr<Shown> shown_;
    qint64 maxGap_ = 0;
    QElapsedTimer tick_;
    QTimer stall_;

    // Loads `path` and expects modelFailed with a message containing every string of `want`;
    // the previously loaded model stays.
    void expectLoadError(const QString& path, const QStringList& want) {
        Workbench* wb = w_->workbench();
        QSignalSpy failed(wb, &Workbench::modelFailed);
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        w_->modelPanel()->loadPath(path);
        QVERIFY(failed.wait(30000));
        QCOMPARE(loaded.count(), 0);
        const QString m = shown_->error;
        qInfo("%s", qPrintable(m));
        for (const QString& s : want) QVERIFY2(m.contains(s), qPrintable(QStringLiteral("'%1' not in: %2").arg(s, m)));
        QVERIFY(wb->hasModel());
        QCOMPARE(wb->modelPath(), planted());
        stillUsable();
    }
    void stillUsable() {
        Workbench* wb = w_->workbench();
        QVERIFY(waitIdle(wb));
        const QString text = wb->text();
        wb->setText(QStringLiteral("ids: 1 5 9 13 17 21 25 29"));
        QSignalSpy ppl(wb, &Workbench::pplChanged);
        const std::set<Neuron> one{Neuron{0, Module::act_fn, 0}};
        wb->requestMask(wb->masked() == one ? std::set<Neuron>{} : one, QStringLiteral("check"));
        QVERIFY(ppl.wait(20000));
        QVERIFY(std::isfinite(ppl.last().at(0).toDouble()) && ppl.last().at(0).toDouble() > 1.0);
        QVERIFY(waitIdle(wb));
        wb->setText(text);
    }
    void expectSearchError(const QStringList& want) {
        Workbench* wb = w_->workbench();
        QSignalSpy failed(wb, &Workbench::searchFailed);
        QSignalSpy finished(wb, &Workbench::searchFinished);
        wb->runSearch();
        QVERIFY(failed.count() > 0 || failed.wait(60000));
        QCOMPARE(finished.count(), 0);
        const QString m = shown_->error;
        qInfo("%s", qPrintable(m));
        for (const QString& s : want) QVERIFY2(m.contains(s), qPrintable(QStringLiteral("'%1' not in: %2").arg(s, m)));
        QVERIFY(waitIdle(wb));
        QVERIFY(!wb->searching());
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        if (!QFile::exists(planted() + QStringLiteral("/model.safetensors"))) QSKIP("tests/fixtures/search is missing");
        QVERIFY(dir_.isValid());
        w_ = std::make_unique<MainWindow>();
        shown_ = std::make_unique<Shown>(w_.get());
        w_->resize(1200, 800);
        w_->show();
        QSignalSpy loaded(w_->workbench(), &Workbench::modelLoaded);
        w_->modelPanel()->loadPath(planted());
        QVERIFY(loaded.wait(30000));
        // The UI thread must keep ticking through every error below.
        stall_.setInterval(5);
        connect(&stall_, &QTimer::timeout, this, [this] { maxGap_ = std::max(maxGap_, tick_.restart()); });
        tick_.start();
        stall_.start();
    }

    void folderThatIsNotAModel() {
        const QString d = dir_.filePath(QStringLiteral("not-a-model"));
        QVERIFY(QDir().mkpath(d));
        writeFile(d + QStringLiteral("/notes.txt"), "hello");
        expectLoadError(d, {QStringLiteral("not-a-model"), QStringLiteral("config.json")});
    }

    void missingFolder() { expectLoadError(dir_.filePath(QStringLiteral("nowhere")), {QStringLiteral("nowhere")}); }

    void truncatedSafetensors() {
        const QString d = dir_.filePath(QStringLiteral("truncated"));
        QVERIFY(copyDir(fixtures() + QStringLiteral("/llama3"), d));
        QFile f(d + QStringLiteral("/model.safetensors"));
        const qint64 size = f.size();
        QVERIFY(size > 1000);
        QVERIFY(f.resize(size / 2));
        expectLoadError(d, {QStringLiteral("model.safetensors")});
    }

    void garbageSafetensorsHeader() {
        const QString d = dir_.filePath(QStringLiteral("garbage"));
        QVERIFY(copyDir(fixtures() + QStringLiteral("/llama3"), d));
        QFile::remove(d + QStringLiteral("/model.safetensors"));
        writeFile(d + QStringLiteral("/model.safetensors"), QByteArray("\xff\xff\xff\xff\xff\xff\xff\x7f{not json", 17));
        expectLoadError(d, {QStringLiteral("model.safetensors")});
    }

    void unknownModelType() {
        const QString d = dir_.filePath(QStringLiteral("unknown-type"));
        QVERIFY(copyDir(fixtures() + QStringLiteral("/llama3"), d));
        QFile f(d + QStringLiteral("/config.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QJsonObject c = QJsonDocument::fromJson(f.readAll()).object();
        f.close();
        c[QStringLiteral("model_type")] = QStringLiteral("frobnicator");
        c[QStringLiteral("architectures")] = QJsonArray{QStringLiteral("FrobnicatorForCausalLM")};
        QFile::remove(f.fileName());
        writeFile(f.fileName(), QJsonDocument(c).toJson());
        expectLoadError(d, {QStringLiteral("config.json"), QStringLiteral("model_type")});
    }

    void configNotJson() {
        const QString d = dir_.filePath(QStringLiteral("bad-config"));
        QVERIFY(copyDir(fixtures() + QStringLiteral("/llama3"), d));
        QFile::remove(d + QStringLiteral("/config.json"));
        writeFile(d + QStringLiteral("/config.json"), "{\"model_type\": \"llama\", \"hidden_size\": ");
        expectLoadError(d, {QStringLiteral("config.json")});
    }

    void sessionNotJson() {
        const QString path = dir_.filePath(QStringLiteral("garbage.achilles"));
        writeFile(path, "this is not JSON \x01\x02");
        QVERIFY(!w_->openSessionFile(path));
        QVERIFY2(shown_->error.contains(QStringLiteral("garbage.achilles")), qPrintable(shown_->error));
        // the menus and drops use the worker: same message through sessionFailed
        QSignalSpy failed(w_->workbench(), &Workbench::sessionFailed);
        w_->openSessionFileAsync(path);
        QVERIFY(failed.wait(20000));
        QVERIFY2(shown_->error.contains(QStringLiteral("garbage.achilles")), qPrintable(shown_->error));
        QVERIFY(shown_->error.contains(QStringLiteral("JSON")));
        stillUsable();
    }

    void sessionEmptyAndWrongShape() {
        const QString empty = dir_.filePath(QStringLiteral("empty.achilles"));
        writeFile(empty, "");
        QVERIFY(!w_->openSessionFile(empty));
        QVERIFY2(shown_->error.contains(QStringLiteral("empty.achilles")), qPrintable(shown_->error));
        const QString array = dir_.filePath(QStringLiteral("array.achilles"));
        writeFile(array, "[1, 2, 3]");
        QVERIFY(!w_->openSessionFile(array));
        QVERIFY2(shown_->error.contains(QStringLiteral("array.achilles")), qPrintable(shown_->error));
        const QString missing = dir_.filePath(QStringLiteral("missing.achilles"));
        QSignalSpy failed(w_->workbench(), &Workbench::sessionFailed);
        w_->openSessionFileAsync(missing);
        QVERIFY(failed.wait(20000));
        QVERIFY2(shown_->error.contains(QStringLiteral("missing.achilles")), qPrintable(shown_->error));
        stillUsable();
    }

    // A result of schema 1 (whose "act" site was act_fn(gate)*up) opens, with a warning that says
    // so; its "act" entries read as act_fn.
    void olderResultOpensWithWarning() {
        // A window of its own: the opened result belongs to no loaded model, so it would leave the
        // shared window's views stale for the tests after this one.
        MainWindow w;
        Shown shown(&w);
        const QString path = dir_.filePath(QStringLiteral("old-result.json"));
        writeFile(path, R"({"schema":"achilles.result/1","layers":2,"ids":[1,2,3],"ppl_orig":5.0,)"
                        R"("ranking":[{"layer":1,"module":"act","channel":3,"position":0,"importance":2.0}]})");
        QVERIFY(w.openSessionFile(path));
        QVERIFY2(shown.warning.contains(QStringLiteral("old-result.json")) &&
                     shown.warning.contains(QStringLiteral("mlp.act_fn")),
                 qPrintable(shown.warning));
        const auto& r = w.workbench()->result();
        QVERIFY(r && r->ranking.size() == 1);
        QVERIFY(r->ranking[0].neuron == (Neuron{1, Module::act_fn, 3}));
        // A current result opens without it.
        const QString now = dir_.filePath(QStringLiteral("new-result.json"));
        writeFile(now, R"({"schema":"achilles.result/2","layers":2,"ids":[1,2,3],"ppl_orig":5.0})");
        shown.warning.clear();
        QVERIFY(w.openSessionFile(now));
        QVERIFY2(shown.warning.isEmpty(), qPrintable(shown.warning));
    }

    void emptyProbeText() {
        w_->workbench()->setText(QString());
        expectSearchError({QStringLiteral("probe text")});
    }

    void oneTokenProbeText() {
        w_->workbench()->setText(QStringLiteral("ids: 5"));  // the fixture has no tokenizer
        expectSearchError({QStringLiteral("too short")});
        w_->workbench()->setText(QStringLiteral("ids: 5 x 7"));
        expectSearchError({QStringLiteral("'x'")});
    }

    void nonUtf8ProbeFile() {
        const QString path = dir_.filePath(QStringLiteral("latin1.txt"));
        writeFile(path, "caf\xe9 au lait\n");  // ISO-8859-1
        const QString before = w_->workbench()->text();
        QVERIFY(!w_->probePanel()->openFile(path));
        QVERIFY2(shown_->error.contains(QStringLiteral("latin1.txt")), qPrintable(shown_->error));
        QVERIFY2(shown_->error.contains(QStringLiteral("UTF-8")), qPrintable(shown_->error));
        QVERIFY2(shown_->error.contains(QStringLiteral("offset 3")), qPrintable(shown_->error));
        QCOMPARE(w_->workbench()->text(), before);  // the editor keeps its text
        const QString bin = dir_.filePath(QStringLiteral("binary.bin"));
        writeFile(bin, QByteArray("ab\0cd", 5));
        QVERIFY(!w_->probePanel()->openFile(bin));
        QVERIFY2(shown_->error.contains(QStringLiteral("binary.bin")), qPrintable(shown_->error));
        QVERIFY(!w_->probePanel()->openFile(dir_.filePath(QStringLiteral("absent.txt"))));
        QVERIFY2(shown_->error.contains(QStringLiteral("absent.txt")), qPrintable(shown_->error));
        // valid UTF-8 (with a BOM) loads
        const QString good = dir_.filePath(QStringLiteral("good.txt"));
        writeFile(good, "\xef\xbb\xbf" "caf\xc3\xa9 ok");
        QVERIFY(w_->probePanel()->openFile(good));
        QCOMPARE(w_->workbench()->text(), QStringLiteral("café ok"));
    }

    void invalidDatasetFailsBeforeTheSearch() {
        Workbench* wb = w_->workbench();
        wb->setText(QStringLiteral("ids: 1 5 9 13 17 21 25 29"));
        SearchOptions o = wb->options();
        o.samples = 2;
        o.max_steps = 5;
        const SearchOptions keep = o;
        const QString jsonl = dir_.filePath(QStringLiteral("bad.jsonl"));
        writeFile(jsonl, "{\"text\": \"fine\"}\n{\"txt\": 3}\n");
        o.eval_dataset = jsonl.toStdString();
        wb->setOptions(o);
        QSignalSpy points(wb, &Workbench::curvePoint);
        expectSearchError({QStringLiteral("bad.jsonl"), QStringLiteral("text")});
        QCOMPARE(points.count(), 0);  // rejected up front, not after the whole search
        o.eval_dataset = dir_.filePath(QStringLiteral("no-such-dataset.txt")).toStdString();
        wb->setOptions(o);
        expectSearchError({QStringLiteral("no-such-dataset.txt")});
        wb->setOptions(keep);
        stillUsable();
    }

    void uiNeverStalled() {
        stall_.stop();
        qInfo("longest UI event-loop gap over all error cases: %lld ms", maxGap_);
        QVERIFY2(maxGap_ < 250, qPrintable(QString::number(maxGap_)));
    }

    void cleanupTestCase() {
        shown_.reset();
        w_.reset();
    }
};

QTEST_MAIN(TestUiErrors)
#include "test_ui_errors.moc"
