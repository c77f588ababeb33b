// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The inputs of Run stability study…: the probes (a JSONL file or a folder of .txt files),
// --vary lines, the consensus K and the held-out dataset, checked as they are typed by the core
// (load_probes, stability_runs: the same messages as achilles-cli, naming file, line and field)
// and the number of runs they make. The model and the search options are the workbench's.
#include "panels/stability_panel.h"
#include <QDialog>

class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QSpinBox;
class QTimer;

namespace achilles::ui {

class Workbench;

class StabilityRunDialog : public QDialog {
    Q_OBJECT
public:
    StabilityRunDialog(Workbench* wb, const StabilityRequest& initial, QWidget* parent = nullptr);
    void setRequest(const StabilityRequest& r);
    StabilityRequest request() const;
    // Re-checks the inputs now (otherwise shortly after each edit): the number of runs, or the
    // core's message, and the Run button enabled only for a valid plan.
    void updatePlan();
    int plannedRuns() const { return runs_; }      // -1 while the inputs are bad
    QString planText() const;                       // "6 runs: 3 probes × 2 ..." or the error
    bool runEnabled() const;

private:
    Workbench* wb_;
    QLineEdit *probes_, *heldout_;
    QPlainTextEdit* vary_;
    QSpinBox *consensus_, *heldoutMax_;
    QLabel *plan_, *context_;
    QDialogButtonBox* buttons_;
    QTimer* debounce_;
    int runs_ = -1;
};

}  // namespace achilles::ui
