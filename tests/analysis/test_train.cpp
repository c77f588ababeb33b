// SPDX-License-Identifier: GPL-3.0-or-later
// Training: the story corpus, AdamW against torch.optim.AdamW, the lr schedule, a tiny run that
// learns, determinism for a seed, and the saved HF folder reloading to the same logits.
#include "achilles/config.h"
#include "achilles/engine.h"
#include "achilles/error.h"
#include "achilles/safetensors.h"
#include "achilles/tokenizer.h"
#include "achilles/train.h"
#include "tools/story_corpus.h"
#include "tools/train.h"
#include "model/engine_internal.h"
#include "model/transformer.h"
#include "test_paths.h"

#include <c10/core/GradMode.h>
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

using namespace achilles;
namespace fs = std::filesystem;

namespace {

TrainOptions tiny_options(const std::string& out, uint64_t seed) {
    TrainOptions o;
    o.out_dir = out;
    o.seed = seed;
    o.steps = 40;
    o.hidden = 32;
    o.layers = 2;
    o.heads = 4;
    o.kv_heads = 2;
    o.intermediate = 64;
    o.seq_len = 32;
    o.batch = 4;
    o.lr = 1e-2;
    o.vocab = 320;
    o.corpus_bytes = 150000;
    o.tokenizer_train_bytes = 150000;
    o.threads = 1;
    o.eval_batches = 4;
    o.log_every = 5;
    return o;
}

double mean_tail(const std::vector<TrainLogRow>& log, size_t n) {
    double s = 0;
    for (size_t i = log.size() - n; i < log.size(); ++i) s += log[i].loss;
    return s / static_cast<double>(n);
}

}  // namespace

class TestTrain : public QObject {
    Q_OBJECT
    std::string scratch_;
    TrainResult first_;

private slots:
    void initTestCase() {
        scratch_ = (fs::path(test::build_scratch()) / "train").string();
        fs::remove_all(scratch_);
        fs::create_directories(scratch_);
    }

    void corpusIsSeededAndVaried() {
        const std::string a = generate_story(7, 3), b = generate_story(7, 3), c = generate_story(8, 3);
        QCOMPARE(a, b);
        QVERIFY(a != c);
        QVERIFY(a.find('\n') == std::string::npos);
        auto stories = generate_stories(11, 200000);
        size_t bytes = 0;
        std::set<std::string> distinct(stories.begin(), stories.end());
        for (const auto& s : stories) {
            bytes += s.size() + 1;
            QVERIFY(!s.empty());
            QVERIFY(s.back() == '.' || s.back() == '!' || s.back() == '"');
            QVERIFY(s.rfind("Once upon a time", 0) == 0 || s.rfind("One day", 0) == 0 || s.rfind("There once", 0) == 0);
        }
        QVERIFY(bytes >= 200000);
        QVERIFY(bytes < 200000 + 2000);
        // Nearly all stories differ.
        QVERIFY(distinct.size() > stories.size() * 99 / 100);
        QCOMPARE(join_stories({"a", "b"}), std::string("a\nb\n"));
    }

    // The hand-written AdamW against torch.optim.AdamW (Debian python, an independent implementation).
    void adamwMatchesTorch() {
        const int n = 6, steps = 4;
        const double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
        at::Tensor p = at::empty({n}, at::kDouble), m = at::zeros({n}, at::kDouble), v = at::zeros({n}, at::kDouble);
        for (int i = 0; i < n; ++i) p[i] = std::sin(1.0 + i);
        for (int t = 1; t <= steps; ++t) {
            at::Tensor g = at::empty({n}, at::kDouble);
            for (int i = 0; i < n; ++i) g[i] = std::cos(0.7 * i * t + 0.3) * (i + 1);
            adamw_update(p, g, m, v, t, AdamWSettings{lr, b1, b2, eps, wd}, true);
        }
        const QString script = QStringLiteral(
            "import math, torch\n"
            "n, steps = 6, 4\n"
            "p = torch.tensor([math.sin(1.0 + i) for i in range(n)], dtype=torch.float64, requires_grad=True)\n"
            "opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)\n"
            "for t in range(1, steps + 1):\n"
            "    p.grad = torch.tensor([math.cos(0.7 * i * t + 0.3) * (i + 1) for i in range(n)], dtype=torch.float64)\n"
            "    opt.step()\n"
            "print(' '.join(repr(float(x)) for x in p.detach()))\n");
        QProcess py;
        py.start(QStringLiteral(ACHILLES_PYTHON3), {QStringLiteral("-c"), script});
        QVERIFY(py.waitForFinished(60000));
        if (py.exitCode() != 0) QSKIP(qPrintable("python3 with torch unavailable: " + QString::fromUtf8(py.readAllStandardError())));
        const QStringList want = QString::fromUtf8(py.readAllStandardOutput()).trimmed().split(' ');
        QCOMPARE(want.size(), n);
        for (int i = 0; i < n; ++i) {
            const double w = want[i].toDouble(), got = p[i].item<double>();
            QVERIFY2(std::abs(w - got) < 1e-12, qPrintable(QString("p[%1]: torch %2 ours %3").arg(i).arg(w, 0, 'g', 17).arg(got, 0, 'g', 17)));
            QVERIFY(std::abs(w - std::sin(1.0 + i)) > 1e-3);  // it moved
        }
    }

    void lrSchedule() {
        TrainOptions o;
        o.steps = 1000;
        o.lr = 1e-3;
        o.min_lr_ratio = 0.1;
        o.warmup = 100;
        QCOMPARE(train_lr(o, 0), 1e-5);
        QVERIFY(std::abs(train_lr(o, 99) - 1e-3) < 1e-15);
        QVERIFY(std::abs(train_lr(o, 100) - 1e-3) < 1e-15);
        // Halfway through the cosine: (lr + min) / 2.
        QVERIFY(std::abs(train_lr(o, 550) - 0.55e-3) < 1e-12);
        QVERIFY(std::abs(train_lr(o, 1000) - 1e-4) < 1e-12);
        for (int s = 101; s < 1000; ++s) QVERIFY(train_lr(o, s) <= train_lr(o, s - 1));
    }

    void badOptionsThrow() {
        TrainOptions o = tiny_options("", 1);
        o.heads = 5;
        o.out_dir = scratch_ + "/bad";
        QVERIFY_THROWS_EXCEPTION(Error, validate(o));
        o = tiny_options(scratch_ + "/bad", 1);
        o.lr = -1;
        try {
            validate(o);
            QFAIL("negative lr accepted");
        } catch (const Error& e) {
            QCOMPARE(e.field(), std::string("lr"));  // the member; the CLI maps it to --lr
        }
        o = tiny_options("", 1);
        validate(o);  // the hyperparameters are fine; a folder run needs out_dir
        try {
            train_to_folder(o, null_progress());
            QFAIL("a folder run without out_dir started");
        } catch (const Error& e) {
            QCOMPARE(e.field(), std::string("out_dir"));
        }
        QVERIFY(!fs::exists(scratch_ + "/bad"));
    }

    void tinyRunLearnsAndSaves() {
        const std::string dir = scratch_ + "/run1";
        first_ = train_to_folder(tiny_options(dir, 5), null_progress());
        QCOMPARE(first_.log.size(), size_t(40));
        const double first_loss = first_.log.front().loss;
        // Untrained: close to uniform over the vocabulary.
        QVERIFY2(std::abs(first_loss - std::log(320.0)) < 0.3, qPrintable(QString::number(first_loss)));
        const double tail = mean_tail(first_.log, 5);
        QVERIFY2(tail < first_loss - 1.5, qPrintable(QString("first %1 tail %2").arg(first_loss).arg(tail)));
        QVERIFY(first_.eval_loss < first_.initial_eval_loss - 1.0);
        QVERIFY(std::abs(first_.eval_ppl - std::exp(first_.eval_loss)) < 1e-9);
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                              "generation_config.json", "loss.csv", "train_summary.json"})
            QVERIFY2(fs::exists(fs::path(dir) / f), f);
        QVERIFY(!fs::exists(fs::path(dir) / ".train-work"));
        // config.json is a Llama config the loader accepts, with tied embeddings.
        ModelConfig c = load_config((fs::path(dir) / "config.json").string());
        QCOMPARE(c.model_type, std::string("llama"));
        QCOMPARE(c.architecture, std::string("LlamaForCausalLM"));
        QVERIFY(c.tie_word_embeddings);
        QCOMPARE(c.hidden_size, 32);
        QCOMPARE(c.num_key_value_heads, 2);
        QCOMPARE(c.vocab_size, 320);
        // loss.csv: header + rows at steps 1, 5, 10, ..., 40.
        std::ifstream csv(fs::path(dir) / "loss.csv");
        std::string line;
        std::getline(csv, line);
        QCOMPARE(line, std::string("step,loss,lr,grad_norm,tokens,elapsed_s,eval_loss"));
        int rows = 0;
        while (std::getline(csv, line)) ++rows;
        QCOMPARE(rows, 9);
    }

    void deterministicForSeed() {
        QVERIFY(!first_.log.empty());
        TrainOptions o = tiny_options(scratch_ + "/run2", 5);
        TrainResult again = train_to_folder(o, null_progress());
        QCOMPARE(again.log.size(), first_.log.size());
        for (size_t i = 0; i < again.log.size(); ++i)
            QVERIFY2(again.log[i].loss == first_.log[i].loss,
                     qPrintable(QString("step %1: %2 vs %3").arg(i + 1).arg(again.log[i].loss, 0, 'g', 17).arg(first_.log[i].loss, 0, 'g', 17)));
        // Same tokenizer vocabulary too (the file bytes embed the trainer's input path).
        auto t1 = load_tokenizer(scratch_ + "/run1/tokenizer.model"), t2 = load_tokenizer(scratch_ + "/run2/tokenizer.model");
        QCOMPARE(t1->vocab_size(), t2->vocab_size());
        for (int i = 0; i < t1->vocab_size(); ++i) QCOMPARE(t1->token_string(i), t2->token_string(i));
        // Another seed differs.
        o = tiny_options(scratch_ + "/run3", 6);
        o.steps = 3;
        o.tokenizer = (fs::path(scratch_) / "run1/tokenizer.model").string();
        TrainResult other = train_to_folder(o, null_progress());
        QVERIFY(other.log[0].loss != first_.log[0].loss);
    }

    // Without a sink the run stays in memory: no files anywhere, and the numbers of the folder run.
    void inMemoryRunMatchesFolderRun() {
        QVERIFY(!first_.log.empty());
        TrainOptions o = tiny_options("", 5);
        o.tokenizer = (fs::path(scratch_) / "run1/tokenizer.model").string();  // the tokenizer run1 trained
        const auto before = std::distance(fs::directory_iterator(scratch_), fs::directory_iterator());
        TrainResult mem = train_model(o, null_progress());
        QCOMPARE(std::distance(fs::directory_iterator(scratch_), fs::directory_iterator()), before);
        QCOMPARE(mem.log.size(), first_.log.size());
        for (size_t i = 0; i < mem.log.size(); ++i) QCOMPARE(mem.log[i].loss, first_.log[i].loss);
        QCOMPARE(mem.eval_loss, first_.eval_loss);
        QCOMPARE(mem.weights.size(), first_.weights.size());
    }

    void savedModelReloadsToSameLogits() {
        QVERIFY(!first_.weights.empty());
        const std::string dir = scratch_ + "/run1";
        LoadOptions lo;
        lo.path = dir;
        auto engine = Engine::load(lo, null_progress());
        QVERIFY(engine->tokenizer() != nullptr);
        QCOMPARE(engine->info().vocab, 320);
        QCOMPARE(engine->info().bos_id, 1);
        std::vector<int> ids = engine->encode_for_ppl("Once upon a time, there was a little girl named Lily. She loved to play outside.");
        QCOMPARE(ids.front(), 1);
        QVERIFY(ids.size() > 10);
        at::Tensor t = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
        c10::NoGradGuard ng;
        Transformer mem(first_.config, first_.weights);
        at::Tensor a = mem.forward(t);
        at::Tensor b = EngineAccess::model(*engine).forward(t);
        QCOMPARE(a.sizes().vec(), b.sizes().vec());
        const double diff = (a - b).abs().max().item<double>();
        QVERIFY2(diff < 1e-5, qPrintable(QString::number(diff)));
        // Engine perplexity equals exp(mean CE) of the in-memory logits.
        PplResult r = engine->perplexity(ids, {}, null_progress());
        const int64_t T = t.size(1);
        at::Tensor ce = at::cross_entropy_loss(a[0].narrow(0, 0, T - 1), t[0].narrow(0, 1, T - 1));
        QVERIFY2(std::abs(std::log(r.ppl) - ce.item<double>()) < 1e-4,
                 qPrintable(QString("%1 vs %2").arg(std::log(r.ppl)).arg(ce.item<double>())));
    }

    // achilles-cli train end to end: JSON summary, the parameter count of the config, bad options.
    void cliTrain() {
        const QString out = QString::fromStdString(scratch_ + "/cli");
        QProcess p;
        p.start(QStringLiteral(ACHILLES_CLI),
                {"--json", "train", "--out", out, "--steps", "3", "--hidden", "32", "--layers", "1", "--heads", "2",
                 "--kv-heads", "1", "--intermediate", "48", "--seq-len", "16", "--batch", "2", "--vocab", "400",
                 "--corpus-mb", "0.1", "--threads", "1"});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
        const QJsonObject j = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
        // embed 400x32 (tied) + q 32x32 + k,v 16x32 each + o 32x32 + gate,up 48x32 each + down 32x48 + 3 norms of 32.
        const int64_t want = 400 * 32 + 32 * 32 + 2 * 16 * 32 + 32 * 32 + 3 * 48 * 32 + 3 * 32;
        QCOMPARE(int64_t(j.value("parameters").toDouble()), want);
        QCOMPARE(j.value("steps").toInt(), 3);
        QVERIFY(j.value("heldout_ppl").toDouble() > 1.0);
        QVERIFY(fs::exists(fs::path(out.toStdString()) / "model.safetensors"));
        // Exactly what the safetensors file holds.
        auto st = SafetensorsFile::open((fs::path(out.toStdString()) / "model.safetensors").string());
        int64_t n = 0;
        for (const auto& [name, t] : st->tensors()) {
            QVERIFY(t.dtype == DType::F32);
            n += t.numel();
        }
        QCOMPARE(n, want);
        QVERIFY(!st->tensors().count("lm_head.weight"));

        QProcess bad;
        bad.start(QStringLiteral(ACHILLES_CLI), {"train", "--out", out + "-bad", "--heads", "5"});
        QVERIFY(bad.waitForFinished(60000));
        QCOMPARE(bad.exitCode(), 1);
        QVERIFY(bad.readAllStandardError().contains("--heads"));
    }

    void cancelStopsTraining() {
        Progress p;
        p.cancel();
        TrainOptions o = tiny_options(scratch_ + "/cancelled", 5);
        o.tokenizer = (fs::path(scratch_) / "run1/tokenizer.model").string();
        QVERIFY_THROWS_EXCEPTION(Cancelled, train_to_folder(o, p));
        QVERIFY(!fs::exists(fs::path(scratch_) / "cancelled/model.safetensors"));
    }
};

QTEST_APPLESS_MAIN(TestTrain)
#include "test_train.moc"
