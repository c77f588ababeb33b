// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every search parameter (widgets built from the options table: panels/option_form.h), Run/Cancel,
// per-stage progress with ETA, log.
#include "achilles/results.h"
#include <QElapsedTimer>
#include <QMap>
#include <QWidget>
#include <utility>
#include <vector>

class QScrollArea;
class QDoubleSpinBox;
class QSpinBox;
class QComboBox;
class QCheckBox;
class QLineEdit;
class QPushButton;
class QPlainTextEdit;
class QProgressBar;
class QLabel;
class QVBoxLayout;

namespace achilles::ui {

class Workbench;
class OptionForm;

class SearchPanel : public QWidget {
    Q_OBJECT
public:
    explicit SearchPanel(Workbench* wb, QWidget* parent = nullptr);
    SearchOptions options() const;      // from the widgets (the dataset fields: the workbench's)
    void setOptions(const SearchOptions& o);
    OptionForm* form() const { return form_; }
    QPlainTextEdit* log() const { return log_; }
    QPushButton* runButton() const { return run_; }
    QPushButton* cancelButton() const { return cancel_; }
    int stageBars() const { return int(stages_.size()); }
    QStringList stageTexts() const;  // the label over each stage's bar
    // Seconds left from (seconds, fraction) reports: the rate measured over the last few seconds
    // (a slow start, such as stage 2's first forwards, does not inflate it). Negative: unknown.
    static double etaSeconds(const std::vector<std::pair<double, double>>& reports, double window = 5.0);

private:
    struct Stage {
        QProgressBar* bar;
        QLabel* label;
        QElapsedTimer clock;
        std::vector<std::pair<double, double>> reports;  // (seconds, fraction)
    };
    void onProgress(const QString& stage, double f, const QString& msg);
    void appendLog(const QString& line);
    void resetStages();
    void push();  // widgets -> workbench options
    Workbench* wb_;
    bool updating_ = false;
    OptionForm* form_;
    QPushButton *run_, *cancel_, *defaults_;
    QVBoxLayout* stageBox_;
    QMap<QString, Stage> stages_;
    QPlainTextEdit* log_;
    QLabel* summary_;
    QScrollArea* scroll_ = nullptr;
    QElapsedTimer total_;
};

}  // namespace achilles::ui
