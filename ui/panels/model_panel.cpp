// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/model_panel.h"
#include "achilles/engine.h"
#include "achilles/options.h"
#include "workbench/workbench.h"
#include <QComboBox>
#include "widgets/file_dialogs.h"
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace achilles::ui {

QString ModelPanel::describe(const QString& path) {
    return path == QLatin1String("default") ? tr("Embedded default model") : path;
}

ModelPanel::ModelPanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    path_ = new QLineEdit(this);
    path_->setPlaceholderText(tr("model folder (config.json + *.safetensors), or drop one here"));
    path_->setToolTip(tr("A Hugging Face model folder. Type \"default\" for the embedded model."));
    auto* browse = new QPushButton(tr("Browse…"), this);
    auto* embedded = new QPushButton(tr("Embedded default model"), this);
    embedded->setToolTip(tr("The small Llama-architecture model trained by this project (loads in a second)"));
    recent_ = new QComboBox(this);
    recent_->setPlaceholderText(tr("Recent models"));
    recent_->setToolTip(tr("Recently loaded models"));
    device_ = new QComboBox(this);
    device_->setEditable(true);
    // The devices this build of libtorch actually sees, plus an all-GPU layer-wise placement.
    QStringList gpus;
    for (const std::string& d : achilles::available_devices()) {
        device_->addItem(QString::fromStdString(d));
        if (d != "cpu") gpus << QString::fromStdString(d);
    }
    if (gpus.size() > 1) device_->addItem(gpus.join(QLatin1Char(',')));
    device_->setToolTip(tr("cpu, cuda, cuda:N, or several CUDA devices separated by commas for layer-wise placement"));
    dtype_ = new QComboBox(this);
    for (const std::string& d : dtype_names()) dtype_->addItem(QString::fromStdString(d));  // achilles/options.h
    dtype_->setToolTip(tr("Compute dtype. auto: f32 on CPU, the checkpoint's dtype on CUDA"));
    load_ = new QPushButton(tr("Load"), this);
    load_->setDefault(true);
    cancel_ = new QPushButton(tr("Cancel"), this);
    cancel_->setEnabled(false);
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1000);
    bar_->setTextVisible(false);
    bar_->setMaximumHeight(8);
    bar_->hide();
    status_ = new QLabel(tr("No model loaded."), this);
    status_->setWordWrap(true);
    card_ = new QTextBrowser(this);
    card_->setOpenLinks(false);
    card_->setMinimumHeight(120);

    auto* row1 = new QHBoxLayout;
    row1->addWidget(path_, 1);
    row1->addWidget(browse);
    auto* row2 = new QHBoxLayout;
    row2->addWidget(embedded);
    row2->addWidget(recent_, 1);
    auto* form = new QFormLayout;
    form->addRow(tr("Device"), device_);
    form->addRow(tr("Dtype"), dtype_);
    auto* row3 = new QHBoxLayout;
    row3->addStretch();
    row3->addWidget(cancel_);
    row3->addWidget(load_);
    auto* lay = new QVBoxLayout(this);
    lay->addLayout(row1);
    lay->addLayout(row2);
    lay->addLayout(form);
    lay->addLayout(row3);
    lay->addWidget(bar_);
    lay->addWidget(status_);
    lay->addWidget(card_, 1);

    connect(browse, &QPushButton::clicked, this, &ModelPanel::browse);
    connect(embedded, &QPushButton::clicked, this, [this] { loadPath(QStringLiteral("default")); });
    connect(load_, &QPushButton::clicked, this, [this] {
        const QString p = path_->text().trimmed();
        if (!p.isEmpty()) loadPath(p == tr("Embedded default model") ? QStringLiteral("default") : p);
    });
    connect(path_, &QLineEdit::returnPressed, load_, &QPushButton::click);
    connect(recent_, &QComboBox::activated, this, [this](int i) {
        const QString p = recent_->itemData(i).toString();
        if (!p.isEmpty()) loadPath(p);
    });
    connect(cancel_, &QPushButton::clicked, wb_, &Workbench::cancelLoad);
    connect(wb_, &Workbench::modelLoading, this, [this] {
        bar_->setValue(0);
        bar_->show();
        load_->setEnabled(false);
        cancel_->setEnabled(true);
        status_->setText(tr("Loading %1…").arg(describe(wb_->loadingPath())));
        path_->setText(describe(wb_->loadingPath()));  // also when a session starts the load
    });
    connect(wb_, &Workbench::loadProgress, this, [this](double f, const QString& msg) {
        if (f >= 0) bar_->setValue(int(f * 1000));
        if (!msg.isEmpty()) status_->setText(msg);
    });
    connect(wb_, &Workbench::modelLoaded, this, [this] {
        bar_->hide();
        load_->setEnabled(true);
        cancel_->setEnabled(false);
        status_->setText(tr("Loaded %1.").arg(describe(wb_->modelPath())));
        path_->setText(describe(wb_->modelPath()));  // the model actually loaded
        updateCard();
        emit modelChosen(wb_->modelPath());
    });
    connect(wb_, &Workbench::modelFailed, this, [this](const QString& m) {
        bar_->hide();
        load_->setEnabled(true);
        cancel_->setEnabled(false);
        status_->setText(wb_->hasModel() ? tr("Load failed; still using the previous model.") : tr("No model loaded."));
        if (wb_->hasModel()) path_->setText(describe(wb_->modelPath()));
    });
    updateCard();
}

void ModelPanel::browse() {
    const QString dir = folderDialog(this, DialogKind::models, tr("Open model folder"));
    if (!dir.isEmpty()) loadPath(dir);
}

void ModelPanel::loadPath(const QString& path) {
    path_->setText(path == QLatin1String("default") ? tr("Embedded default model") : path);
    LoadOptions o;
    o.path = path.toStdString();
    const QString dev = device_->currentText().trimmed();
    if (dev.contains(QLatin1Char(','))) {
        for (const QString& d : dev.split(QLatin1Char(','), Qt::SkipEmptyParts)) o.devices.push_back(d.trimmed().toStdString());
        o.device = o.devices.front();
    } else {
        o.device = dev.isEmpty() ? std::string("cpu") : dev.toStdString();
    }
    o.dtype = dtype_->currentText().toStdString();
    wb_->loadModel(o);
}

void ModelPanel::setRecent(const QStringList& recent) {
    recent_->clear();
    for (const QString& p : recent) recent_->addItem(describe(p), p);
    recent_->setCurrentIndex(-1);
}

QString ModelPanel::pathText() const { return path_->text(); }

QString ModelPanel::cardText() const { return card_->toPlainText(); }

void ModelPanel::updateCard() {
    const ModelInfo* i = wb_->info();
    if (!i) {
        card_->setHtml(tr("<p style='color:#777'>Load a model folder (Hugging Face layout: config.json, "
                          "*.safetensors, tokenizer) or the embedded default model.</p>"));
        return;
    }
    const QLocale loc;
    auto mib = [](int64_t b) { return QString::number(double(b) / (1024.0 * 1024.0), 'f', 1) + QStringLiteral(" MiB"); };
    QString h = QStringLiteral("<table cellspacing=2>");
    auto row = [&](const QString& k, const QString& v) { h += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k, v.toHtmlEscaped()); };
    row(tr("Architecture"), qs(i->architecture) + QStringLiteral(" (") + qs(i->model_type) + QStringLiteral(")"));
    row(tr("Parameters"), loc.toString(qlonglong(i->parameters)));
    row(tr("Layers"), QString::number(i->layers));
    row(tr("Hidden / MLP"), QStringLiteral("%1 / %2").arg(i->hidden).arg(i->intermediate));
    row(tr("Heads / KV / dim"), QStringLiteral("%1 / %2 / %3").arg(i->heads).arg(i->kv_heads).arg(i->head_dim));
    row(tr("Vocabulary"), QString::number(i->vocab));
    row(tr("Dtype"), qs(i->dtype));
    row(tr("Device"), qs(i->device));
    row(tr("Weights memory"), mib(i->weight_bytes));
    row(tr("Tokenizer"), i->has_tokenizer ? (wb_->engine()->tokenizer() ? qs(wb_->engine()->tokenizer()->kind()) : tr("yes"))
                                          : tr("none (use \"ids: …\" texts)"));
    QStringList widths;
    for (Module m : kAllModules) widths << QStringLiteral("%1 %2").arg(qs(module_name(m))).arg(i->shape.module_width(m));
    row(tr("Hooked widths"), widths.join(QStringLiteral(", ")));
    row(tr("Folder"), qs(i->fingerprint.path));
    h += QStringLiteral("</table>");
    if (!i->warnings.empty()) {
        h += QStringLiteral("<p style='color:#a60'><b>%1</b><ul>").arg(tr("Warnings"));
        for (auto& w : i->warnings) h += QStringLiteral("<li>%1</li>").arg(qs(w).toHtmlEscaped());
        h += QStringLiteral("</ul></p>");
    }
    card_->setHtml(h);
}

}  // namespace achilles::ui
