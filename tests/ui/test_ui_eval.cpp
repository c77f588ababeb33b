// SPDX-License-Identifier: GPL-3.0-or-later
// Issue 8, GUI half: the Benchmarks panel (multiple-choice accuracy unmasked / critical / minimal /
// random, on the embedded default model with a 4-question JSONL written here), the Stability view
// (an achilles.stability/1 document made with the core API) and the Compare view (two result
// files made with the core API). Each view's shown numbers are checked against the core's.
// With ACHILLES_SCREENSHOT_DIR set, a screenshot of each view is written there.
#include "main_window.h"
#include "export/export.h"
#include "panels/benchmark_panel.h"
#include "panels/compare_panel.h"
#include "panels/model_panel.h"
#include "panels/stability_panel.h"
#include "ui_test_util.h"
#include "achilles/benchmark.h"
#include "achilles/compare.h"
#include "achilles/fileio.h"
#include "achilles/results.h"
#include "achilles/stability.h"
#include "workbench/workbench.h"
#include "achilles/chat_template.h"
#include "test_paths.h"
#include <QDir>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <set>
#include <QListWidget>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <qcustomplot.h>

using namespace achilles;
using namespace achilles::ui;
using achilles::ui::uitest::waitIdle;
using achilles::ui::uitest::loadModel;

namespace {
void shot(MainWindow& w, const QString& view, const QString& file) {
    const QString dir = qEnvironmentVariable("ACHILLES_SCREENSHOT_DIR");
    const QImage img = w.grabView(view);
    QVERIFY(!img.isNull());
    if (!dir.isEmpty()) QVERIFY(img.save(QDir(dir).filePath(file)));
}
MaskSpec maskOf(const std::vector<Neuron>& ns) {
    MaskSpec m;
    for (const Neuron& n : ns) m.push_back(MaskEntry{n, {}});
    return m;
}
const char* kBench =
    R"({"question": "Which animal says moo?", "choices": ["a cat", "a cow", "a dog"], "answer": 1, "subject": "animals"})" "\n"
    R"({"question": "What color is the sky on a clear day?", "choices": ["blue", "green", "red", "black"], "answer": 0, "subject": "nature"})" "\n"
    R"({"question": "Lily went to the park and played with her", "choices": ["ball", "spoon", "car"], "answer": 0, "subject": "stories"})" "\n"
    R"({"question": "Where do fish live?", "choices": ["in trees", "in water"], "answer": 1, "subject": "animals"})" "\n"
    R"({"question": "not read: past the limit", "choices": ["x", "y"], "answer": 0})" "\n";
}  // namespace

class TestEval : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString path(const char* name) const { return dir_.filePath(QLatin1String(name)); }

private slots:
    void benchmarkPanelShowsTheCoresAccuracies() {
        MainWindow w;
        uitest::Shown shown(&w);
        w.resize(1366, 740);
        w.show();
        QVERIFY(loadModel(w, QStringLiteral("default")));
        Workbench* wb = w.workbench();
        const ModelInfo& info = *wb->info();
        QVERIFY(info.has_tokenizer);
        // A result of this model: its critical set and a minimal set.
        SearchResult r;
        r.model = info.fingerprint;
        r.model_type = info.model_type;
        r.layers = info.layers;
        r.faithful.name = "faithful";
        r.faithful.neurons = {{0, Module::down_proj, 3}, {0, Module::act_fn, 11}, {1, Module::o_proj, 5},
                              {info.layers - 1, Module::down_proj, 7}};
        r.minimal = CriticalSet{"minimal", 0, {{0, Module::down_proj, 3}}};
        wb->setResult(r);
        write_file_atomic(path("bench.jsonl").toStdString(), kBench);

        BenchmarkPanel* p = w.benchmarkPanel();
        p->setBenchmarkFile(path("bench.jsonl"));
        p->setLimit(4);
        p->setMethod(BenchMethod::both);
        p->setMaxNew(6);
        p->setSeed(7);
        // The conditions are the CLI's: unmasked, critical, minimal, a seeded random set of the same size.
        const std::vector<BenchCondition> expected{{"unmasked", {}},
                                                   {"critical", maskOf(r.faithful.neurons)},
                                                   {"minimal", maskOf(r.minimal->neurons)},
                                                   {"random", maskOf(random_channels(info.shape, 4, 7))}};
        QVERIFY(p->conditions() == expected);
        QSignalSpy done(p, &BenchmarkPanel::finished);
        p->run();
        QVERIFY(p->running());
        QVERIFY(done.wait(180000));
        QVERIFY(p->report());

        // The same run through the core directly.
        BenchOptions bo;
        bo.method = BenchMethod::both;
        bo.max_new = 6;
        bo.seed = 7;
        const BenchReport core = run_benchmark(*wb->engine(), load_benchmark(path("bench.jsonl").toStdString(), 4), expected, bo, null_progress());
        QCOMPARE(core.rows, 4);
        QCOMPARE(bench_report_to_json(*p->report()), bench_report_to_json(core));
        QCOMPARE(int(p->report()->conditions.size()), 4);
        for (int c = 0; c < 4; ++c) {
            const MethodAccuracy& m = core.conditions[c].overall;
            const std::pair<const char*, const Accuracy*> metrics[] = {{"acc", &m.ll_acc}, {"acc_norm", &m.ll_acc_norm}, {"gen", &m.gen_acc}};
            for (const auto& [key, a] : metrics) {
                QCOMPARE(p->shownAccuracy(c, QLatin1String(key)), a->acc);
                QCOMPARE(p->shownInterval(c, QLatin1String(key)).first, a->ci.lo);
                QCOMPARE(p->shownInterval(c, QLatin1String(key)).second, a->ci.hi);
                const Interval wi = wilson_interval(a->correct, a->n);
                QCOMPARE(a->ci.lo, wi.lo);
            }
        }
        QCOMPARE(p->plot()->yAxis->label(), QStringLiteral("accuracy (fraction correct)"));
        // The table: "all" then each subject, one row per condition.
        QTableWidget* t = p->table();
        QCOMPARE(t->rowCount(), 4 * (1 + 3));
        for (int c = 0; c < 4; ++c) {
            const Accuracy& a = core.conditions[c].overall.ll_acc;
            QCOMPARE(t->item(c, 0)->text(), QStringLiteral("all"));
            QCOMPARE(t->item(c, 1)->text(), QString::fromStdString(core.conditions[c].name));
            QCOMPARE(t->item(c, 4)->text(), QStringLiteral("%1 [%2, %3]").arg(a.acc, 0, 'f', 3).arg(a.ci.lo, 0, 'f', 3).arg(a.ci.hi, 0, 'f', 3));
        }
        const Accuracy& animals = core.conditions[0].subjects.at("animals").ll_acc;
        QCOMPARE(t->item(4, 0)->text(), QStringLiteral("animals"));
        QCOMPARE(t->item(4, 3)->text(), QString::number(animals.n));
        QCOMPARE(animals.n, int64_t(2));

        // Save JSON: the core's report document.
        p->saveJson(path("bench.json"));
        QCOMPARE(read_file(path("bench.json").toStdString()), bench_report_to_json(core));
        shot(w, QStringLiteral("benchmarks"), QStringLiteral("benchmarks.png"));
        // Figure export through the window's export code.
        exportPlots({{p->plot(), path("bench.png")}, {p->plot(), path("bench.svg")}});
        QVERIFY(QFileInfo(path("bench.png")).size() > 1000);
        QVERIFY(read_file(path("bench.svg").toStdString()).find("accuracy (fraction correct)") != std::string::npos);

        // A bad file: an error naming the line, and the panel runs again afterwards.
        write_file_atomic(path("bad.jsonl").toStdString(), "{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n");
        QSignalSpy failed(p, &BenchmarkPanel::failed);
        p->setBenchmarkFile(path("bad.jsonl"));
        p->run();
        QVERIFY(failed.wait(60000));
        QVERIFY2(failed.first().at(0).toString().contains(QLatin1String("bad.jsonl:1")), qPrintable(failed.first().at(0).toString()));
        QVERIFY(shown.error.contains(QLatin1String("bad.jsonl")));
        QVERIFY(p->report());  // the previous report stays
        // Cancel: the run stops and reports it.
        p->setBenchmarkFile(path("bench.jsonl"));
        p->setMethod(BenchMethod::gen);
        p->setMaxNew(4000);
        QSignalSpy cancelled(p, &BenchmarkPanel::cancelled);
        p->run();
        p->cancel();
        QVERIFY(cancelled.wait(60000));
        QVERIFY(waitIdle(wb));
    }

    void benchmarkAppliesTheChatTemplate() {
        // "chat template" checked: the panel's report equals the core's run with the model's template
        // (the embedded model copied, with a chat template added to its tokenizer_config.json); on a
        // model without one the run is refused with the core's message naming the file and field.
        const QDir src(QString::fromStdString(test::source_dir() + "/resources/default-model"));
        const QString dir = path("chat-model");
        QVERIFY(QDir().mkpath(dir));
        for (const QString& f : src.entryList(QDir::Files)) QVERIFY(QFile::copy(src.filePath(f), dir + "/" + f));
        QFile cfgFile(dir + "/tokenizer_config.json");
        QVERIFY(cfgFile.open(QIODevice::ReadOnly));
        QJsonObject cfg = QJsonDocument::fromJson(cfgFile.readAll()).object();
        cfgFile.close();
        cfg["chat_template"] = QStringLiteral("{{ bos_token }}{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}"
                                              "{% if add_generation_prompt %}[ASSISTANT]{% endif %}");
        QFile::remove(dir + "/tokenizer_config.json");
        write_file_atomic((dir + "/tokenizer_config.json").toStdString(), QJsonDocument(cfg).toJson().toStdString());
        write_file_atomic(path("chat.jsonl").toStdString(), kBench);

        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        QVERIFY(loadModel(w, dir));
        BenchmarkPanel* p = w.benchmarkPanel();
        p->setBenchmarkFile(path("chat.jsonl"));
        p->setLimit(2);
        p->setMethod(BenchMethod::both);
        p->setMaxNew(4);
        p->setChatTemplate(true);
        QSignalSpy done(p, &BenchmarkPanel::finished);
        p->run();
        QVERIFY(done.wait(180000));
        QVERIFY(p->report());
        BenchOptions bo;
        bo.method = BenchMethod::both;
        bo.max_new = 4;
        bo.chat_template = std::make_shared<const ChatTemplate>(load_chat_template(dir.toStdString()));
        const BenchReport core = run_benchmark(*w.workbench()->engine(), load_benchmark(path("chat.jsonl").toStdString(), 2),
                                               {{"unmasked", {}}}, bo, null_progress());
        QCOMPARE(p->report()->chat_template, dir.toStdString() + "/tokenizer_config.json");
        QCOMPARE(bench_report_to_json(*p->report()), bench_report_to_json(core));
        // not the plain prompts' report
        bo.chat_template.reset();
        const BenchReport plain = run_benchmark(*w.workbench()->engine(), load_benchmark(path("chat.jsonl").toStdString(), 2),
                                                {{"unmasked", {}}}, bo, null_progress());
        QVERIFY(bench_report_to_json(*p->report()) != bench_report_to_json(plain));

        // The embedded model has no template: a dialog naming tokenizer_config.json and chat_template.
        QVERIFY(loadModel(w, QStringLiteral("default")));
        QSignalSpy failed(p, &BenchmarkPanel::failed);
        p->run();
        QCOMPARE(failed.count(), 1);
        const QString m = failed.first().at(0).toString();
        QVERIFY2(m.contains(QLatin1String("tokenizer_config.json")) && m.contains(QLatin1String("chat_template")), qPrintable(m));
        QVERIFY(shown.error.contains(QLatin1String("chat_template")));
        QVERIFY(!p->running());
        p->setChatTemplate(false);
    }

    void benchmarkNeedsATokenizer() {
        // The planted search fixture has no tokenizer: the run is refused with a clear error, and
        // the GUI stays usable.
        MainWindow w;
        uitest::Shown shown(&w);
        w.show();
        QVERIFY(loadModel(w, uitest::planted_fixture()));
        write_file_atomic(path("bench2.jsonl").toStdString(), kBench);
        BenchmarkPanel* p = w.benchmarkPanel();
        p->setBenchmarkFile(path("bench2.jsonl"));
        QSignalSpy failed(p, &BenchmarkPanel::failed);
        p->run();
        QCOMPARE(failed.count(), 1);
        QVERIFY2(failed.first().at(0).toString().contains(QLatin1String("tokenizer")), qPrintable(failed.first().at(0).toString()));
        QVERIFY(shown.error.contains(QLatin1String("tokenizer")));
        QVERIFY(!p->running());
        QVERIFY(!p->report());
        QVERIFY(p->statusText().contains(QLatin1String("tokenizer")));
    }

    void stabilityViewShowsTheJaccardMatrix() {
        StabilityResult s;
        s.model_path = "default";
        auto run = [](const char* label, std::vector<Neuron> set, double delta) {
            StabilityRun r;
            r.label = label;
            r.probe = label;
            r.tokens = 32;
            r.ppl_orig = 10;
            r.set = std::move(set);
            r.delta = delta;
            r.reached = delta >= 0.5;
            return r;
        };
        const Neuron a{0, Module::down_proj, 3}, b{1, Module::act_fn, 9}, c{2, Module::q_proj, 1}, d{3, Module::o_proj, 4};
        s.runs = {run("story.txt", {a, b, c}, 0.61), run("news.txt", {a, b}, 0.55), run("code.txt", {a, d}, 0.52),
                  run("line 4", {c}, 0.2)};
        summarize_sets(s, 2);
        write_file_atomic(path("stability.json").toStdString(), stability_to_json(s));

        MainWindow w;
        w.resize(1366, 740);
        w.show();
        StabilityPanel* p = w.stabilityPanel();
        QVERIFY(p->openFile(path("stability.json")));
        const int n = int(s.runs.size());
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) QCOMPARE(p->cellValue(i, j), s.jaccard[i][j]);
        QCOMPARE(p->cellValue(0, 1), 2.0 / 3.0);  // {a,b,c} vs {a,b}
        QCOMPARE(p->cellValue(1, 2), 1.0 / 3.0);
        QCOMPARE(p->cellValue(2, 3), 0.0);
        QCOMPARE(p->countsTable()->rowCount(), int(s.counts.size()));
        for (int i = 0; i < int(s.counts.size()); ++i) {
            QCOMPARE(p->countsTable()->item(i, 0)->text(), QString::fromStdString(to_string(s.counts[i].neuron)));
            QCOMPARE(p->countsTable()->item(i, 1)->text(), QStringLiteral("%1 / %2").arg(s.counts[i].count).arg(n));
        }
        QCOMPARE(p->countsTable()->item(0, 0)->text(), QStringLiteral("L0.down_proj:3"));
        QCOMPARE(p->runsTable()->rowCount(), n);
        QCOMPARE(s.consensus.size(), size_t(3));  // a, b, c: in at least 2 of 4
        QVERIFY2(p->consensusText().contains(QLatin1String("at least 2 of 4 runs): 3 channels")), qPrintable(p->consensusText()));
        QVERIFY(p->consensusText().contains(QLatin1String("L1.act_fn:9")));
        shot(w, QStringLiteral("stability"), QStringLiteral("stability.png"));
        exportPlot(p->plot(), path("stability.pdf"));
        QVERIFY(QFileInfo(path("stability.pdf")).size() > 1000);
        // A wrong document is an error, and the view keeps the study it shows.
        write_file_atomic(path("notstab.json").toStdString(), "{\"schema\": \"achilles.result/2\"}");
        uitest::Shown shown(&w);
        QVERIFY(!p->openFile(path("notstab.json")));
        QVERIFY(shown.error.contains(QLatin1String("achilles.stability/1")));
        QCOMPARE(p->cellValue(0, 1), 2.0 / 3.0);
    }

    void stabilityViewOnACliStudy() {
        // A real study: achilles-cli search --probes on the planted fixture (2 probes x 2 seeds).
        if (!QFileInfo::exists(QStringLiteral(ACHILLES_CLI))) QSKIP("achilles-cli is not built");
        write_file_atomic(path("probes.jsonl").toStdString(),
                          "{\"name\": \"p1\", \"ids\": [1,17,42,9,33,5,60,21,8,50,12,3]}\n"
                          "{\"name\": \"p2\", \"ids\": [5,60,21,8,50,12,3,1,17,42]}\n");
        QProcess cli;
        cli.start(QStringLiteral(ACHILLES_CLI), {"--quiet", "search", "--model", uitest::planted_fixture(), "--probes", path("probes.jsonl"),
                                                 "--vary", "seed=1,2", "--samples", "4", "--out", path("cli-stability.json")});
        QVERIFY(cli.waitForFinished(120000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
        MainWindow w;
        w.show();
        StabilityPanel* p = w.stabilityPanel();
        QVERIFY(p->openFile(path("cli-stability.json")));
        // Jaccard recomputed here from the runs' sets in the document.
        QFile f(path("cli-stability.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject doc = QJsonDocument::fromJson(f.readAll()).object();
        const QJsonArray runs = doc.value("runs").toArray();
        QCOMPARE(runs.size(), 4);
        std::vector<std::set<QString>> sets;
        for (const QJsonValue& r : runs) {
            std::set<QString> s;
            for (const QJsonValue& n : r.toObject().value("set").toArray()) {
                const QJsonObject o = n.toObject();
                s.insert(QStringLiteral("%1/%2/%3").arg(o.value("layer").toInt()).arg(o.value("module").toString()).arg(o.value("channel").toInt()));
            }
            sets.push_back(std::move(s));
        }
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                size_t inter = 0;
                for (const QString& x : sets[i]) inter += sets[j].count(x);
                const size_t uni = sets[i].size() + sets[j].size() - inter;
                const double expect = uni ? double(inter) / double(uni) : 1.0;
                QVERIFY2(std::abs(p->cellValue(i, j) - expect) < 1e-12, qPrintable(QStringLiteral("%1,%2: %3 vs %4").arg(i).arg(j).arg(p->cellValue(i, j)).arg(expect)));
            }
        QCOMPARE(p->runsTable()->rowCount(), 4);
        QCOMPARE(p->countsTable()->rowCount(), int(doc.value("counts").toArray().size()));
        QVERIFY(p->consensusText().contains(QStringLiteral("%1 channels").arg(doc.value("consensus").toObject().value("size").toInt())));
    }

    void compareViewShowsTheOverlap() {
        auto result = [](std::vector<Neuron> set, double scale) {
            SearchResult r;
            r.model = {"default", "c0ffee", "beef"};
            r.model_type = "llama";
            r.layers = 4;
            r.ids = {1, 2, 3};
            r.ppl_orig = 10;
            r.faithful.name = "faithful";
            r.faithful.neurons = std::move(set);
            r.faithful.n = int(r.faithful.neurons.size());
            for (int k = 1; k <= int(r.faithful.neurons.size()); ++k)
                r.curve.push_back({k, k, 10 * std::pow(10.0, scale * k), scale * k});
            // A stage-1 ranking (descending) so that the paired heatmaps have importances to show.
            double imp = 40 * scale;
            for (const Neuron& n : r.faithful.neurons) {
                r.ranking.push_back({n, -1, imp});
                imp /= 3;
            }
            return r;
        };
        const Neuron a{0, Module::down_proj, 3}, b{1, Module::act_fn, 9}, c{2, Module::q_proj, 1}, d{3, Module::down_proj, 4};
        SearchResult ra = result({a, b, c}, 0.2), rb = result({a, d}, 0.35);
        rb.options.alpha = 2;
        write_file_atomic(path("a.json").toStdString(), result_to_json(ra));
        write_file_atomic(path("b.json").toStdString(), result_to_json(rb));
        const RunComparison core = compare_results(read_result_file(path("a.json").toStdString()), path("a.json").toStdString(),
                                                   read_result_file(path("b.json").toStdString()), path("b.json").toStdString());

        MainWindow w;
        w.resize(1366, 740);
        w.show();
        ComparePanel* p = w.comparePanel();
        p->setPaths(path("a.json"), path("b.json"));
        QSignalSpy done(p, &ComparePanel::compared);
        p->compare();
        QVERIFY(done.wait(30000));
        QVERIFY(p->comparison());
        QCOMPARE(p->list(0)->count(), int(core.shared.size()));
        QCOMPARE(p->list(1)->count(), int(core.only_a.size()));
        QCOMPARE(p->list(2)->count(), int(core.only_b.size()));
        QCOMPARE(p->list(0)->count(), 1);
        QCOMPARE(p->list(0)->item(0)->text(), QStringLiteral("L0.down_proj:3"));
        QCOMPARE(p->list(1)->count(), 2);
        QCOMPARE(p->list(2)->item(0)->text(), QStringLiteral("L3.down_proj:4"));
        for (const SetOverlap& o : core.by_module) {
            const double shownJ = p->shownJaccard(QString::fromStdString(o.label));
            if (o.jaccard) QCOMPARE(shownJ, *o.jaccard);
            else QVERIFY(std::isnan(shownJ));
        }
        QCOMPARE(p->shownJaccard(QStringLiteral("down_proj")), 0.5);
        QCOMPARE(p->shownJaccard(QStringLiteral("act_fn")), 0.0);
        QVERIFY(std::isnan(p->shownJaccard(QStringLiteral("v_proj"))));
        // Both curves on one axis: x unique channels, y Δ log10 PPL, named A and B with their paths.
        QCustomPlot* cp = p->curvePlot();
        QCOMPARE(cp->graphCount(), 2);
        QVERIFY(cp->graph(0)->name().startsWith(QLatin1String("A: ")));
        QVERIFY(cp->graph(1)->name().startsWith(QLatin1String("B: ")));
        QVERIFY(cp->graph(1)->name().contains(QLatin1String("b.json")));
        QCOMPARE(cp->graph(0)->data()->size(), int(core.curve_a.size()));
        QCOMPARE(cp->graph(1)->data()->size(), int(core.curve_b.size()));
        QCOMPARE((cp->graph(1)->data()->constBegin() + 1)->key, double(core.curve_b[1].unique_channels));
        QCOMPARE((cp->graph(1)->data()->constBegin() + 1)->value, core.curve_b[1].delta);
        QVERIFY(cp->yAxis->label().contains(QStringLiteral("Δ log10")));
        QVERIFY(p->summaryText().contains(QLatin1String("alpha")));
        p->saveJson(path("cmp.json"));
        QCOMPARE(read_file(path("cmp.json").toStdString()), comparison_to_json(core));
        // Paired heatmaps: max stage-1 importance per layer × module, A and B on ONE colour scale
        // whose range spans both results' values (B's maximum 14 > A's 8).
        {
            auto maxCell = [](const SearchResult& r, int layer, Module m) {
                double v = 0;
                for (const auto& e : r.ranking)
                    if (e.neuron.layer == layer && e.neuron.module == m) v = std::max(v, e.importance);
                return v;
            };
            QVERIFY(p->pairNote().isEmpty());
            QCPColorMap *ma = p->pairMap(0), *mb = p->pairMap(1);
            QCOMPARE(ma->colorScale(), p->pairScale());
            QCOMPARE(mb->colorScale(), p->pairScale());
            QCOMPARE(ma->dataRange(), mb->dataRange());
            const double maxA = 40 * 0.2, maxB = 40 * 0.35;
            QCOMPARE(p->pairScale()->dataRange().upper, std::max(maxA, maxB));
            QCOMPARE(ma->dataRange().upper, maxB);  // A is drawn on B's maximum too, not normalised to its own
            QCOMPARE(p->pairScale()->dataRange().lower, 40 * 0.2 / 9);  // the smallest positive cell of either (log scale)
            QVERIFY(p->pairScale()->axis()->label().contains(QStringLiteral("max stage-1 importance")));
            QVERIFY(p->pairScale()->axis()->label().contains(QStringLiteral("|clean − noisy|")));
            QVERIFY(p->pairScale()->visible());
            for (int l = 0; l < 4; ++l)
                for (Module m : kAllModules) {
                    const double ea = maxCell(ra, l, m), eb = maxCell(rb, l, m);
                    QCOMPARE(p->pairCell(0, l, int(m)), ea);
                    QCOMPARE(p->pairCell(1, l, int(m)), eb);
                    const double ca = ma->data()->cell(int(m), l), cb = mb->data()->cell(int(m), l);
                    if (ea > 0) QCOMPARE(ca, ea);
                    else QVERIFY(std::isnan(ca));
                    if (eb > 0) QCOMPARE(cb, eb);
                    else QVERIFY(std::isnan(cb));
                }
            QCOMPARE(p->pairCell(1, 3, int(Module::down_proj)), 40 * 0.35 / 3);
        }
        shot(w, QStringLiteral("compare"), QStringLiteral("compare.png"));
        exportPlots({{p->jaccardPlot(), path("cmp-jaccard.png")}, {p->curvePlot(), path("cmp-curves.svg")}});
        // Models of different shapes: a note, no maps.
        {
            SearchResult rc = rb;
            rc.layers = 6;
            rc.model.config_hash = "d00d";
            write_file_atomic(path("c.json").toStdString(), result_to_json(rc));
            p->setPaths(path("a.json"), path("c.json"));
            QSignalSpy again(p, &ComparePanel::compared);
            p->compare();
            QVERIFY(again.wait(30000));
            QVERIFY2(p->pairNote().contains(QLatin1String("4 layers")) && p->pairNote().contains(QLatin1String("6")),
                     qPrintable(p->pairNote()));
            QVERIFY(!p->pairScale()->visible());
            QVERIFY(std::isnan(p->pairMap(0)->data()->cell(int(Module::down_proj), 0)));
            QVERIFY(std::isnan(p->pairMap(1)->data()->cell(int(Module::down_proj), 0)));
        }
        QVERIFY(read_file(path("cmp-curves.svg").toStdString()).find("b.json") != std::string::npos);
        // A missing file: an error dialog, the view stays usable.
        uitest::Shown shown(&w);
        QSignalSpy failed(p, &ComparePanel::failed);
        p->setPaths(path("a.json"), path("missing.json"));
        p->compare();
        QVERIFY(failed.wait(30000));
        QVERIFY(shown.error.contains(QLatin1String("missing.json")));
        QVERIFY(waitIdle(w.workbench()));
    }

    void viewsAreInTheMenus() {
        MainWindow w;
        w.show();
        for (const char* v : {"benchmarks", "stability", "compare"}) {
            QVERIFY(MainWindow::viewNames().contains(QLatin1String(v)));
            auto* d = w.findChild<QDockWidget*>(QStringLiteral("dock_") + QLatin1String(v));
            QVERIFY(d);
            QVERIFY(!w.tabifiedDockWidgets(d).isEmpty());  // tabbed with the plots
        }
        const QSize m = w.minimumSizeHint().expandedTo(w.minimumSize());
        QVERIFY2(m.width() <= 1366 && m.height() <= 768 - 48, qPrintable(QStringLiteral("%1x%2").arg(m.width()).arg(m.height())));
    }
};

QTEST_MAIN(TestEval)
#include "test_ui_eval.moc"
