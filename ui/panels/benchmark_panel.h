// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Benchmarks: multiple-choice accuracy with and without the critical set zeroed (the GUI's
// `achilles-cli eval`, core: achilles/benchmark.h). Conditions as the CLI builds them: unmasked,
// the result's critical (faithful) set, its minimal set if any, and a seeded random set of the same
// size. Runs on the eval lane (cancellable, with progress); a bar chart of accuracy per condition
// with 95% Wilson intervals, a per-subject table, the core's report as JSON/CSV.
#include "achilles/benchmark.h"
#include <QWidget>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

class QCustomPlot;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace achilles::ui {

class Workbench;

class BenchmarkPanel : public QWidget {
    Q_OBJECT
public:
    explicit BenchmarkPanel(Workbench* wb, QWidget* parent = nullptr);
    ~BenchmarkPanel() override;

    void setBenchmarkFile(const QString& path);
    QString benchmarkFile() const;
    void setLimit(int n);            // 0: all
    void setMethod(BenchMethod m);
    void setMaxNew(int n);
    void setSeed(int seed);
    void setRandomSet(bool on);
    void setChatTemplate(bool on);  // --chat-template: the model's tokenizer_config.json template
    // The conditions the next run uses (unmasked, critical, minimal, random); throws Error.
    std::vector<BenchCondition> conditions() const;
    void run();                      // on the eval lane; emits finished / failed / cancelled
    void cancel();
    bool running() const;

    const std::optional<BenchReport>& report() const { return report_; }
    void setReport(BenchReport r);   // shows a report (tests, reopening)
    QCustomPlot* plot() const { return plot_; }
    QTableWidget* table() const { return table_; }
    // The bar shown for condition index c and metric ("acc", "acc_norm", "gen"): its height and
    // its interval; NaN when there is no such bar.
    double shownAccuracy(int c, const QString& metric) const;
    std::pair<double, double> shownInterval(int c, const QString& metric) const;
    QString statusText() const;

    void saveJson(const QString& path) const;  // the core's report document, atomically; throws Error
    void saveCsv(const QString& path) const;

signals:
    void finished();
    void failed(const QString& message);
    void cancelled();
    void errorOccurred(const QString& title, const QString& message);
    void exportRequested(QCustomPlot* plot, const QString& name);

private:
    struct Jobs;
    void refresh();
    void started();
    void done(const QString& status);
    Workbench* wb_;
    std::unique_ptr<Jobs> jobs_;
    QLineEdit* file_;
    QSpinBox *limit_, *maxNew_, *seed_;
    QComboBox* method_;
    QCheckBox* random_;
    QCheckBox* chat_;
    QPushButton *run_, *cancel_, *saveJson_, *saveCsv_, *export_;
    QProgressBar* progress_;
    QLabel *status_, *conds_;
    QCustomPlot* plot_;
    QTableWidget* table_;
    std::optional<BenchReport> report_;
    // (condition, metric) -> (value, lo, hi) of the bars shown
    std::map<std::pair<int, QString>, std::tuple<double, double, double>> shown_;
};

}  // namespace achilles::ui
