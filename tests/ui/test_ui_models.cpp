// SPDX-License-Identifier: GPL-3.0-or-later
// Item models (QAbstractItemModelTester), mask toggles with undo/redo, CSV export, and the
// session document round trip and error handling, on a synthetic result (no model needed).
#include "achilles/error.h"
#include "workbench/workbench.h"
#include "export/export.h"
#include "models/neuron_model.h"
#include "panels/search_panel.h"
#include "test_paths.h"
#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QSpinBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>
#include <random>

using namespace achilles;
using namespace achilles::ui;

namespace {
SearchResult synthetic() {
    SearchResult r;
    r.model = ModelFingerprint{"/models/x", "cfg123", "hdr456"};
    r.model_type = "llama";
    r.text = "a small probe text";
    r.ids = {1, 5, 9, 12, 7};
    r.layers = 3;
    r.total_entries = 5 * 3 * 200;
    r.ppl_orig = 12.5;
    r.options.samples = 4;
    r.options.epsilon = 1.5;
    std::mt19937 rng(7);
    double imp = 100.0;
    for (int i = 0; i < 60; ++i) {
        RankedEntry e;
        e.neuron.layer = int(rng() % 3);
        e.neuron.module = kAllModules[rng() % kNumModules];
        e.neuron.channel = int(rng() % 12);
        e.position = int(rng() % 5);
        imp *= 0.93;
        e.importance = imp;
        r.ranking.push_back(e);
    }
    r.ranking[10].neuron = r.ranking[2].neuron;  // a neuron ranked at two positions
    for (int n = 1; n <= 8; ++n) r.curve.push_back(CurvePoint{n, n, 12.5 * std::pow(1.6, n), n * std::log10(1.6)});
    r.faithful.name = "faithful";
    r.faithful.n = 8;
    for (auto& e : r.ranking)
        if (r.faithful.neurons.size() < 6 && std::find(r.faithful.neurons.begin(), r.faithful.neurons.end(), e.neuron) == r.faithful.neurons.end())
            r.faithful.neurons.push_back(e.neuron);
    r.faithful.ppl = 12.5 * std::pow(1.6, 8);
    r.faithful.delta = 8 * std::log10(1.6);
    r.faithful.reached = true;
    CriticalSet m;
    m.name = "minimal";
    m.neurons = {r.faithful.neurons[0], r.faithful.neurons[3]};
    m.ppl = 400;
    m.delta = 1.6;
    m.reached = true;
    r.minimal = m;
    r.sweep.push_back(Series{"random", {{0, 1.1, 0}, {4, 1.2, 0.05}}});
    r.app_version = "test";
    return r;
}
}  // namespace

class TestModels : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    void tableModelContents() {
        Workbench wb;
        NeuronTableModel model(&wb);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 0);
        const SearchResult r = synthetic();
        wb.setResult(r);
        QCOMPARE(model.rowCount(), int(r.ranking.size()));
        QCOMPARE(model.columnCount(), int(NeuronTableModel::ColCount));
        for (int row : {0, 7, 59}) {
            const RankedEntry& e = r.ranking[size_t(row)];
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColRank)).toInt(), row + 1);
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColLayer)).toInt(), e.neuron.layer);
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColModule)).toString(), qs(module_name(e.neuron.module)));
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColChannel)).toInt(), e.neuron.channel);
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColPosition)).toInt(), e.position);
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColImportance), NeuronTableModel::SortRole).toDouble(), e.importance);
            const bool critical = std::count(r.faithful.neurons.begin(), r.faithful.neurons.end(), e.neuron) > 0;
            QCOMPARE(model.data(model.index(row, NeuronTableModel::ColSet)).toString().contains(QStringLiteral("critical")), critical);
        }
        wb.setResult(std::nullopt);
        QCOMPARE(model.rowCount(), 0);
    }

    void togglesUndoRedo() {
        Workbench wb;
        NeuronTableModel model(&wb);
        NeuronFilterProxy proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester t1(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const SearchResult r = synthetic();
        wb.setResult(r);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        const Neuron n = r.ranking[2].neuron;
        const int sameNeuronRows = int(std::count_if(r.ranking.begin(), r.ranking.end(), [&](const RankedEntry& e) { return e.neuron == n; }));
        QVERIFY(sameNeuronRows >= 2);
        QVERIFY(model.setData(model.index(2, NeuronTableModel::ColMask), Qt::Checked, Qt::CheckStateRole));
        QVERIFY(changed.count() >= 1);
        QCOMPARE(wb.masked().size(), size_t(1));
        QVERIFY(wb.masked().count(n));
        int checked = 0;
        for (int row = 0; row < model.rowCount(); ++row)
            checked += model.data(model.index(row, 0), Qt::CheckStateRole).toInt() == Qt::Checked;
        QCOMPARE(checked, sameNeuronRows);  // every row of that neuron shows the mask
        QVERIFY(model.setData(model.index(5, NeuronTableModel::ColMask), Qt::Checked, Qt::CheckStateRole));
        const size_t two = r.ranking[5].neuron == n ? 1 : 2;
        QCOMPARE(wb.masked().size(), two);
        QCOMPARE(wb.undoStack()->count(), 2);
        wb.undoStack()->undo();
        QCOMPARE(wb.masked().size(), size_t(1));
        wb.undoStack()->undo();
        QVERIFY(wb.masked().empty());
        QCOMPARE(model.data(model.index(2, 0), Qt::CheckStateRole).toInt(), int(Qt::Unchecked));
        wb.undoStack()->redo();
        QVERIFY(wb.masked().count(n));
        QCOMPARE(model.data(model.index(2, 0), Qt::CheckStateRole).toInt(), int(Qt::Checked));
        // unchecking through the proxy
        const QModelIndex pi = proxy.mapFromSource(model.index(2, 0));
        QVERIFY(proxy.setData(pi, Qt::Unchecked, Qt::CheckStateRole));
        QVERIFY(wb.masked().empty());
        // only the mask column is checkable
        QVERIFY(!model.setData(model.index(2, NeuronTableModel::ColLayer), Qt::Checked, Qt::CheckStateRole));
        QVERIFY(!(model.flags(model.index(2, NeuronTableModel::ColLayer)) & Qt::ItemIsUserCheckable));
    }

    void proxyFilters() {
        Workbench wb;
        NeuronTableModel model(&wb);
        NeuronFilterProxy proxy;
        proxy.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const SearchResult r = synthetic();
        wb.setResult(r);
        QCOMPARE(proxy.rowCount(), int(r.ranking.size()));
        auto count = [&](auto pred) { return int(std::count_if(r.ranking.begin(), r.ranking.end(), pred)); };
        proxy.setText(QStringLiteral("down_proj"));
        QCOMPARE(proxy.rowCount(), count([](const RankedEntry& e) { return e.neuron.module == Module::down_proj; }));
        proxy.setText(QStringLiteral("7"));
        QCOMPARE(proxy.rowCount(), count([](const RankedEntry& e) { return e.neuron.channel == 7 || e.neuron.layer == 7; }));
        proxy.setText(QStringLiteral("L1. q_proj"));
        QCOMPARE(proxy.rowCount(), count([](const RankedEntry& e) { return e.neuron.layer == 1 && e.neuron.module == Module::q_proj; }));
        proxy.setText({});
        proxy.setCell(2, int(Module::up_proj));
        QCOMPARE(proxy.rowCount(), count([](const RankedEntry& e) { return e.neuron.layer == 2 && e.neuron.module == Module::up_proj; }));
        proxy.setCell(std::nullopt, std::nullopt);
        wb.requestMask({r.ranking[0].neuron, r.ranking[1].neuron}, QStringLiteral("two"));
        proxy.setMaskedOnly(true);
        QCOMPARE(proxy.rowCount(), count([&](const RankedEntry& e) { return e.neuron == r.ranking[0].neuron || e.neuron == r.ranking[1].neuron; }));
        proxy.setMaskedOnly(false);
        // sorting by importance ascending through SortRole
        proxy.sort(NeuronTableModel::ColImportance, Qt::AscendingOrder);
        double prev = -1;
        for (int row = 0; row < proxy.rowCount(); ++row) {
            const double v = proxy.data(proxy.index(row, NeuronTableModel::ColImportance), NeuronTableModel::SortRole).toDouble();
            QVERIFY(v >= prev);
            prev = v;
        }
        QCOMPARE(proxy.data(proxy.index(0, NeuronTableModel::ColRank)).toInt(), int(r.ranking.size()));
    }

    void csvExport() {
        Workbench wb;
        NeuronTableModel model(&wb);
        const SearchResult r = synthetic();
        wb.setResult(r);
        wb.requestMask({r.ranking[0].neuron}, QStringLiteral("one"));
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("n.csv"));
        exportCsv(&model, path);
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), int(r.ranking.size()) + 1);
        QCOMPARE(lines[0], QStringLiteral("Mask,Rank,Layer,Module,Channel,Position,Importance,Set"));
        const QStringList first = lines[1].split(QLatin1Char(','));
        QCOMPARE(first[0], QStringLiteral("1"));  // masked
        QCOMPARE(first[2].toInt(), r.ranking[0].neuron.layer);
        QCOMPARE(first[3], qs(module_name(r.ranking[0].neuron.module)));
        QCOMPARE(first[4].toInt(), r.ranking[0].neuron.channel);
        QVERIFY(std::abs(first[6].toDouble() - r.ranking[0].importance) <= 1e-4 * r.ranking[0].importance);
        QCOMPARE(csvField(QStringLiteral("a,\"b\"")), QStringLiteral("\"a,\"\"b\"\"\""));
    }

    void sessionRoundTrip() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("s.achilles"));
        const SearchResult r = synthetic();
        QJsonObject view{{"heatmap", QJsonObject{{"metric", 2}}}};
        {
            Workbench wb;
            wb.setText(QStringLiteral("probe text ü"));
            SearchOptions o;
            o.samples = 7;
            o.seed = 18446744073709551557ull;  // > 2^53: must survive JSON
            o.baselines = {"random", "gradient"};
            o.mode = SearchMode::channel_max;
            wb.setOptions(o);
            wb.setResult(r);
            wb.requestMask({r.faithful.neurons[0], r.faithful.neurons[1]}, QStringLiteral("m"));
            GenerationState& g = wb.generation();
            g.prompt = QStringLiteral("Once");
            g.options.greedy = false;
            g.options.seed = 99;
            g.original.steps.push_back(TokenStep{5, "a", -0.1, {TokenAlternative{6, "b", -2.5}}});
            g.masked.steps.push_back(TokenStep{7, "c", -3.0, {}});
            g.valid = true;
            wb.saveSession(path, view);
        }
        Workbench wb2;
        QSignalSpy resultChanged(&wb2, &Workbench::resultChanged);
        const QJsonObject v2 = wb2.openSession(path, false);
        QCOMPARE(v2, view);
        QCOMPARE(resultChanged.count(), 1);
        QCOMPARE(wb2.text(), QStringLiteral("probe text ü"));
        QCOMPARE(wb2.options().samples, 7);
        QCOMPARE(wb2.options().seed, 18446744073709551557ull);
        QCOMPARE(wb2.options().mode, SearchMode::channel_max);
        QCOMPARE(wb2.options().baselines, (std::vector<std::string>{"random", "gradient"}));
        QVERIFY(wb2.result().has_value());
        QCOMPARE(QString::fromStdString(result_to_json(*wb2.result(), true)), QString::fromStdString(result_to_json(r, true)));
        QCOMPARE(wb2.masked(), (std::set<Neuron>{r.faithful.neurons[0], r.faithful.neurons[1]}));
        QCOMPARE(wb2.generation().prompt, QStringLiteral("Once"));
        QCOMPARE(wb2.generation().options.greedy, false);
        QCOMPARE(wb2.generation().options.seed, uint64_t(99));
        QCOMPARE(wb2.generation().original.steps.size(), size_t(1));
        QCOMPARE(wb2.generation().original.steps[0].alternatives[0].id, 6);
        QCOMPARE(wb2.generation().masked.steps[0].logprob, -3.0);
        QVERIFY(wb2.expectedFingerprint().has_value());
        QCOMPARE(wb2.expectedFingerprint()->config_hash, std::string("cfg123"));
        // the file is plain JSON with the schema tag
        const QJsonObject raw = readJsonFile(path);
        QCOMPARE(raw.value("schema").toString(), QStringLiteral("achilles.session/1"));
        QCOMPARE(raw.value("result").toObject().value("schema").toString(), QStringLiteral("achilles.result/2"));
    }

    void resultJsonOpensAsSession() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("result.json"));
        const SearchResult r = synthetic();
        write_file_atomic(path.toStdString(), result_to_json(r));
        Workbench wb;
        wb.openSession(path, false);
        QVERIFY(wb.result().has_value());
        QCOMPARE(wb.text(), qs(r.text));
        QCOMPARE(wb.options().epsilon, 1.5);
        QCOMPARE(wb.result()->ranking.size(), r.ranking.size());
        QCOMPARE(wb.result()->faithful, r.faithful);
    }

    void badSessionsAreClearErrors_data() {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expect");
        QTest::newRow("not json") << QByteArray("{ nope") << QStringLiteral("not valid JSON");
        QTest::newRow("array") << QByteArray("[1,2]") << QStringLiteral("not a JSON object");
        QTest::newRow("schema") << QByteArray(R"({"schema":"other/1"})") << QStringLiteral("schema");
        QTest::newRow("model") << QByteArray(R"({"schema":"achilles.session/1","model":3})") << QStringLiteral("model");
        QTest::newRow("options") << QByteArray(R"({"schema":"achilles.session/1","model":{},"options":{"alpha":"x"}})") << QStringLiteral("options.alpha");
        QTest::newRow("mode") << QByteArray(R"({"schema":"achilles.session/1","model":{},"options":{"mode":"fast"}})") << QStringLiteral("mode");
        QTest::newRow("masks") << QByteArray(R"({"schema":"achilles.session/1","model":{},"masks":[{"layer":0,"module":"nope","channel":1}]})") << QStringLiteral("nope");
        QTest::newRow("result") << QByteArray(R"({"schema":"achilles.session/1","model":{},"result":{"schema":"achilles.result/1","ppl_orig":"high"}})") << QStringLiteral("result");
    }
    void badSessionsAreClearErrors() {
        QFETCH(QByteArray, content);
        QFETCH(QString, expect);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("bad.achilles"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
        f.close();
        Workbench wb;
        wb.setText(QStringLiteral("keep me"));
        wb.setResult(synthetic());
        try {
            wb.openSession(path, false);
            QFAIL("no error");
        } catch (const Error& e) {
            const QString msg = QString::fromUtf8(e.what());
            QVERIFY2(msg.contains(QStringLiteral("bad.achilles")), qPrintable(msg));
            QVERIFY2(msg.contains(expect), qPrintable(msg));
        }
        // state untouched
        QCOMPARE(wb.text(), QStringLiteral("keep me"));
        QVERIFY(wb.result().has_value());
    }

    void searchPanelFollowsTheOptionsTable() {
        Workbench wb;
        SearchPanel panel(&wb);
        // One widget per search-group row of the table, named by its key, with the row's help and range.
        for (const SearchOptionField& f : search_option_fields()) {
            QWidget* w = panel.findChild<QWidget*>(qs(f.key));
            QCOMPARE(w != nullptr, f.group == "search");  // the dataset rows live in the Probe text panel
            if (!w) continue;
            QCOMPARE(w->toolTip(), qs(f.help));
            if (auto* spin = qobject_cast<QSpinBox*>(w)) {
                QCOMPARE(spin->minimum(), int(f.min));
                QCOMPARE(spin->maximum(), int(f.max));
            }
        }
        QCOMPARE(panel.findChild<QDoubleSpinBox*>(QStringLiteral("alpha"))->minimum(), search_option_field("alpha").min);
        QCOMPARE(panel.findChild<QSpinBox*>(QStringLiteral("sweep"))->specialValueText(), QStringLiteral("off"));
        // struct -> panel -> struct
        SearchOptions o;
        o.alpha = 2.5;
        o.samples = 7;
        o.seed = 18446744073709551557ull;
        o.epsilon = 1.25;
        o.step = 3;
        o.max_steps = 99;
        o.mode = SearchMode::channel_mean;
        o.strategy = SearchStrategy::bisect;
        o.minimize = true;
        o.top = 500;
        o.batch = 4;
        o.max_tokens = 64;
        o.baselines = {"random", "gradient"};
        o.random_runs = 3;
        o.sweep = 20;
        panel.setOptions(o);
        QCOMPARE(panel.findChild<QLineEdit*>(QStringLiteral("seed"))->text(), QStringLiteral("18446744073709551557"));
        QCOMPARE(panel.findChild<QComboBox*>(QStringLiteral("mode"))->currentText(), QStringLiteral("channel-mean"));
        QVERIFY(panel.options() == o);
        // widgets -> workbench, as the user edits them
        QSignalSpy changed(&wb, &Workbench::optionsChanged);
        panel.findChild<QDoubleSpinBox*>(QStringLiteral("alpha"))->setValue(7.5);
        QCOMPARE(wb.options().alpha, 7.5);
        panel.findChild<QCheckBox*>(QStringLiteral("activation"))->setChecked(true);
        QCOMPARE(wb.options().baselines, (std::vector<std::string>{"random", "activation", "gradient"}));
        QLineEdit* seed = panel.findChild<QLineEdit*>(QStringLiteral("seed"));
        seed->selectAll();
        QTest::keyClicks(seed, QStringLiteral("77"));
        QCOMPARE(wb.options().seed, uint64_t(77));
        panel.findChild<QComboBox*>(QStringLiteral("strategy"))->setCurrentIndex(0);
        QCOMPARE(wb.options().strategy, SearchStrategy::linear);
        QCOMPARE(changed.count(), 5);  // alpha, baseline, two key clicks, strategy
        QCOMPARE(wb.options().samples, 7);  // untouched fields keep their values
        // workbench -> widgets
        SearchOptions d;
        wb.setOptions(d);
        QCOMPARE(panel.findChild<QSpinBox*>(QStringLiteral("samples"))->value(), 100);
        QVERIFY(panel.options() == d);
    }

    void missingFileIsAnError() {
        Workbench wb;
        QVERIFY_THROWS_EXCEPTION(Error, wb.openSession(QStringLiteral("/nonexistent/x.achilles"), false));
    }
};

QTEST_MAIN(TestModels)
#include "test_ui_models.moc"
