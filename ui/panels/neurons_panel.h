// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Ranked neuron table with mask checkboxes, set buttons, live perplexity, undo/redo.
#include <QJsonObject>
#include <QWidget>

class QTableView;
class QLineEdit;
class QLabel;
class QCheckBox;
class QPushButton;

namespace achilles::ui {

class Workbench;
class NeuronTableModel;
class NeuronFilterProxy;

class NeuronsPanel : public QWidget {
    Q_OBJECT
public:
    NeuronsPanel(Workbench* wb, NeuronTableModel* model, QWidget* parent = nullptr);
    QTableView* view() const { return view_; }
    NeuronFilterProxy* proxy() const { return proxy_; }
    QString pplText() const;
    QString staleText() const;  // the banner over the table (empty when hidden)
    void maskCritical();
    void maskMinimal();
    void clearMasks();
    QJsonObject viewState() const;
    void restoreViewState(const QJsonObject& o);

signals:
    void exportCsvRequested();

protected:
    bool eventFilter(QObject* o, QEvent* e) override;

private:
    void updatePpl(double orig, double masked);
    Workbench* wb_;
    NeuronTableModel* model_;
    NeuronFilterProxy* proxy_;
    QTableView* view_;
    QLineEdit* filter_;
    QCheckBox* maskedOnly_;
    QCheckBox* regen_;
    QPushButton *critical_, *minimal_, *clear_;
    QLabel* ppl_;
    QLabel* emptyHint_ = nullptr;
    class StaleBanner* stale_ = nullptr;
    void updateStale();
};

}  // namespace achilles::ui
