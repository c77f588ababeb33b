// SPDX-License-Identifier: GPL-3.0-or-later
// Input and interaction (issue 11): the redo shortcut, Ctrl+Q and the Unsaved dialog, the wheel on
// unfocused spin boxes, drag and drop (a text file on the probe editor, a binary file on the
// window, Copy not Move), the debounced neuron filter, per-channel ticking said in the table,
// cancel without a stale ETA, full-precision CSV and the export size's units.
#include "export/export.h"
#include "main_window.h"
#include "models/neuron_model.h"
#include "panels/heatmap_panel.h"
#include "panels/model_panel.h"
#include "panels/neurons_panel.h"
#include "panels/phase_panel.h"
#include "panels/option_form.h"
#include "panels/probe_panel.h"
#include "panels/search_panel.h"
#include "widgets/file_dialogs.h"
#include "ui_test_util.h"
#include "workbench/workbench.h"
#include <QAction>
#include <QApplication>
#include <QDialog>
#include <QDockWidget>
#include <QAbstractButton>
#include <QComboBox>
#include <QProgressBar>
#include <QScrollArea>
#include <QDir>
#include <QFileDialog>
#include <QSettings>
#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QUndoStack>
#include <QUrl>
#include <QWheelEvent>
#include <qcustomplot.h>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::Shown;
using achilles::ui::uitest::waitIdle;

namespace {
class Step : public QUndoCommand {
public:
    explicit Step(int* v) : QUndoCommand(QStringLiteral("step")), v_(v) {}
    void redo() override { ++*v_; }
    void undo() override { --*v_; }
    int* v_;
};

QAction* actionWithKey(QWidget* w, const QKeySequence& k) {
    for (QAction* a : w->findChildren<QAction*>())
        if (a->shortcuts().contains(k)) return a;
    return nullptr;
}

// A result of `rows` ranking entries on a made-up 4-layer model (for the table's behaviour only).
SearchResult syntheticResult(int rows) {
    SearchResult r;
    r.model = ModelFingerprint{"/nowhere/synthetic", "c", "h"};
    r.layers = 4;
    r.ids = {1, 2, 3};
    r.ppl_orig = 10;
    for (int i = 0; i < rows; ++i)
        r.ranking.push_back(RankedEntry{Neuron{i % 4, Module::down_proj, (i / 4) % 5000}, i % 3, 1.0 / (1.0 + i) + 0.123456789012345});
    return r;
}

QWheelEvent wheelUp(QWidget* w) {
    const QPointF p(w->width() / 2.0, w->height() / 2.0);
    return QWheelEvent(p, w->mapToGlobal(p), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
}
}  // namespace

class TestInput : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private slots:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    // Every file dialog starts in the last folder used for its kind (models, sessions, exports,
    // texts), remembered in QSettings, and in the home folder the first time or when it is gone.
    void fileDialogsStartInTheLastFolderUsed() {
        QSettings().clear();
        const QString exports = dir_.filePath(QStringLiteral("figs")), sessions = dir_.filePath(QStringLiteral("sess"));
        QVERIFY(QDir().mkpath(exports) && QDir().mkpath(sessions));
        for (DialogKind k : {DialogKind::models, DialogKind::sessions, DialogKind::exports, DialogKind::texts})
            QCOMPARE(lastDialogDir(k), QDir::homePath());
        MainWindow w;
        w.show();
        // Answers the next file dialog with `answer` (a file or folder name) and records where it started.
        QString startedIn;
        auto answerNextDialog = [&](const QString& answer) {
            startedIn.clear();
            auto* poll = new QTimer(&w);
            connect(poll, &QTimer::timeout, &w, [&, poll, answer] {
                auto* fd = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
                if (!fd) return;
                poll->stop();
                poll->deleteLater();
                startedIn = QDir::cleanPath(fd->directory().absolutePath());
                if (answer.isEmpty()) fd->reject();
                else {
                    fd->selectFile(answer);
                    QMetaObject::invokeMethod(fd, "accept");
                }
            });
            poll->start(20);
        };
        // 1. the neurons CSV (an export): starts at home; the CSV goes into figs/
        answerNextDialog(QDir(exports).filePath(QStringLiteral("neurons.csv")));
        emit w.neuronsPanel()->exportCsvRequested();
        QCOMPARE(startedIn, QDir::cleanPath(QDir::homePath()));
        QCOMPARE(lastDialogDir(DialogKind::exports), QDir::cleanPath(exports));
        // 2. a plot export starts where the CSV went
        QCOMPARE(dialogStartPath(DialogKind::exports, QStringLiteral("phase.png")), QDir(exports).filePath(QStringLiteral("phase.png")));
        // 3. sessions are their own kind: still home, until a session is saved in sess/
        answerNextDialog(QString());
        auto* saveAs = [&]() -> QAction* {
            for (QAction* a : w.findChildren<QAction*>())
                if (a->text() == QStringLiteral("Save session &as…")) return a;
            return nullptr;
        }();
        QVERIFY(saveAs);
        saveAs->trigger();
        QCOMPARE(startedIn, QDir::cleanPath(QDir::homePath()));
        QVERIFY(w.saveSessionFile(QDir(sessions).filePath(QStringLiteral("s.achilles"))));
        answerNextDialog(QString());
        saveAs->trigger();
        QCOMPARE(startedIn, QDir::cleanPath(sessions));
        QCOMPARE(lastDialogDir(DialogKind::exports), QDir::cleanPath(exports));  // untouched
        // 4. a model folder: the next Open model starts beside it (its parent)
        rememberDialogPath(DialogKind::models, QDir(sessions).filePath(QStringLiteral("model-a")), true);
        QCOMPARE(lastDialogDir(DialogKind::models), QDir::cleanPath(sessions));
        // 5. a remembered folder that is gone: home again
        QVERIFY(QDir(exports).removeRecursively());
        QCOMPARE(lastDialogDir(DialogKind::exports), QDir::homePath());
        w.markClean();
        QSettings().clear();
    }

    // The Search panel after a model load, at the default size and on a 1366x768 laptop: no
    // button, box or label narrower than its text, and the Run/Cancel buttons, the progress and
    // the log in view without scrolling.
    void searchPanelDoesNotClipAfterAModelLoad() {
        for (const QSize size : {QSize(), QSize(1366, 768 - 48)}) {
            QSettings().clear();
            MainWindow w;
            if (size.isValid()) w.resize(size);
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            w.resetLayout();
            Workbench* wb = w.workbench();
            QSignalSpy loaded(wb, &Workbench::modelLoaded);
            w.modelPanel()->loadPath(QStringLiteral("default"));
            QVERIFY(loaded.wait(60000));
            QVERIFY(waitIdle(wb));
            QTest::qWait(100);
            SearchPanel* sp = w.searchPanel();
            QVERIFY(sp->isVisible());
            const QString tag = size.isValid() ? QStringLiteral("1366x768") : QStringLiteral("default");
            if (!qEnvironmentVariableIsEmpty("ACHILLES_TEST_SHOTS")) {
                w.grab().save(qEnvironmentVariable("ACHILLES_TEST_SHOTS") + QStringLiteral("/search-%1-window.png").arg(tag));
                sp->grab().save(qEnvironmentVariable("ACHILLES_TEST_SHOTS") + QStringLiteral("/search-%1.png").arg(tag));
            }
            auto clipped = [](QWidget* x) {
                return x->isVisible() && x->width() < x->minimumSizeHint().width();
            };
            for (QWidget* x : sp->findChildren<QWidget*>()) {
                const bool text = qobject_cast<QAbstractButton*>(x) || qobject_cast<QComboBox*>(x) || qobject_cast<QAbstractSpinBox*>(x) ||
                                  (qobject_cast<QLabel*>(x) && !static_cast<QLabel*>(x)->wordWrap());
                if (text) QVERIFY2(!clipped(x), qPrintable(QStringLiteral("%1 %2 (%3): %4 < %5 at %6").arg(tag, QLatin1String(x->metaObject()->className()),
                                                   x->objectName()).arg(x->width()).arg(x->minimumSizeHint().width()).arg(sp->width())));
            }
            // what the user watches during a run is in view
            auto inView = [sp](QWidget* x) {
                const QRect r(x->mapTo(sp, QPoint(0, 0)), x->size());
                return x->isVisible() && sp->rect().contains(r);
            };
            for (const char* name : {"runSearch", "cancelSearch", "searchLog"}) {
                auto* x = sp->findChild<QWidget*>(QLatin1String(name));
                QVERIFY2(x && inView(x), qPrintable(tag + QLatin1Char(' ') + QLatin1String(name)));
            }
            w.markClean();
        }
        QSettings().clear();
    }

    void redoShortcutIsUnambiguous() {
        MainWindow w;
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        auto* redo = w.findChild<QAction*>(QStringLiteral("redoAction"));
        QVERIFY(redo);
        const QList<QKeySequence> keys = redo->shortcuts();
        QVERIFY(keys.contains(QKeySequence(QStringLiteral("Ctrl+Shift+Z"))));
        for (const QKeySequence& k : keys) QCOMPARE(keys.count(k), 1);
        // no other action of the window claims a redo key
        for (QAction* a : w.findChildren<QAction*>())
            if (a != redo)
                for (const QKeySequence& k : keys) QVERIFY2(!a->shortcuts().contains(k), qPrintable(a->text()));
        int v = 0;
        w.workbench()->undoStack()->push(new Step(&v));
        w.workbench()->undoStack()->undo();
        QCOMPARE(v, 0);
        QTest::failOnWarning(QRegularExpression(QStringLiteral("Ambiguous shortcut")));
        QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
        QCOMPARE(v, 1);
        w.workbench()->undoStack()->undo();
        QTest::keyClick(&w, Qt::Key_Y, Qt::ControlModifier);
        QCOMPARE(v, 1);
    }

    void quitAsksWhenUnsavedWithMnemonics() {
        MainWindow w;
        w.show();
        QVERIFY(!w.isWindowModified());  // no "*" at startup
        w.workbench()->setText(QStringLiteral("a probe"));
        w.markClean();                   // what main() does after --demo
        QVERIFY(!w.isWindowModified());
        w.workbench()->setText(QStringLiteral("an edited probe"));  // no result yet, but unsaved
        QVERIFY(w.isWindowModified());
        QAction* quit = actionWithKey(&w, QKeySequence(QStringLiteral("Ctrl+Q")));
        QVERIFY(quit);
        QStringList buttons;
        bool asked = false;
        QTimer::singleShot(100, this, [&] {
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            if (!box) return;
            asked = true;
            for (QAbstractButton* b : box->buttons()) buttons << b->text();
            for (QAbstractButton* b : box->buttons())
                if (b->text() == QLatin1String("&Cancel")) b->click();
        });
        quit->trigger();
        QVERIFY(asked);
        QCOMPARE(buttons.size(), 3);
        QVERIFY(buttons.contains(QStringLiteral("&Save")));
        QVERIFY(buttons.contains(QStringLiteral("&Discard")));
        QVERIFY(buttons.contains(QStringLiteral("&Cancel")));
        QVERIFY(w.isVisible());  // cancelled: still open
        // Discard quits
        QTimer::singleShot(100, this, [&] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget()))
                for (QAbstractButton* b : box->buttons())
                    if (b->text() == QLatin1String("&Discard")) b->click();
        });
        quit->trigger();
        QVERIFY(!w.isVisible());
    }

    void wheelChangesOnlyFocusedSpinBoxes() {
        MainWindow w;
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        w.showView(QStringLiteral("search"));
        auto* step = w.searchPanel()->findChild<QSpinBox*>(QStringLiteral("step"));
        QVERIFY(step);
        QCOMPARE(step->value(), 1);
        w.searchPanel()->runButton()->setFocus();
        QVERIFY(QTest::qWaitFor([&] { return w.searchPanel()->runButton()->hasFocus(); }, 2000));
        for (int i = 0; i < 5; ++i) {
            QWheelEvent e = wheelUp(step);
            QApplication::sendEvent(step, &e);
        }
        QCOMPARE(step->value(), 1);  // scrolling the panel over it left it alone
        QCOMPARE(w.workbench()->options().step, 1);
        step->setFocus();
        QVERIFY(QTest::qWaitFor([&] { return step->hasFocus(); }, 2000));
        QWheelEvent e = wheelUp(step);
        QApplication::sendEvent(step, &e);
        QCOMPARE(step->value(), 2);  // a focused one takes it
    }

    void textFileDroppedOnProbeEditorIsLoaded() {
        MainWindow w;
        w.show();
        const QString path = dir_.filePath(QStringLiteral("probe.txt"));
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("A probe text from a dropped file.\n");
        }
        QWidget* vp = w.probePanel()->editor()->viewport();
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(path)});
        QDragEnterEvent enter(QPoint(5, 5), Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(vp, &enter);
        QVERIFY(enter.isAccepted());
        QCOMPARE(enter.dropAction(), Qt::CopyAction);
        QDropEvent drop(QPointF(5, 5), Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(vp, &drop);
        QCOMPARE(drop.dropAction(), Qt::CopyAction);
        QVERIFY(QTest::qWaitFor([&] { return w.workbench()->text() == QLatin1String("A probe text from a dropped file.\n"); }, 3000));
        QVERIFY(!w.probePanel()->editor()->toPlainText().contains(QStringLiteral("file://")));
    }

    void binaryDropSaysNotASessionBeforeAskingToSave() {
        MainWindow w;
        w.show();
        Shown shown(&w);
        w.workbench()->setText(QStringLiteral("unsaved probe"));
        QVERIFY(w.isWindowModified());
        const QString path = dir_.filePath(QStringLiteral("blob.bin"));
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray("\x7f" "ELF\x02\x01\x01\x00\x00\x00", 10));
        }
        bool asked = false;
        QTimer guard;  // any modal "save first?" box is the failure: note it and close it
        connect(&guard, &QTimer::timeout, this, [&] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
                box && box->windowTitle() == QLatin1String("Unsaved session")) {
                asked = true;
                box->reject();
            }
        });
        guard.start(20);
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(path)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QCOMPARE(enter.dropAction(), Qt::CopyAction);
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction | Qt::MoveAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &drop);
        QCOMPARE(drop.dropAction(), Qt::CopyAction);
        QVERIFY(QTest::qWaitFor([&] { return !shown.error.isEmpty(); }, 3000));
        guard.stop();
        QVERIFY2(shown.error.contains(QStringLiteral("not an Achilles session")), qPrintable(shown.error));
        QVERIFY(!asked);
        QCOMPARE(w.workbench()->text(), QStringLiteral("unsaved probe"));
    }

    void neuronFilterIsDebouncedAndTicksAreChannels() {
        MainWindow w;
        w.show();
        Workbench* wb = w.workbench();
        wb->setResult(syntheticResult(100000));
        NeuronFilterProxy* proxy = w.neuronsPanel()->proxy();
        QCOMPARE(proxy->rowCount(), 100000);
        QLineEdit* filter = nullptr;
        for (auto* e : w.neuronsPanel()->findChildren<QLineEdit*>())
            if (e->placeholderText().startsWith(QStringLiteral("Filter"))) filter = e;
        QVERIFY(filter);
        QElapsedTimer typing;
        typing.start();
        QTest::keyClicks(filter, QStringLiteral("L2 4999"));
        const qint64 typed = typing.elapsed();
        QCOMPARE(proxy->rowCount(), 100000);  // not filtered per keystroke
        QVERIFY(proxy->text().isEmpty());
        QVERIFY(QTest::qWaitFor([&] { return proxy->text() == QLatin1String("L2 4999"); }, 3000));
        qInfo("typing 7 characters took %lld ms", typed);
        // L2 and channel 4999: rows i with i%4 == 2 and (i/4)%5000 == 4999
        int expect = 0;
        for (int i = 0; i < 100000; ++i) expect += (i % 4 == 2 && (i / 4) % 5000 == 4999);
        QCOMPARE(proxy->rowCount(), expect);
        // per-channel masking is said where the tick is
        const QString tip = proxy->data(proxy->index(0, NeuronTableModel::ColMask), Qt::ToolTipRole).toString();
        QVERIFY2(tip.contains(QStringLiteral("%1 rows").arg(expect)) && tip.contains(QStringLiteral("every position")), qPrintable(tip));
        QVERIFY(w.neuronModel()->headerData(NeuronTableModel::ColMask, Qt::Horizontal, Qt::ToolTipRole).toString().contains(QStringLiteral("per channel")));
    }

    void csvHasFullPrecision() {
        MainWindow w;
        Workbench* wb = w.workbench();
        SearchResult r = syntheticResult(3);
        r.ranking[0].importance = 0.12345678901234566;
        wb->setResult(r);
        const QString path = dir_.filePath(QStringLiteral("n.csv"));
        exportCsv(w.neuronsPanel()->proxy(), path);
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QString csv = QString::fromUtf8(f.readAll());
        QVERIFY2(csv.contains(QStringLiteral("0.12345678901234566")), qPrintable(csv));
        QVERIFY(!csv.contains(QStringLiteral(",0.123,")));
    }

    // The "paper" figure style: the presets' physical sizes (3.5 in / 7.2 in wide, 600 DPI PNG),
    // vector PDF pages of width/96 in with fonts at their point size, the style chosen in the
    // export dialog, and the plot's own fonts put back afterwards.
    void paperFigureStyle() {
        const PlotExportOptions single = paperOptions(false), twin = paperOptions(true);
        QCOMPARE(single.style, FigureStyle::paper);
        QCOMPARE(single.width, 336);  // 3.5 in = 89 mm
        QCOMPARE(twin.width, 691);    // 7.2 in = 183 mm
        QCOMPARE(single.dpi, 600);
        QCOMPARE(figureOptionsByName(QStringLiteral("paper-double")).width, 691);
        QVERIFY_THROWS_EXCEPTION(std::exception, figureOptionsByName(QStringLiteral("poster")));
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        w.workbench()->setResult(syntheticResult(400));
        QCustomPlot* plot = w.phasePanel()->plot();
        const QFont tick = plot->xAxis->tickLabelFont(), label = plot->xAxis->labelFont();
        const QString png = dir_.filePath(QStringLiteral("paper.png")), pdf = dir_.filePath(QStringLiteral("paper.pdf")),
                      screenPdf = dir_.filePath(QStringLiteral("screen.pdf"));
        exportPlots({{plot, png}, {plot, pdf}}, single);
        exportPlot(plot, screenPdf, PlotExportOptions{});
        const QImage img(png);
        QCOMPARE(img.width(), 2100);  // 3.5 in at 600 DPI
        QVERIFY(std::abs(img.dotsPerMeterX() * 0.0254 - 600) < 1);
        auto mediaBox = [](const QString& f) {
            QFile in(f);
            if (!in.open(QIODevice::ReadOnly)) return QString();
            const QByteArray b = in.readAll();
            const qsizetype i = b.indexOf("/MediaBox");
            return i < 0 ? QString() : QString::fromLatin1(b.mid(i, b.indexOf(']', i) - i + 1));
        };
        QVERIFY2(mediaBox(pdf).contains(QStringLiteral("[0 0 252.0")), qPrintable(mediaBox(pdf)));        // 3.5 in = 252 pt
        QVERIFY2(mediaBox(screenPdf).contains(QStringLiteral("[0 0 900.000000 600.0")), qPrintable(mediaBox(screenPdf)));  // 1200/96 in
        QCOMPARE(plot->xAxis->tickLabelFont(), tick);  // put back
        QCOMPARE(plot->xAxis->labelFont(), label);
        // the dialog's preset
        PlotExportOptions chosen;
        QTimer::singleShot(100, this, [&] {
            auto* dlg = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            if (!dlg) return;
            auto* style = dlg->findChild<QComboBox*>(QStringLiteral("figureStyle"));
            if (style) style->setCurrentIndex(2);  // paper, double column
            dlg->accept();
        });
        QVERIFY(askPlotExportOptions(nullptr, chosen));
        QCOMPARE(chosen.style, FigureStyle::paper);
        QCOMPARE(chosen.width, 691);
        QCOMPARE(chosen.dpi, 600);
        // export all figures in the paper style
        const QStringList files = w.exportAllFigures(dir_.filePath(QStringLiteral("paper-all")), single);
        QVERIFY(files.size() >= 9);
        QCOMPARE(QImage(dir_.filePath(QStringLiteral("paper-all/heatmap.png"))).width(), 2100);
        w.markClean();
    }

    void exportSizeSaysItsUnits() {
        PlotExportOptions opt;  // 1200 x 800 at 150 DPI
        QString out, suffix;
        QTimer::singleShot(100, this, [&] {
            auto* dlg = qobject_cast<QDialog*>(QApplication::activeModalWidget());
            if (!dlg) return;
            if (auto* l = dlg->findChild<QLabel*>(QStringLiteral("pngSize"))) out = l->text();
            if (auto* s = dlg->findChild<QSpinBox*>()) suffix = s->suffix();
            dlg->reject();
        });
        QVERIFY(!askPlotExportOptions(nullptr, opt));
        QVERIFY2(out.contains(QStringLiteral("1875 × 1250 pixels")), qPrintable(out));
        QVERIFY2(suffix.contains(QStringLiteral("px")), qPrintable(suffix));
    }

    void drillDownZoomsChannelsOnlyAndHoversValues() {
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        const SearchResult r = syntheticResult(400);
        w.workbench()->setResult(r);
        HeatmapPanel* hm = w.heatmapPanel();
        hm->selectCell(1, int(Module::down_proj));
        QVERIFY(!w.grabView(QStringLiteral("heatmap")).isNull());  // a real size
        QCustomPlot* d = hm->drillPlot();
        d->replot();
        const QCPRange y0 = d->yAxis->range(), x0 = d->xAxis->range();
        for (double t : d->yAxis->tickVector()) QCOMPARE(t, std::round(t));  // layers: integer ticks only
        const QPointF c = d->axisRect()->rect().center();
        QWheelEvent e(c, d->mapToGlobal(c), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
        QApplication::sendEvent(d, &e);
        d->replot();
        QVERIFY2(d->xAxis->range().size() < x0.size() * 0.95, qPrintable(QString::number(d->xAxis->range().size())));
        QCOMPARE(d->yAxis->range().lower, y0.lower);  // the layer axis does not zoom
        QCOMPARE(d->yAxis->range().upper, y0.upper);
        QTest::mouseDClick(d, Qt::LeftButton, Qt::NoModifier, c.toPoint());
        QCOMPARE(d->xAxis->range().lower, x0.lower);
        QCOMPARE(d->xAxis->range().upper, x0.upper);
        // hover: the value of the cell under the mouse
        const RankedEntry& top = r.ranking[1];  // layer 1, channel 0
        const QString tip = hm->drillHoverText(d->xAxis->coordToPixel(top.neuron.channel), d->yAxis->coordToPixel(top.neuron.layer));
        QVERIFY2(tip.contains(QStringLiteral("max importance %1").arg(QString::number(hm->drillValue(1, top.neuron.channel), 'g', 6))), qPrintable(tip));
        QVERIFY(hm->drillValue(1, top.neuron.channel) > 0);
    }

    void exportsLeaveTheSelectionOut() {
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        w.workbench()->setResult(syntheticResult(400));
        HeatmapPanel* hm = w.heatmapPanel();
        hm->selectCell(1, int(Module::down_proj));
        QCustomPlot* p = hm->plot();
        QCPAbstractItem* selection = nullptr;
        for (int i = 0; i < p->itemCount(); ++i)
            if (p->item(i)->property(kUiOnlyProperty).toBool()) selection = p->item(i);
        QVERIFY(selection);
        QVERIFY(selection->visible());  // shown on screen
        PlotExportOptions o;
        o.width = 400;
        o.height = 300;
        o.dpi = 96;
        const QString a = dir_.filePath(QStringLiteral("with.png")), b = dir_.filePath(QStringLiteral("without.png"));
        exportPlot(p, a, o);
        QVERIFY(selection->visible());  // and still shown after the export
        selection->setVisible(false);
        exportPlot(p, b, o);
        selection->setVisible(true);
        QCOMPARE(QImage(a), QImage(b));  // the export had no selection rectangle
    }

    void svgHeatmapIsVectorCells() {
        MainWindow w;
        w.resize(1400, 900);
        w.show();
        w.workbench()->setResult(syntheticResult(400));
        HeatmapPanel* hm = w.heatmapPanel();
        hm->setMetric(HeatmapPanel::MaxImportance);
        QVERIFY(hm->populatedCells() > 0);
        const int items = hm->plot()->itemCount();
        const QByteArray svg = plotToSvg(hm->plot(), 640, 400);
        QVERIFY2(svg.count("<image") <= 1, qPrintable(QString::number(svg.count("<image"))));  // the colour bar only
        QVERIFY(svg.count("<path") + svg.count("<rect") >= hm->populatedCells());
        QCOMPARE(hm->plot()->itemCount(), items);  // the cells were temporary
        QVERIFY(hm->plot()->plottable(0)->visible());
    }

    void layoutIsNotRestoredUnderAnotherScreen() {
        QSettings().clear();
        {
            MainWindow w;
            w.show();
            w.findChild<QDockWidget*>(QStringLiteral("dock_model"))->hide();
            QVERIFY(w.close());  // saves the layout
        }
        {
            MainWindow w;
            w.show();
            QVERIFY(!w.findChild<QDockWidget*>(QStringLiteral("dock_model"))->isVisible());  // same screen: restored
        }
        QSettings().setValue(QStringLiteral("window/layout_key"), QStringLiteral("3200x2000@2"));  // saved at scale 2
        {
            MainWindow w;
            w.show();
            QVERIFY(w.findChild<QDockWidget*>(QStringLiteral("dock_model"))->isVisible());  // the default layout instead
        }
        QSettings().clear();
    }

    void defaultLayoutShowsTicksBesideTheirEffects() {
        QSettings().clear();
        MainWindow w;
        w.resize(1366, 740);
        w.show();
        w.resetLayout();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        auto* neurons = w.findChild<QDockWidget*>(QStringLiteral("dock_neurons"));
        auto* gens = w.findChild<QDockWidget*>(QStringLiteral("dock_generations"));
        auto* model = w.findChild<QDockWidget*>(QStringLiteral("dock_model"));
        auto* search = w.findChild<QDockWidget*>(QStringLiteral("dock_search"));
        QVERIFY(w.tabifiedDockWidgets(neurons).isEmpty());  // not sharing a tab
        QVERIFY(!w.tabifiedDockWidgets(gens).contains(neurons));
        QVERIFY(!w.tabifiedDockWidgets(model).contains(search));
        QTest::qWait(50);
        if (!qEnvironmentVariableIsEmpty("ACHILLES_TEST_SHOTS"))
            w.grab().save(qEnvironmentVariable("ACHILLES_TEST_SHOTS") + QStringLiteral("/default-layout.png"));
        for (QDockWidget* d : {neurons, gens, search, model}) {
            QVERIFY2(d->isVisible() && d->width() > 100 && d->height() > 100, qPrintable(d->objectName()));
            const QRect g(d->mapTo(&w, QPoint(0, 0)), d->size());
            QVERIFY2(w.rect().contains(g), qPrintable(QStringLiteral("%1 at %2,%3 %4x%5 in %6x%7").arg(d->objectName()).arg(g.x()).arg(g.y())
                                                          .arg(g.width()).arg(g.height()).arg(w.width()).arg(w.height())));
        }
        QVERIFY(!neurons->geometry().intersects(gens->geometry()));  // side by side, both in view

    }

    void minimumSizeFitsA1366x768Laptop() {
        MainWindow w;
        w.show();
        for (auto* d : w.findChildren<QDockWidget*>())
            qInfo("%s: %dx%d", qPrintable(d->objectName()), d->minimumSizeHint().width(), d->minimumSizeHint().height());
        const QSize m = w.minimumSizeHint().expandedTo(w.minimumSize());
        QVERIFY2(m.width() <= 1366 && m.height() <= 768 - 48, qPrintable(QStringLiteral("%1x%2").arg(m.width()).arg(m.height())));
    }

    void etaFollowsTheMeasuredRate() {
        // a slow start (5 s to 1 %), then 10 % per second: at 51 % the rest takes 4.9 s, not the
        // 9.6 s that the average since the start gives
        std::vector<std::pair<double, double>> r{{0.0, 0.0}, {5.0, 0.01}};
        for (int i = 1; i <= 5; ++i) r.emplace_back(5.0 + i, 0.01 + 0.1 * i);
        QVERIFY(std::abs(SearchPanel::etaSeconds(r) - 4.9) < 1e-9);
        QCOMPARE(SearchPanel::etaSeconds({{0.0, 0.2}}), -1.0);                // one report: unknown
        QCOMPARE(SearchPanel::etaSeconds({{0.0, 0.2}, {1.0, 0.2}}), -1.0);    // no progress: unknown
        QCOMPARE(SearchPanel::etaSeconds({{0.0, 0.2}, {1.0, 1.0}}), 0.0);
    }

    // Stage 2 on the embedded model (ε is never reached there, so it would run to n = 1000):
    // Ctrl+. and the Cancel button stop it within 1 s, and no stage shows an ETA afterwards.
    void cancelDuringStage2IsQuick() {
        MainWindow w;
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        Workbench* wb = w.workbench();
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        w.modelPanel()->loadPath(QStringLiteral("default"));
        QVERIFY(loaded.wait(60000));
        QVERIFY(waitIdle(wb));
        wb->setText(QStringLiteral("Once upon a time there was a little girl who lived in a village near the forest. "
                                   "Whenever she went out, the little girl wore a red riding cloak, so everyone in the "
                                   "village called her Little Red Riding Hood."));
        for (const int how : {0, 1, 2}) {  // Ctrl+. in the probe editor, Ctrl+. in a spin box, the Cancel button
            const bool byKey = how < 2;
            SearchOptions o = wb->options();
            o.samples = 4;  // a short stage 1
            o.epsilon = 9;  // never reached: stage 2 runs to max_steps
            o.max_steps = 1000;
            wb->setOptions(o);
            QSignalSpy cancelled(wb, &Workbench::searchCancelled);
            QSignalSpy finished(wb, &Workbench::searchFinished);
            Shown shown(&w);
            int points = 0;
            auto c = connect(wb, &Workbench::curvePoint, &w, [&] { ++points; });
            QTest::mouseClick(w.searchPanel()->runButton(), Qt::LeftButton);  // as a user does: focus moves on
            QVERIFY(wb->searching());
            QVERIFY(QTest::qWaitFor([&] {
                for (const QString& t : w.searchPanel()->stageTexts())
                    if (t.contains(QStringLiteral("stage2")) && t.contains(QStringLiteral("ETA"))) return true;
                return false;
            }, 60000) || (qInfo("%s error=%s", qPrintable(w.searchPanel()->stageTexts().join(QLatin1Char('|'))), qPrintable(shown.error)), false));
            QTest::qWait(300);  // well inside stage 2
            const int before = points;
            QElapsedTimer t;
            t.start();
            if (how == 0) w.probePanel()->findChild<QPlainTextEdit*>()->setFocus();
            if (how == 1) w.searchPanel()->findChild<QAbstractSpinBox*>()->setFocus();
            QApplication::processEvents();
            qInfo("focus: %s", QApplication::focusWidget() ? QApplication::focusWidget()->metaObject()->className() : "none");
            // through the window system, to the focus widget and the shortcut map, as a real key
            if (byKey) QTest::keyClick(w.windowHandle(), Qt::Key_Period, Qt::ControlModifier);
            else QTest::mouseClick(w.searchPanel()->cancelButton(), Qt::LeftButton);
            QVERIFY(QTest::qWaitFor([&] { return cancelled.count() > 0 || finished.count() > 0; }, 30000));
            qInfo("%s: cancelled after %lld ms, %d curve points before, %d after", byKey ? "Ctrl+." : "Cancel button", t.elapsed(), before,
                  points - before);
            QCOMPARE(finished.count(), 0);
            QCOMPARE(cancelled.count(), 1);
            QVERIFY(t.elapsed() < 1000);
            QVERIFY(waitIdle(wb));
            QTest::qWait(100);  // nothing late
            const QString texts = w.searchPanel()->stageTexts().join(QLatin1Char('|'));
            QVERIFY2(!texts.contains(QStringLiteral("ETA")) && texts.contains(QStringLiteral("cancelled")), qPrintable(texts));
            QVERIFY(!wb->searching());
            disconnect(c);
        }
        w.markClean();
    }

    void cancelClearsEtaAndIsQuick() {
        const QJsonObject golden = uitest::search_golden();
        if (golden.isEmpty()) QSKIP("tests/fixtures/search is missing");
        MainWindow w;
        w.show();
        Workbench* wb = w.workbench();
        QSignalSpy loaded(wb, &Workbench::modelLoaded);
        w.modelPanel();
        wb->loadModel([] {
            LoadOptions o;
            o.path = uitest::planted_fixture().toStdString();
            return o;
        }());
        QVERIFY(loaded.wait(30000));
        wb->setText(uitest::ids_text(golden));
        SearchOptions o = wb->options();
        o.samples = 200000;  // a stage 1 far longer than the test
        wb->setOptions(o);
        QSignalSpy cancelled(wb, &Workbench::searchCancelled);
        wb->runSearch();
        QVERIFY(QTest::qWaitFor([&] { return w.searchPanel()->stageTexts().join(QString()).contains(QStringLiteral("ETA")); }, 20000));
        QElapsedTimer t;
        t.start();
        wb->cancelSearch();
        QVERIFY(cancelled.wait(5000));
        qInfo("cancel took %lld ms", t.elapsed());
        QVERIFY(t.elapsed() < 1000);
        const QString texts = w.searchPanel()->stageTexts().join(QLatin1Char('|'));
        QVERIFY2(!texts.contains(QStringLiteral("ETA")) && texts.contains(QStringLiteral("cancelled")), qPrintable(texts));
        QVERIFY(waitIdle(wb));
    }
};

QTEST_MAIN(TestInput)
#include "test_ui_input.moc"
