// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Model choice (folder, recent, embedded default), device and dtype, background load, model card.
#include <QWidget>

class QComboBox;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTextBrowser;
class QLabel;

namespace achilles::ui {

class Workbench;

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(Workbench* wb, QWidget* parent = nullptr);
    void loadPath(const QString& path);  // "default" or a folder; uses the chosen device/dtype
    void setRecent(const QStringList& recent);
    QString cardText() const;             // plain text of the model card
    QString pathText() const;             // the model path field
    static QString describe(const QString& path);  // "Embedded default model" or the folder

signals:
    void modelChosen(const QString& path);  // for the recent list

private slots:
    void browse();
    void updateCard();

private:
    Workbench* wb_;
    QLineEdit* path_;
    QComboBox* recent_;
    QComboBox* device_;
    QComboBox* dtype_;
    QPushButton* load_;
    QPushButton* cancel_;
    QProgressBar* bar_;
    QLabel* status_;
    QTextBrowser* card_;
};

}  // namespace achilles::ui
