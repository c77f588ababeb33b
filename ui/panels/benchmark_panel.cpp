// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/benchmark_panel.h"
#include "achilles/chat_template.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/results.h"
#include "jobs/job_runner.h"
#include "plots/plot_style.h"
#include "workbench/workbench.h"
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Metric {
    QString key, label;
    const Accuracy& (*get)(const MethodAccuracy&);
};
const Accuracy& getAcc(const MethodAccuracy& m) { return m.ll_acc; }
const Accuracy& getNorm(const MethodAccuracy& m) { return m.ll_acc_norm; }
const Accuracy& getGen(const MethodAccuracy& m) { return m.gen_acc; }

std::vector<Metric> metrics(BenchMethod m) {
    std::vector<Metric> out;
    if (m != BenchMethod::gen) {
        out.push_back({QStringLiteral("acc"), QObject::tr("log-likelihood acc"), &getAcc});
        out.push_back({QStringLiteral("acc_norm"), QObject::tr("log-likelihood acc_norm"), &getNorm});
    }
    if (m != BenchMethod::ll) out.push_back({QStringLiteral("gen"), QObject::tr("generation (answer extraction)"), &getGen});
    return out;
}

QString accText(const Accuracy& a) {
    if (a.n == 0) return QStringLiteral("—");
    return QStringLiteral("%1 [%2, %3]").arg(a.acc, 0, 'f', 3).arg(a.ci.lo, 0, 'f', 3).arg(a.ci.hi, 0, 'f', 3);
}

MaskSpec toMask(const std::vector<Neuron>& ns) {
    MaskSpec m;
    for (const Neuron& n : ns) m.push_back(MaskEntry{n, {}});
    return m;
}
}  // namespace

struct BenchmarkPanel::Jobs {
    explicit Jobs(JobRunner* r) : bench(r, Lane::eval) {}
    JobTracker<BenchReport> bench;
};

BenchmarkPanel::~BenchmarkPanel() = default;

BenchmarkPanel::BenchmarkPanel(Workbench* wb, QWidget* parent)
    : QWidget(parent), wb_(wb), jobs_(std::make_unique<Jobs>(wb->jobs())) {
    file_ = new QLineEdit(this);
    file_->setObjectName(QStringLiteral("benchFile"));
    file_->setPlaceholderText(tr("JSONL {question, choices, answer} or MMLU-style CSV"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    limit_ = new QSpinBox(this);
    limit_->setRange(0, 10'000'000);
    limit_->setSpecialValueText(tr("all"));
    limit_->setToolTip(tr("Only the first N questions (--limit; 0: all)"));
    method_ = new QComboBox(this);
    method_->addItem(tr("both"), int(BenchMethod::both));
    method_->addItem(tr("log-likelihood"), int(BenchMethod::ll));
    method_->addItem(tr("generation"), int(BenchMethod::gen));
    method_->setToolTip(tr("--method: log-likelihood of each choice (acc, acc_norm) and/or greedy generation with "
                           "answer extraction (\"The answer is (X)\")"));
    maxNew_ = new QSpinBox(this);
    maxNew_->setRange(1, kMaxBenchMaxNew);
    maxNew_->setValue(50);
    maxNew_->setToolTip(tr("Generation: new tokens at most (--max-new)"));
    seed_ = new QSpinBox(this);
    seed_->setRange(0, std::numeric_limits<int>::max());
    seed_->setValue(42);
    seed_->setToolTip(tr("Seed of the random set of the same size (--seed)"));
    random_ = new QCheckBox(tr("random set of the same size"), this);
    random_->setChecked(true);
    chat_ = new QCheckBox(tr("chat template"), this);
    chat_->setObjectName(QStringLiteral("benchChatTemplate"));
    chat_->setToolTip(tr("--chat-template: each prompt as one user message through the model's chat template "
                         "(tokenizer_config.json), nothing prepended, as transformers' apply_chat_template; "
                         "a model without one, or a template outside the supported subset, is an error"));
    run_ = new QPushButton(tr("Run benchmark"), this);
    run_->setObjectName(QStringLiteral("benchRun"));
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setValue(0);
    progress_->setMaximumHeight(16);
    status_ = new QLabel(tr("Choose a benchmark file and run it on the loaded model."), this);
    status_->setWordWrap(true);
    conds_ = new QLabel(this);
    conds_->setWordWrap(true);
    saveJson_ = new QPushButton(tr("Save JSON…"), this);
    saveCsv_ = new QPushButton(tr("Save CSV…"), this);
    export_ = new QPushButton(tr("Export figure…"), this);
    for (QPushButton* b : {saveJson_, saveCsv_}) b->setEnabled(false);

    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(new QLabel(tr("Benchmark:"), this));
    fileRow->addWidget(file_, 1);
    fileRow->addWidget(browse);
    auto* opts = new QHBoxLayout;
    opts->addWidget(new QLabel(tr("Limit"), this));
    opts->addWidget(limit_);
    opts->addWidget(new QLabel(tr("Method"), this));
    opts->addWidget(method_);
    opts->addWidget(new QLabel(tr("Max new"), this));
    opts->addWidget(maxNew_);
    opts->addWidget(new QLabel(tr("Seed"), this));
    opts->addWidget(seed_);
    opts->addWidget(random_);
    opts->addWidget(chat_);
    opts->addStretch();
    auto* runRow = new QHBoxLayout;
    runRow->addWidget(run_);
    runRow->addWidget(cancel_);
    runRow->addWidget(progress_, 1);
    runRow->addWidget(saveJson_);
    runRow->addWidget(saveCsv_);
    runRow->addWidget(export_);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("benchmarks"));
    stylePlot(plot_, tr("Benchmark accuracy per condition (95% Wilson intervals)"));
    plot_->yAxis->setLabel(tr("accuracy (fraction correct)"));
    plot_->xAxis->setLabel(tr("condition (channels zeroed at every position)"));
    plot_->yAxis->setRange(0, 1.12);
    plot_->xAxis->grid()->setVisible(false);
    plot_->setMinimumSize(260, 200);
    table_ = new QTableWidget(0, 7, this);
    table_->setObjectName(QStringLiteral("benchTable"));
    table_->setHorizontalHeaderLabels({tr("subject"), tr("condition"), tr("channels"), tr("n"), tr("acc [95% CI]"),
                                       tr("acc_norm [95% CI]"), tr("gen acc [95% CI]")});
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setAlternatingRowColors(true);
    table_->setMinimumHeight(80);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(plot_);
    split->addWidget(table_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    auto* page = new QWidget(this);
    auto* lay = new QVBoxLayout(page);
    lay->addLayout(fileRow);
    lay->addLayout(opts);
    lay->addWidget(conds_);
    lay->addLayout(runRow);
    lay->addWidget(status_);
    lay->addWidget(split, 1);
    page->setMinimumSize(560, 420);
    // Scrolls in a small dock: the panel never raises the window's minimum size.
    auto* sa = new QScrollArea(this);
    sa->setWidgetResizable(true);
    sa->setFrameShape(QFrame::NoFrame);
    sa->setWidget(page);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(sa);

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open benchmark"), QFileInfo(file_->text()).path(),
                                                       tr("Benchmarks (*.jsonl *.json *.csv);;All files (*)"));
        if (!f.isEmpty()) file_->setText(f);
    });
    connect(run_, &QPushButton::clicked, this, &BenchmarkPanel::run);
    connect(cancel_, &QPushButton::clicked, this, &BenchmarkPanel::cancel);
    connect(export_, &QPushButton::clicked, this, [this] { emit exportRequested(plot_, QStringLiteral("benchmarks")); });
    auto saveAs = [this](const QString& title, const QString& name, const QString& filter, void (BenchmarkPanel::*write)(const QString&) const) {
        const QString f = QFileDialog::getSaveFileName(this, title, name, filter);
        if (f.isEmpty()) return;
        try {
            (this->*write)(f);
            status_->setText(tr("Wrote %1").arg(f));
        } catch (const std::exception& e) {
            emit errorOccurred(tr("Save failed"), QString::fromUtf8(e.what()));
        }
    };
    connect(saveJson_, &QPushButton::clicked, this, [this, saveAs] { saveAs(tr("Save benchmark report"), QStringLiteral("bench.json"), tr("JSON (*.json)"), &BenchmarkPanel::saveJson); });
    connect(saveCsv_, &QPushButton::clicked, this, [this, saveAs] { saveAs(tr("Save benchmark accuracies"), QStringLiteral("bench.csv"), tr("CSV (*.csv)"), &BenchmarkPanel::saveCsv); });
    auto describe = [this] {
        try {
            QStringList parts;
            for (const BenchCondition& c : conditions())
                parts << QStringLiteral("%1 (%2 ch)").arg(qs(c.name)).arg(mask_neurons(c.mask).size());
            conds_->setText(tr("Conditions: %1").arg(parts.join(QStringLiteral(" · "))) +
                            (wb_->result() ? QString() : tr(" — run a search or open a result to add the critical set")));
        } catch (const std::exception& e) {
            conds_->setText(tr("Conditions: %1").arg(QString::fromUtf8(e.what())));
        }
    };
    connect(wb_, &Workbench::resultChanged, this, describe);
    connect(wb_, &Workbench::modelLoaded, this, describe);
    connect(random_, &QCheckBox::toggled, this, describe);
    connect(seed_, &QSpinBox::valueChanged, this, describe);
    describe();

    jobs_->bench.onProgress([this](const QString&, double f, const QString& m) {
        if (f >= 0) progress_->setValue(int(f * 1000));
        if (!m.isEmpty()) status_->setText(m);
    });
    jobs_->bench.onFinished([this](BenchReport r) {
        setReport(std::move(r));
        done(tr("%1 questions × %2 conditions on %3").arg(report_->rows).arg(report_->conditions.size()).arg(qs(report_->source)));
        emit finished();
    });
    jobs_->bench.onFailed([this](const QString& m) {
        done(tr("Failed: %1").arg(m));
        emit errorOccurred(tr("Benchmark failed"), m);
        emit failed(m);
    });
    jobs_->bench.onCancelled([this] {
        done(tr("Cancelled."));
        emit cancelled();
    });
    refresh();
}

void BenchmarkPanel::setBenchmarkFile(const QString& path) { file_->setText(path); }
QString BenchmarkPanel::benchmarkFile() const { return file_->text(); }
void BenchmarkPanel::setLimit(int n) { limit_->setValue(n); }
void BenchmarkPanel::setMethod(BenchMethod m) { method_->setCurrentIndex(method_->findData(int(m))); }
void BenchmarkPanel::setMaxNew(int n) { maxNew_->setValue(n); }
void BenchmarkPanel::setSeed(int s) { seed_->setValue(s); }
void BenchmarkPanel::setRandomSet(bool on) { random_->setChecked(on); }
void BenchmarkPanel::setChatTemplate(bool on) { chat_->setChecked(on); }
bool BenchmarkPanel::running() const { return jobs_->bench.running(); }
void BenchmarkPanel::cancel() { jobs_->bench.cancel(); }
QString BenchmarkPanel::statusText() const { return status_->text(); }

std::vector<BenchCondition> BenchmarkPanel::conditions() const {
    // As achilles-cli eval --result: unmasked, the faithful set, the minimal set, a random set.
    std::vector<BenchCondition> conds;
    conds.push_back({"unmasked", {}});
    const auto& r = wb_->result();
    if (!r || r->faithful.neurons.empty()) return conds;
    if (const ModelInfo* info = wb_->info()) validate_result(*r, "the search result", &info->shape);
    const MaskSpec critical = toMask(r->faithful.neurons);
    conds.push_back({"critical", critical});
    if (r->minimal && !r->minimal->neurons.empty()) conds.push_back({"minimal", toMask(r->minimal->neurons)});
    if (random_->isChecked() && wb_->info()) {
        const int k = int(mask_neurons(critical).size());
        conds.push_back({"random", toMask(random_channels(wb_->info()->shape, k, uint64_t(seed_->value())))});
    }
    return conds;
}

void BenchmarkPanel::run() {
    try {
        if (!wb_->hasModel()) throw Error("There is no model loaded: load one in the Model panel first.");
        const QString path = file_->text().trimmed();
        if (path.isEmpty()) throw Error("Choose a benchmark file first (JSONL or CSV).");
        if (!wb_->engine()->tokenizer())
            throw Error(wb_->modelPath().toStdString(), "tokenizer", "the benchmark needs a tokenizer and this model folder has none");
        std::vector<BenchCondition> conds = conditions();
        BenchOptions bo;
        bo.method = BenchMethod(method_->currentData().toInt());
        bo.max_new = maxNew_->value();
        bo.seed = uint64_t(seed_->value());
        // The template is read and parsed here, so a model without one (or an unsupported feature)
        // is a dialog before anything runs; run_benchmark renders every prompt before scoring.
        if (chat_->isChecked())
            bo.chat_template = std::make_shared<const ChatTemplate>(load_chat_template(wb_->engine()->info().fingerprint.path));
        const int limit = limit_->value();
        std::shared_ptr<const Engine> engine = wb_->engineShared();
        const std::string file = path.toStdString();
        started();
        jobs_->bench.run([engine, file, limit, conds = std::move(conds), bo](Progress& p) {
            const BenchSet set = load_benchmark(file, limit);
            return run_benchmark(*engine, set, conds, bo, p);
        });
    } catch (const std::exception& e) {
        const QString m = QString::fromUtf8(e.what());
        status_->setText(tr("Cannot run: %1").arg(m));
        emit errorOccurred(tr("Benchmark"), m);
        emit failed(m);
    }
}

void BenchmarkPanel::started() {
    run_->setEnabled(false);
    cancel_->setEnabled(true);
    progress_->setValue(0);
    status_->setText(tr("Running the benchmark…"));
}

void BenchmarkPanel::done(const QString& status) {
    run_->setEnabled(true);
    cancel_->setEnabled(false);
    status_->setText(status);
}

void BenchmarkPanel::setReport(BenchReport r) {
    report_ = std::move(r);
    progress_->setValue(1000);
    refresh();
}

double BenchmarkPanel::shownAccuracy(int c, const QString& metric) const {
    auto it = shown_.find({c, metric});
    return it == shown_.end() ? kNaN : std::get<0>(it->second);
}
std::pair<double, double> BenchmarkPanel::shownInterval(int c, const QString& metric) const {
    auto it = shown_.find({c, metric});
    return it == shown_.end() ? std::pair{kNaN, kNaN} : std::pair{std::get<1>(it->second), std::get<2>(it->second)};
}

void BenchmarkPanel::refresh() {
    plot_->clearPlottables();
    plot_->clearItems();
    shown_.clear();
    table_->setRowCount(0);
    saveJson_->setEnabled(bool(report_));
    saveCsv_->setEnabled(bool(report_));
    setLegendBelow(plot_, report_ && !report_->conditions.empty());  // never covers a bar
    if (!report_ || report_->conditions.empty()) {
        plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        plot_->xAxis->setRange(0, 1);
        setPlotHint(plot_, tr("Run a benchmark: accuracy per condition appears here."));
        plot_->replot();
        return;
    }
    setPlotHint(plot_, {});
    const BenchReport& r = *report_;
    const auto ms = metrics(r.method);
    const double width = 0.8 / double(ms.size());
    for (size_t m = 0; m < ms.size(); ++m) {
        auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
        bars->setName(ms[m].label);
        const QColor col = seriesColor(int(m));
        bars->setPen(QPen(col.darker(130)));
        bars->setBrush(col.lighter(120));
        bars->setWidth(width * 0.94);
        auto* err = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
        err->removeFromLegend();
        err->setPen(QPen(QColor(40, 40, 40), 1.3));
        err->setDataPlottable(bars);
        QVector<double> keys, vals, lo, hi;
        for (size_t c = 0; c < r.conditions.size(); ++c) {
            const Accuracy& a = ms[m].get(r.conditions[c].overall);
            const double key = double(c + 1) + (double(m) - double(ms.size() - 1) / 2.0) * width;
            keys << key;
            vals << a.acc;
            auto* label = new QCPItemText(plot_);  // the value over its interval
            label->position->setCoords(key, a.ci.hi);
            label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
            label->setText(a.n ? QString::number(a.acc, 'f', 2) : QStringLiteral("—"));
            label->setColor(QColor(50, 50, 50));
            lo << a.acc - a.ci.lo;
            hi << a.ci.hi - a.acc;
            shown_[{int(c), ms[m].key}] = {a.acc, a.ci.lo, a.ci.hi};
        }
        bars->setData(keys, vals, true);
        err->setData(lo, hi);
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (size_t c = 0; c < r.conditions.size(); ++c) {
        const ConditionResult& cr = r.conditions[c];
        ticker->addTick(double(c + 1), cr.neurons.empty() ? qs(cr.name)
                                                         : tr("%1\n%2 %3").arg(qs(cr.name)).arg(cr.neurons.size())
                                                               .arg(cr.neurons.size() == 1 ? tr("channel") : tr("channels")));
    }
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setSubTicks(false);
    plot_->xAxis->setTickLength(0, 4);
    plot_->xAxis->setRange(0.4, double(r.conditions.size()) + 0.6);
    plot_->yAxis->setRange(0, 1.14);
    plot_->xAxis->setLabel(tr("condition (channels zeroed at every position) · %1 questions of %2")
                               .arg(r.rows).arg(QFileInfo(qs(r.source)).fileName()));
    plot_->replot();

    // Table: "all" first, then each subject; one row per condition.
    std::vector<std::string> subjects{"all"};
    for (const auto& [s, _] : r.conditions.front().subjects) subjects.push_back(s);
    const bool ll = r.method != BenchMethod::gen, gen = r.method != BenchMethod::ll;
    for (const std::string& s : subjects) {
        for (const ConditionResult& cr : r.conditions) {
            const MethodAccuracy* ma = &cr.overall;
            if (s != "all") {
                auto it = cr.subjects.find(s);
                if (it == cr.subjects.end()) continue;
                ma = &it->second;
            }
            const int row = table_->rowCount();
            table_->insertRow(row);
            const int64_t n = ll ? ma->ll_acc.n : ma->gen_acc.n;
            const QStringList cells{qs(s), qs(cr.name), QString::number(cr.neurons.size()), QString::number(n),
                                    ll ? accText(ma->ll_acc) : QStringLiteral("—"), ll ? accText(ma->ll_acc_norm) : QStringLiteral("—"),
                                    gen ? accText(ma->gen_acc) : QStringLiteral("—")};
            for (int col = 0; col < cells.size(); ++col) {
                auto* it = new QTableWidgetItem(cells[col]);
                if (col >= 2) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                table_->setItem(row, col, it);
            }
        }
    }
}

void BenchmarkPanel::saveJson(const QString& path) const {
    if (!report_) throw Error("There is no benchmark report yet: run a benchmark first.");
    write_file_atomic(path.toStdString(), bench_report_to_json(*report_));
}

void BenchmarkPanel::saveCsv(const QString& path) const {
    if (!report_) throw Error("There is no benchmark report yet: run a benchmark first.");
    write_file_atomic(path.toStdString(), bench_report_to_csv(*report_));
}

}  // namespace achilles::ui
