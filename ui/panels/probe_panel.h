// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The probe text: editor with a live token count, file loading, token view, evaluation dataset.
#include "jobs/job_runner.h"
#include <QWidget>
#include <string>
#include <vector>

class QPlainTextEdit;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTimer;

namespace achilles::ui {

class Workbench;
class TokenFlowView;
class OptionEditor;

// The probe text as tokens (at most kShownTokens of them with their pieces).
struct Tokenized {
    std::vector<int> ids;
    std::vector<std::string> pieces;
    bool truncated = false;
    int total = 0;
};

class ProbePanel : public QWidget {
    Q_OBJECT
public:
    explicit ProbePanel(Workbench* wb, QWidget* parent = nullptr);
    ~ProbePanel() override;
    int tokenCount() const { return tokenCount_; }  // -1 until tokenized
    TokenFlowView* tokenView() const { return tokens_; }
    QPlainTextEdit* editor() const { return edit_; }
    void loadFile(const QString& path);  // throws Error (unreadable, not UTF-8 text, too large)
    bool openFile(const QString& path);  // loadFile(); on failure emits errorOccurred and returns false
    void retokenize();                  // now (normally debounced); tokenized() follows

signals:
    void tokenized(int count);
protected:
    bool eventFilter(QObject* o, QEvent* e) override;
signals:
    void errorOccurred(const QString& title, const QString& message);

private:
    Workbench* wb_;
    QPlainTextEdit* edit_;
    QLabel* count_;
    TokenFlowView* tokens_;
    QLineEdit* dataset_;
    QSpinBox* datasetMax_;
    std::unique_ptr<OptionEditor> datasetEditor_, datasetMaxEditor_;
    QTimer* debounce_;
    int tokenCount_ = -1;
    std::unique_ptr<JobTracker<Tokenized>> tokenize_;  // on the text lane: answers while a search runs
    bool updating_ = false;
};

}  // namespace achilles::ui
