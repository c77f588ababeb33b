// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/search_panel.h"
#include "core/workbench.h"
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QSpinBox>
#include <QPointer>
#include <QTime>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

namespace achilles::ui {

namespace {
QString duration(double s) {
    if (!(s >= 0) || std::isinf(s)) return QStringLiteral("?");
    if (s < 60) return QStringLiteral("%1 s").arg(int(std::ceil(s)));
    if (s < 3600) return QStringLiteral("%1 min %2 s").arg(int(s) / 60).arg(int(s) % 60);
    return QStringLiteral("%1 h %2 min").arg(int(s) / 3600).arg((int(s) % 3600) / 60);
}
}  // namespace

SearchPanel::SearchPanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    auto spin = [this](int lo, int hi, const QString& tip) {
        auto* s = new QSpinBox(this);
        s->setRange(lo, hi);
        s->setToolTip(tip);
        s->setAccelerated(true);
        return s;
    };
    alpha_ = new QDoubleSpinBox(this);
    alpha_->setRange(0.001, 1000);
    alpha_->setDecimals(3);
    alpha_->setToolTip(tr("α: scale of the Gaussian noise added to the hooked activations in stage 1 "
                          "(the paper uses 5)"));
    samples_ = spin(1, 100000, tr("K: number of noisy forward passes averaged in stage 1 (paper: 100)"));
    seed_ = new QLineEdit(this);
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,19}")), seed_));
    seed_->setToolTip(tr("Seed of the noise: the same seed gives the same ranking"));
    epsilon_ = new QDoubleSpinBox(this);
    epsilon_->setRange(0.01, 100);
    epsilon_->setDecimals(2);
    epsilon_->setToolTip(tr("ε: stage 2 stops once log10 PPL(masked) − log10 PPL(original) ≥ ε (paper: 3)"));
    step_ = spin(1, 1000000, tr("Δn: ranking entries added per stage-2 step (paper: 1)"));
    maxSteps_ = spin(1, 10000000, tr("Cap on stage-2 steps"));
    mode_ = new QComboBox(this);
    for (SearchMode m : {SearchMode::paper, SearchMode::channel_max, SearchMode::channel_mean})
        mode_->addItem(qs(to_string(m)), qs(to_string(m)));
    mode_->setToolTip(tr("paper: rank (position, channel) entries as in the paper;\n"
                         "channel_max / channel_mean: rank whole channels by the max / mean over positions"));
    strategy_ = new QComboBox(this);
    for (SearchStrategy m : {SearchStrategy::linear, SearchStrategy::bisect})
        strategy_->addItem(qs(to_string(m)), qs(to_string(m)));
    strategy_->setToolTip(tr("linear: the paper's scan n = Δn, 2Δn, …;\nbisect: also find the smallest prefix "
                             "reaching ε by bisection (assumes monotonicity)"));
    minimize_ = new QCheckBox(tr("Minimize the critical set"), this);
    minimize_->setToolTip(tr("After stage 2, greedily drop neurons that are not needed to stay above ε"));
    top_ = spin(1, 100000000, tr("M: ranking entries kept from stage 1"));
    batch_ = spin(1, 4096, tr("Noisy samples per forward pass (speed/memory trade-off; results are identical)"));
    maxTokens_ = spin(2, 1000000, tr("Probe text truncated to this many tokens (incl. BOS)"));
    blRandom_ = new QCheckBox(tr("random"), this);
    blActivation_ = new QCheckBox(tr("activation"), this);
    blGradient_ = new QCheckBox(tr("gradient"), this);
    blRandom_->setToolTip(tr("Baseline: mask random channels (mean ± std over runs)"));
    blActivation_->setToolTip(tr("Baseline: mask the channels with the largest |activation|"));
    blGradient_->setToolTip(tr("Baseline: mask the channels with the largest |activation × gradient|"));
    randomRuns_ = spin(1, 1000, tr("Runs of the random baseline"));
    sweep_ = spin(0, 1000000, tr("Phase-transition sweep: evaluate n = 0..N for ours and the baselines (0: off)"));
    sweep_->setSpecialValueText(tr("off"));

    auto* form = new QFormLayout;
    form->addRow(tr("Noise α"), alpha_);
    form->addRow(tr("Samples K"), samples_);
    form->addRow(tr("Seed"), seed_);
    form->addRow(tr("Threshold ε"), epsilon_);
    form->addRow(tr("Step Δn"), step_);
    form->addRow(tr("Max steps"), maxSteps_);
    form->addRow(tr("Mode"), mode_);
    form->addRow(tr("Strategy"), strategy_);
    form->addRow(QString(), minimize_);
    form->addRow(tr("Keep top M"), top_);
    form->addRow(tr("Batch"), batch_);
    form->addRow(tr("Max tokens"), maxTokens_);
    auto* bl = new QHBoxLayout;
    bl->addWidget(blRandom_);
    bl->addWidget(blActivation_);
    bl->addWidget(blGradient_);
    form->addRow(tr("Baselines"), bl);
    form->addRow(tr("Random runs"), randomRuns_);
    form->addRow(tr("Sweep to n"), sweep_);
    auto* params = new QGroupBox(tr("Parameters"), this);
    params->setLayout(form);

    run_ = new QPushButton(tr("Run search"), this);
    run_->setToolTip(tr("Run the two-stage search on the probe text (Ctrl+R)"));
    QFont bf = run_->font();
    bf.setBold(true);
    run_->setFont(bf);
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    cancel_->setToolTip(tr("Stop the running search; the previous result stays (Ctrl+.)"));
    defaults_ = new QPushButton(tr("Paper defaults"), this);
    defaults_->setToolTip(tr("Reset every parameter to the paper's values"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(defaults_);
    buttons->addStretch();
    buttons->addWidget(cancel_);
    buttons->addWidget(run_);

    stageBox_ = new QVBoxLayout;
    summary_ = new QLabel(this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    log_ = new QPlainTextEdit(this);
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(5000);
    log_->setPlaceholderText(tr("Search log"));
    log_->setMinimumHeight(80);

    auto* inner = new QWidget(this);
    auto* il = new QVBoxLayout(inner);
    il->addWidget(params);
    il->addLayout(buttons);
    il->addLayout(stageBox_);
    il->addWidget(summary_);
    il->addWidget(log_, 1);
    auto* scroll = scroll_ = new QScrollArea(this);
    scroll->setWidget(inner);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* lay = new QVBoxLayout(this);
    lay->setContentsMargins(0, 0, 0, 0);
    lay->addWidget(scroll);

    setOptions(wb_->options());
    for (QSpinBox* s : {samples_, step_, maxSteps_, top_, batch_, maxTokens_, randomRuns_, sweep_})
        connect(s, &QSpinBox::valueChanged, this, &SearchPanel::push);
    for (QDoubleSpinBox* s : {alpha_, epsilon_}) connect(s, &QDoubleSpinBox::valueChanged, this, &SearchPanel::push);
    for (QCheckBox* c : {minimize_, blRandom_, blActivation_, blGradient_}) connect(c, &QCheckBox::toggled, this, &SearchPanel::push);
    for (QComboBox* c : {mode_, strategy_}) connect(c, &QComboBox::currentIndexChanged, this, &SearchPanel::push);
    connect(seed_, &QLineEdit::textEdited, this, &SearchPanel::push);
    connect(defaults_, &QPushButton::clicked, this, [this] {
        SearchOptions d;
        d.eval_dataset = wb_->options().eval_dataset;
        d.eval_max_samples = wb_->options().eval_max_samples;
        wb_->setOptions(d);
    });
    connect(wb_, &Workbench::optionsChanged, this, [this] {
        if (!updating_) setOptions(wb_->options());
    });
    connect(run_, &QPushButton::clicked, wb_, &Workbench::runSearch);
    connect(cancel_, &QPushButton::clicked, wb_, &Workbench::cancelSearch);
    connect(wb_, &Workbench::searchStarted, this, [this] {
        resetStages();
        total_.start();
        run_->setEnabled(false);
        cancel_->setEnabled(true);
        summary_->clear();
        appendLog(tr("Search started (α=%1, K=%2, ε=%3, mode %4).")
                      .arg(wb_->options().alpha)
                      .arg(wb_->options().samples)
                      .arg(wb_->options().epsilon)
                      .arg(qs(to_string(wb_->options().mode))));
    });
    connect(wb_, &Workbench::searchProgress, this, &SearchPanel::onProgress);
    auto done = [this] {
        run_->setEnabled(true);
        cancel_->setEnabled(false);
    };
    connect(wb_, &Workbench::searchFinished, this, [this, done] {
        done();
        for (auto& s : stages_) s.bar->setValue(1000);
        const auto& r = *wb_->result();
        QString s;
        if (r.faithful.reached)
            s = tr("<b>Critical set: %1 neurons</b> (n* = %2 entries, rate %3 of %4). PPL %5 → %6, Δ log10 = %7. Took %8.")
                    .arg(r.faithful.neurons.size())
                    .arg(r.faithful.n)
                    .arg(r.rate(), 0, 'g', 3)
                    .arg(r.total_entries)
                    .arg(r.ppl_orig, 0, 'g', 5)
                    .arg(r.faithful.ppl, 0, 'g', 5)
                    .arg(r.faithful.delta, 0, 'f', 2)
                    .arg(duration(total_.elapsed() / 1000.0));
        else
            s = tr("<b>ε not reached</b>: masking the first %1 ranking entries (%2 neurons) raises log10 PPL by only %3 "
                   "(PPL %4 → %5). Raise Max steps or Step Δn, or lower ε. Took %6.")
                    .arg(r.faithful.n)
                    .arg(r.faithful.neurons.size())
                    .arg(r.faithful.delta, 0, 'f', 2)
                    .arg(r.ppl_orig, 0, 'g', 5)
                    .arg(r.faithful.ppl, 0, 'g', 5)
                    .arg(duration(total_.elapsed() / 1000.0));
        summary_->setText(s);
        QTimer::singleShot(0, this, [this] { scroll_->ensureWidgetVisible(summary_, 0, 40); });
        appendLog(QString(s).remove(QRegularExpression(QStringLiteral("<[^>]*>"))));
    });
    connect(wb_, &Workbench::searchFailed, this, [this, done](const QString& m) {
        done();
        appendLog(tr("Search failed: %1").arg(m));
        summary_->setText(tr("<span style='color:#b00'>Search failed: %1</span>").arg(m.toHtmlEscaped()));
        QTimer::singleShot(0, this, [this] { scroll_->ensureWidgetVisible(summary_, 0, 40); });
    });
    connect(wb_, &Workbench::searchCancelled, this, [this, done] {
        done();
        appendLog(tr("Search cancelled."));
        summary_->setText(tr("Search cancelled."));
    });
    connect(wb_, &Workbench::modelLoaded, this, [this] { run_->setEnabled(!wb_->searching()); });
}

void SearchPanel::setOptions(const SearchOptions& o) {
    updating_ = true;
    alpha_->setValue(o.alpha);
    samples_->setValue(o.samples);
    seed_->setText(QString::number(o.seed));
    epsilon_->setValue(o.epsilon);
    step_->setValue(o.step);
    maxSteps_->setValue(o.max_steps);
    mode_->setCurrentIndex(std::max(0, mode_->findData(qs(to_string(o.mode)))));
    strategy_->setCurrentIndex(std::max(0, strategy_->findData(qs(to_string(o.strategy)))));
    minimize_->setChecked(o.minimize);
    top_->setValue(o.top);
    batch_->setValue(o.batch);
    maxTokens_->setValue(o.max_tokens);
    auto has = [&](const char* b) { return std::find(o.baselines.begin(), o.baselines.end(), b) != o.baselines.end(); };
    blRandom_->setChecked(has("random"));
    blActivation_->setChecked(has("activation"));
    blGradient_->setChecked(has("gradient"));
    randomRuns_->setValue(o.random_runs);
    sweep_->setValue(o.sweep);
    updating_ = false;
}

SearchOptions SearchPanel::options() const {
    SearchOptions o = wb_->options();  // keeps the dataset fields of the Probe panel
    o.alpha = alpha_->value();
    o.samples = samples_->value();
    o.seed = seed_->text().toULongLong();
    o.epsilon = epsilon_->value();
    o.step = step_->value();
    o.max_steps = maxSteps_->value();
    o.mode = search_mode_from(mode_->currentData().toString().toStdString());
    o.strategy = search_strategy_from(strategy_->currentData().toString().toStdString());
    o.minimize = minimize_->isChecked();
    o.top = top_->value();
    o.batch = batch_->value();
    o.max_tokens = maxTokens_->value();
    o.baselines.clear();
    if (blRandom_->isChecked()) o.baselines.push_back("random");
    if (blActivation_->isChecked()) o.baselines.push_back("activation");
    if (blGradient_->isChecked()) o.baselines.push_back("gradient");
    o.random_runs = randomRuns_->value();
    o.sweep = sweep_->value();
    return o;
}

void SearchPanel::push() {
    if (updating_) return;
    updating_ = true;
    wb_->setOptions(options());
    updating_ = false;
}

void SearchPanel::resetStages() {
    for (auto& s : stages_) {
        delete s.bar;
        delete s.label;
    }
    stages_.clear();
}

void SearchPanel::appendLog(const QString& line) {
    log_->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss  ")) + line);
}

void SearchPanel::onProgress(const QString& stage, double f, const QString& msg) {
    if (stage == QLatin1String("load")) return;
    if (!msg.isEmpty()) appendLog(stage.isEmpty() ? msg : QStringLiteral("[%1] %2").arg(stage, msg));
    if (stage.isEmpty() || f < 0 || stage == QLatin1String("done")) return;
    auto it = stages_.find(stage);
    if (it == stages_.end()) {
        Stage s;
        s.label = new QLabel(this);
        s.bar = new QProgressBar(this);
        s.bar->setRange(0, 1000);
        s.bar->setFormat(QStringLiteral("%p%"));
        s.clock.start();
        stageBox_->addWidget(s.label);
        stageBox_->addWidget(s.bar);
        it = stages_.insert(stage, s);
        // The parameters fill a short dock: bring the new progress bar into view.
        QTimer::singleShot(0, this, [this, bar = QPointer<QProgressBar>(s.bar)] {
            if (bar) scroll_->ensureWidgetVisible(bar, 0, 40);
        });
    }
    it->bar->setValue(int(std::clamp(f, 0.0, 1.0) * 1000));
    const double el = it->clock.elapsed() / 1000.0;
    QString eta;
    if (f >= 1.0) eta = tr("done in %1").arg(duration(el));
    else if (f > 0.01 && el > 0.5) eta = tr("ETA %1").arg(duration(el * (1 - f) / f));
    it->label->setText(QStringLiteral("<b>%1</b> %2").arg(stage.toHtmlEscaped(), eta));
}

}  // namespace achilles::ui
