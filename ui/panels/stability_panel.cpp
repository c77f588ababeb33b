// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/stability_panel.h"
#include "achilles/error.h"
#include "achilles/fileio.h"
#include "achilles/search.h"
#include "jobs/job_runner.h"
#include "panels/stability_run_dialog.h"
#include "plots/plot_style.h"
#include "widgets/file_dialogs.h"
#include "widgets/stale_banner.h"
#include "workbench/workbench.h"
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>
#include <limits>
#include <qcustomplot.h>

namespace achilles::ui {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double number(const QJsonValue& v) {
    if (v.isDouble()) return v.toDouble();
    const QString s = v.toString();
    if (s == QLatin1String("inf")) return std::numeric_limits<double>::infinity();
    if (s == QLatin1String("-inf")) return -std::numeric_limits<double>::infinity();
    return kNaN;
}
QString neuronText(const QJsonObject& o) {
    return QStringLiteral("L%1.%2:%3").arg(o.value("layer").toInt()).arg(o.value("module").toString()).arg(o.value("channel").toInt());
}
QStringList neurons(const QJsonValue& v) {
    QStringList out;
    for (const QJsonValue& n : v.toArray()) out << neuronText(n.toObject());
    return out;
}
QTableWidget* table(QWidget* parent, const QStringList& headers) {
    auto* t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->verticalHeader()->setVisible(false);
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setAlternatingRowColors(true);
    t->setMinimumHeight(80);
    return t;
}
void setRow(QTableWidget* t, const QStringList& cells) {
    const int row = t->rowCount();
    t->insertRow(row);
    for (int c = 0; c < cells.size(); ++c) {
        auto* it = new QTableWidgetItem(cells[c]);
        if (c > 0) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        t->setItem(row, c, it);
    }
}
}  // namespace

StabilityDoc readStabilityDoc(const QString& path) { return parseStabilityDoc(read_file(path.toStdString()), path); }

StabilityDoc parseStabilityDoc(const std::string& text, const QString& source) {
    const std::string p = source.toStdString();
    QJsonParseError pe;
    const QJsonDocument d = QJsonDocument::fromJson(QByteArray::fromStdString(text), &pe);
    if (pe.error != QJsonParseError::NoError) throw Error(p, "", "not JSON: " + pe.errorString().toStdString());
    const QJsonObject o = d.object();
    if (o.value("schema").toString() != QLatin1String("achilles.stability/1"))
        throw Error(p, "schema", "expected \"achilles.stability/1\", got \"" + o.value("schema").toString().toStdString() + "\"");
    StabilityDoc doc;
    doc.source = source;
    doc.model = o.value("model").toString();
    for (const QJsonValue& v : o.value("runs").toArray()) {
        const QJsonObject r = v.toObject();
        doc.runs.push_back({r.value("label").toString(), r.value("probe").toString(), int(r.value("set").toArray().size()),
                            r.value("tokens").toInt(), number(r.value("delta")), r.value("reached").toBool()});
    }
    const QJsonArray jac = o.value("jaccard").toArray();
    if (size_t(jac.size()) != doc.runs.size()) throw Error(p, "jaccard", "must be a runs x runs matrix");
    for (int i = 0; i < jac.size(); ++i) {
        const QJsonArray row = jac[i].toArray();
        if (size_t(row.size()) != doc.runs.size()) throw Error(p, "jaccard[" + std::to_string(i) + "]", "must have one value per run");
        std::vector<double> r;
        for (const QJsonValue& x : row) {
            const double v = number(x);
            if (!(v >= 0 && v <= 1)) throw Error(p, "jaccard[" + std::to_string(i) + "]", "values must lie in [0, 1]");
            r.push_back(v);
        }
        doc.jaccard.push_back(std::move(r));
    }
    for (const QJsonValue& v : o.value("counts").toArray()) doc.counts.push_back({neuronText(v.toObject()), v.toObject().value("count").toInt()});
    doc.intersection = neurons(o.value("intersection"));
    doc.unionSize = o.value("union_size").toInt();
    const QJsonObject cons = o.value("consensus").toObject();
    doc.consensusK = cons.value("k").toInt();
    doc.consensus = neurons(cons.value("neurons"));
    if (o.contains("heldout")) {
        const QJsonObject h = o.value("heldout").toObject();
        doc.heldout = QObject::tr("held-out Δ log10 PPL of the consensus set: %1 on %2 (%3 samples, PPL %4 → %5)")
                          .arg(number(h.value("delta")), 0, 'f', 3).arg(h.value("dataset").toString()).arg(h.value("samples").toInt())
                          .arg(number(h.value("ppl_orig")), 0, 'g', 4).arg(number(h.value("ppl_masked")), 0, 'g', 4);
    }
    return doc;
}

StabilityPlan planStability(const StabilityRequest& r) {
    const QString path = r.probes.trimmed();
    if (path.isEmpty())
        throw Error("stability study", "--probes", "choose a probes file (JSONL with \"text\" or \"ids\") or a folder of .txt files");
    StabilityPlan plan;
    plan.probes = load_probes(path.toStdString());
    std::vector<std::string> vary;
    for (const QString& v : r.vary)
        if (!v.trimmed().isEmpty()) vary.push_back(v.trimmed().toStdString());
    plan.runs = stability_runs(plan.probes, vary);
    if (!r.heldout.trimmed().isEmpty()) (void)load_dataset_texts(r.heldout.trimmed().toStdString(), 1);  // as the CLI: before the runs
    return plan;
}

struct StabilityPanel::Jobs {
    explicit Jobs(JobRunner* r) : study(r, Lane::model) {}  // a search-class operation: the model lane
    JobTracker<StabilityResult> study;
};

StabilityPanel::~StabilityPanel() = default;

StabilityPanel::StabilityPanel(Workbench* wb, QWidget* parent)
    : QWidget(parent), wb_(wb), jobs_(wb ? std::make_unique<Jobs>(wb->jobs()) : nullptr) {
    auto* open = new QPushButton(tr("Open stability study…"), this);
    open->setToolTip(tr("An achilles.stability/1 document (achilles-cli search --probes FILE --out ...)"));
    runBtn_ = new QPushButton(tr("Run stability study…"), this);
    runBtn_->setObjectName(QStringLiteral("stabilityRun"));
    runBtn_->setToolTip(tr("achilles-cli search --probes: one search per probe (and per --vary combination) on the loaded "
                           "model with the Search panel's options"));
    cancelBtn_ = new QPushButton(tr("Cancel"), this);
    cancelBtn_->setObjectName(QStringLiteral("stabilityCancel"));
    cancelBtn_->setEnabled(false);
    saveBtn_ = new QPushButton(tr("Save JSON…"), this);
    saveBtn_->setObjectName(QStringLiteral("stabilitySave"));
    saveBtn_->setToolTip(tr("The achilles.stability/1 document of the study run here (what achilles-cli search --probes --out writes)"));
    saveBtn_->setEnabled(false);
    runBtn_->setVisible(wb_ != nullptr);
    cancelBtn_->setVisible(wb_ != nullptr);
    saveBtn_->setVisible(wb_ != nullptr);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setValue(0);
    progress_->setMaximumHeight(16);
    progress_->setVisible(false);  // while a study runs
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("stabilityStatus"));
    status_->setWordWrap(true);
    prov_label_ = new QLabel(this);
    prov_label_->setObjectName(QStringLiteral("stabilityProvenance"));
    prov_label_->setWordWrap(true);
    prov_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    prov_label_->setVisible(false);
    stale_ = new StaleBanner(this);
    auto* exportBtn = new QPushButton(tr("Export heatmap…"), this);
    summary_ = new QLabel(wb_ ? tr("Run a stability study (one search per probe) or open one made by achilles-cli search --probes.")
                              : tr("Open a stability study made by achilles-cli search --probes."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    consensus_ = new QLabel(this);
    consensus_->setWordWrap(true);
    consensus_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("stability"));
    stylePlot(plot_, tr("Jaccard similarity of the runs' critical sets"));
    plot_->xAxis->setLabel(tr("run"));
    plot_->yAxis->setLabel(tr("run"));
    scale_ = new QCPColorScale(plot_);
    plot_->plotLayout()->addElement(1, 1, scale_);
    scale_->setType(QCPAxis::atRight);
    scale_->axis()->setLabel(tr("Jaccard |A∩B| / |A∪B|"));
    scale_->setBarWidth(14);
    scale_->setDataRange(QCPRange(0, 1));
    map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
    map_->setColorScale(scale_);
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(247, 251, 255));
    g.setColorStopAt(0.5, QColor(107, 174, 214));
    g.setColorStopAt(1.0, QColor(8, 48, 107));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    map_->setGradient(g);
    map_->setInterpolate(false);
    map_->setTightBoundary(false);
    map_->setDataRange(QCPRange(0, 1));
    auto* group = new QCPMarginGroup(plot_);
    plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    plot_->xAxis->grid()->setVisible(false);
    plot_->yAxis->grid()->setVisible(false);
    plot_->yAxis->setRangeReversed(true);  // run 1 at the top, as in a matrix
    plot_->setMinimumSize(300, 240);

    runs_ = table(this, {tr("run"), tr("set size"), tr("Δ log10 PPL"), tr("reached ε"), tr("tokens")});
    counts_ = table(this, {tr("channel"), tr("runs holding it")});
    counts_->setObjectName(QStringLiteral("stabilityCounts"));

    auto* top = new QHBoxLayout;
    top->addWidget(open);
    top->addWidget(runBtn_);
    top->addWidget(cancelBtn_);
    top->addWidget(progress_, 1);
    top->addStretch();
    top->addWidget(saveBtn_);
    top->addWidget(exportBtn);
    auto* tables = new QSplitter(Qt::Vertical, this);
    tables->addWidget(runs_);
    tables->addWidget(counts_);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(plot_);
    split->addWidget(tables);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setSizes({600, 400});
    auto* page = new QWidget(this);
    auto* lay = new QVBoxLayout(page);
    lay->addLayout(top);
    lay->addWidget(status_);
    lay->addWidget(stale_);
    lay->addWidget(summary_);
    lay->addWidget(prov_label_);
    lay->addWidget(split, 1);
    lay->addWidget(consensus_);
    page->setMinimumSize(560, 400);
    auto* sa = new QScrollArea(this);
    sa->setWidgetResizable(true);
    sa->setFrameShape(QFrame::NoFrame);
    sa->setWidget(page);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(sa);

    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Open stability study"), QFileInfo(doc_.source).path(),
                                                       tr("Stability studies (*.json);;All files (*)"));
        if (!f.isEmpty()) openFile(f);
    });
    connect(exportBtn, &QPushButton::clicked, this, [this] { emit exportRequested(plot_, QStringLiteral("stability")); });
    connect(runBtn_, &QPushButton::clicked, this, &StabilityPanel::runDialog);
    connect(cancelBtn_, &QPushButton::clicked, this, &StabilityPanel::cancelStudy);
    connect(saveBtn_, &QPushButton::clicked, this, [this] {
        const QString f = saveFileDialog(this, DialogKind::exports, tr("Save stability study"), QStringLiteral("stability.json"),
                                         tr("JSON (*.json)"));
        if (f.isEmpty()) return;
        try {
            saveJson(f);
        } catch (const std::exception& e) {
            emit errorOccurred(tr("Save failed"), QString::fromUtf8(e.what()));
        }
    });
    if (wb_) {
        // A model load would wait behind the study on the model lane: it cancels the study, as it
        // cancels a search.
        connect(wb_, &Workbench::modelLoading, this, &StabilityPanel::cancelStudy);
        connect(wb_, &Workbench::provenanceChanged, this, &StabilityPanel::updateStale);
        connect(wb_, &Workbench::modelLoaded, this, &StabilityPanel::updateStale);
        jobs_->study.onProgress([this](const QString& stage, double f, const QString& m) {
            if (stage == QLatin1String("stability")) {  // "run 2/6: story.txt seed=7"
                if (f >= 0) progress_->setValue(int(f * 1000));
                runMessage_ = m;
                status_->setText(tr("Running the study — %1").arg(m));
            } else if (stage == QLatin1String("done") && m == QLatin1String("stability finished")) {
                progress_->setValue(1000);
            } else if (!stage.isEmpty()) {  // the search of the current run: stage1, stage2, minimize, ...
                status_->setText(tr("Running the study — %1 · %2%3").arg(runMessage_, stage,
                                                                        f >= 0 ? QStringLiteral(" %1%").arg(int(f * 100)) : QString()) +
                                 (m.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(m)));
            }
            emit studyProgress(status_->text());
        });
        jobs_->study.onFinished([this](StabilityResult r) {
            const std::string doc = stability_to_json(r);
            result_ = std::move(r);
            prov_ = pendingProv_;
            probes_ = pendingProbes_;
            try {
                StabilityDoc d = parseStabilityDoc(doc, QString());  // the reader of opened documents: one set of numbers
                setDoc(std::move(d));
            } catch (const std::exception& e) {  // cannot happen for the core's own document; never crash on it
                result_.reset();
                prov_ = {};
                studyDone(tr("Failed: %1").arg(QString::fromUtf8(e.what())));
                emit errorOccurred(tr("Stability study failed"), QString::fromUtf8(e.what()));
                emit studyFailed(QString::fromUtf8(e.what()));
                return;
            }
            progress_->setValue(1000);
            studyDone(tr("Finished: %1 runs. Save JSON writes the achilles.stability/1 document.").arg(result_->runs.size()));
            emit studyFinished();
        });
        jobs_->study.onFailed([this](const QString& m) {
            studyDone(tr("Failed: %1").arg(m));
            emit errorOccurred(tr("Stability study failed"), m);
            emit studyFailed(m);
        });
        jobs_->study.onCancelled([this] {
            studyDone(tr("Cancelled: no study was produced; the view is as it was."));
            emit studyCancelled();
        });
    }
    refresh();
}

bool StabilityPanel::openFile(const QString& path) {
    try {
        StabilityDoc d = readStabilityDoc(path);
        result_.reset();  // what is shown is the file now, not the study run here
        prov_ = {};
        setDoc(std::move(d));
    } catch (const std::exception& e) {
        emit errorOccurred(tr("Cannot open the stability study"), QString::fromUtf8(e.what()));
        return false;
    }
    emit opened(path);
    return true;
}

void StabilityPanel::runDialog() {
    if (!wb_) return;
    if (studyRunning()) {
        emit errorOccurred(tr("Stability study"), tr("A study is running: cancel it first (Cancel, or Ctrl+.)."));
        return;
    }
    StabilityRunDialog dlg(wb_, request_, this);
    if (dlg.exec() != QDialog::Accepted) return;
    runStudy(dlg.request());
}

bool StabilityPanel::runStudy(const StabilityRequest& req) {
    auto fail = [this](const QString& m) {
        status_->setText(tr("Cannot run: %1").arg(m));
        emit errorOccurred(tr("Stability study"), m);
        emit studyFailed(m);
        return false;
    };
    if (!wb_) return fail(tr("This panel has no workbench."));
    request_ = req;
    try {
        if (!wb_->hasModel()) throw Error("There is no model loaded: load one in the Model panel first.");
        if (studyRunning()) throw Error("A stability study is running: cancel it first.");
        const SearchOptions opts = wb_->options();  // the Search panel's (and the Probe panel's dataset fields)
        validate(opts);
        if (!opts.eval_dataset.empty()) (void)load_dataset_texts(opts.eval_dataset, 1);
        StabilityPlan plan = planStability(req);
        std::shared_ptr<const Engine> engine = wb_->engineShared();
        pendingProv_ = {};
        pendingProv_.model = engine->info().fingerprint;
        pendingProv_.text = req.probes.trimmed();
        pendingProbes_ = int(plan.probes.size());
        const int runs = int(plan.runs.size());
        runBtn_->setEnabled(false);
        cancelBtn_->setEnabled(true);
        progress_->setValue(0);
        progress_->setVisible(true);
        runMessage_.clear();
        status_->setText(tr("Running the study: %1 runs on %2 probes…").arg(runs).arg(plan.probes.size()));
        jobs_->study.run([engine, plan = std::move(plan), opts, k = req.consensus, heldout = req.heldout.trimmed().toStdString(),
                          hmax = req.heldoutMaxSamples](Progress& p) {
            return run_stability(*engine, plan.probes, plan.runs, opts, k, heldout, hmax, p);
        });
        emit studyStarted();
        return true;
    } catch (const std::exception& e) {
        return fail(QString::fromUtf8(e.what()));
    }
}

void StabilityPanel::cancelStudy() {
    if (jobs_) jobs_->study.cancel();
}

bool StabilityPanel::studyRunning() const { return jobs_ && jobs_->study.running(); }

QString StabilityPanel::statusText() const { return status_->text(); }

void StabilityPanel::studyDone(const QString& status) {
    runBtn_->setEnabled(true);
    cancelBtn_->setEnabled(false);
    progress_->setVisible(false);
    status_->setText(status);
    refresh();
}

QString StabilityPanel::provenanceText() const {
    if (!result_ || !prov_.hasModel()) return {};
    const SearchOptions& o = result_->options;
    return tr("Computed here on %1: %2 runs on %3 probes from %4 (Search panel options: α %5, K %6, ε %7, max steps %8, "
              "seed %9).")
        .arg(prov_.modelName())
        .arg(result_->runs.size())
        .arg(probes_)
        .arg(prov_.text)
        .arg(o.alpha)
        .arg(o.samples)
        .arg(o.epsilon)
        .arg(o.max_steps)
        .arg(qulonglong(o.seed));
}

void StabilityPanel::updateStale() {
    stale_->setReason(wb_ && result_ ? wb_->staleReasonOf(prov_, false) : QString());
}

void StabilityPanel::saveJson(const QString& path) {
    if (!result_) throw Error("There is no stability study run here to save: run one first (Run › Run stability study).");
    write_file_atomic(path.toStdString(), stability_to_json(*result_));
    doc_.source = path;
    status_->setText(tr("Wrote %1").arg(path));
    refresh();
}

void StabilityPanel::setDoc(StabilityDoc d) {
    doc_ = std::move(d);
    refresh();
}

double StabilityPanel::cellValue(int i, int j) const {
    const int n = int(doc_.runs.size());
    if (i < 0 || j < 0 || i >= n || j >= n) return kNaN;
    return map_->data()->cell(j, i);
}

QString StabilityPanel::consensusText() const { return consensus_->text(); }

void StabilityPanel::refresh() {
    saveBtn_->setEnabled(bool(result_) && !studyRunning());
    prov_label_->setText(provenanceText());
    prov_label_->setVisible(!prov_label_->text().isEmpty());
    updateStale();
    runs_->setRowCount(0);
    counts_->setRowCount(0);
    const int n = int(doc_.runs.size());
    if (n == 0) {
        map_->data()->setSize(1, 1);
        map_->data()->setCell(0, 0, kNaN);
        scale_->setVisible(false);
        plot_->xAxis->setRange(-0.5, 2.5);
        plot_->yAxis->setRange(-0.5, 2.5);
        setPlotHint(plot_, tr("Run or open a stability study: the Jaccard matrix of its runs appears here."));
        consensus_->clear();
        plot_->replot();
        return;
    }
    setPlotHint(plot_, {});
    scale_->setVisible(true);
    map_->data()->setSize(n, n);
    map_->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) map_->data()->setCell(j, i, doc_.jaccard[i][j]);  // x: column j, y: row i
    map_->setDataRange(QCPRange(0, 1));
    scale_->setDataRange(QCPRange(0, 1));
    auto tx = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    auto ty = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    const int step = std::max(1, n / 16);
    for (int i = 0; i < n; i += step) {
        QString l = doc_.runs[i].label;
        if (l.size() > 22) l = l.left(20) + QStringLiteral("…");
        tx->addTick(i, QString::number(i + 1));
        ty->addTick(i, QStringLiteral("%1 %2").arg(i + 1).arg(l));
    }
    plot_->xAxis->setTicker(tx);
    plot_->yAxis->setTicker(ty);
    plot_->xAxis->setSubTicks(false);
    plot_->yAxis->setSubTicks(false);
    plot_->xAxis->setLabel(tr("run (numbered as on the left)"));
    plot_->yAxis->setLabel(tr("run"));
    plot_->xAxis->setRange(-0.5, n - 0.5);
    plot_->yAxis->setRange(-0.5, n - 0.5);
    // The value in each cell when the matrix is small enough to read.
    plot_->clearItems();
    if (n <= 12) {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                auto* t = new QCPItemText(plot_);
                t->position->setCoords(j, i);
                t->setText(QString::number(doc_.jaccard[i][j], 'f', 2));
                t->setColor(doc_.jaccard[i][j] > 0.55 ? Qt::white : QColor(30, 30, 30));
                t->setClipToAxisRect(true);
            }
    }
    plot_->replot();

    for (int i = 0; i < n; ++i) {
        const auto& r = doc_.runs[i];
        setRow(runs_, {QStringLiteral("%1 %2").arg(i + 1).arg(r.label), QString::number(r.size),
                       std::isfinite(r.delta) ? QString::number(r.delta, 'f', 3) : QStringLiteral("—"),
                       r.reached ? tr("yes") : tr("no"), QString::number(r.tokens)});
    }
    for (const auto& c : doc_.counts) setRow(counts_, {c.neuron, QStringLiteral("%1 / %2").arg(c.count).arg(n)});
    summary_->setText(tr("%1 — %2 runs on %3 · union %4 channels · intersection %5 channels")
                          .arg(doc_.source.isEmpty() ? tr("study run here (not saved)") : QFileInfo(doc_.source).fileName()).arg(n).arg(doc_.model).arg(doc_.unionSize).arg(doc_.intersection.size()));
    QString cons = tr("Consensus set (in at least %1 of %2 runs): %3 channels").arg(doc_.consensusK).arg(n).arg(doc_.consensus.size());
    if (!doc_.consensus.isEmpty()) {
        QStringList shown = doc_.consensus.mid(0, 40);
        cons += QStringLiteral(": ") + shown.join(QStringLiteral(", ")) +
                (doc_.consensus.size() > 40 ? tr(" … (%1 more)").arg(doc_.consensus.size() - 40) : QString());
    }
    if (!doc_.heldout.isEmpty()) cons += QStringLiteral("\n") + doc_.heldout;
    consensus_->setText(cons);
}

}  // namespace achilles::ui
