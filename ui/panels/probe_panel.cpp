// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/probe_panel.h"
#include "achilles/utf8.h"
#include "achilles/error.h"
#include "workbench/workbench.h"
#include "panels/option_form.h"
#include "workbench/token_ids.h"
#include "widgets/token_flow.h"
#include <QDropEvent>
#include <QFile>
#include <QMimeData>
#include <QUrl>
#include "widgets/file_dialogs.h"
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>
#include <cstdio>

namespace achilles::ui {

namespace {
constexpr int kShownTokens = 1024;
}  // namespace

ProbePanel::ProbePanel(Workbench* wb, QWidget* parent) : QWidget(parent), wb_(wb) {
    edit_ = new QPlainTextEdit(this);
    edit_->setPlaceholderText(tr("Probe text: a paragraph of ordinary text. The search finds the neurons whose "
                                 "masking makes the model fail on it. Models without a tokenizer take \"ids: 1 5 9 …\"."));
    edit_->setTabChangesFocus(true);
    edit_->viewport()->installEventFilter(this);
    count_ = new QLabel(tr("no model"), this);
    auto* open = new QPushButton(tr("Load text…"), this);
    open->setToolTip(tr("Replace the probe text with a UTF-8 text file"));
    tokens_ = new TokenFlowView(this);
    tokens_->setToolTip(QString());
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(tokens_);
    scroll->setWidgetResizable(true);
    scroll->setMinimumHeight(70);
    // The dataset fields are rows of the search options table (achilles/options.h).
    datasetEditor_ = std::make_unique<OptionEditor>(search_option_field("eval_dataset"), this);
    datasetMaxEditor_ = std::make_unique<OptionEditor>(search_option_field("eval_max_samples"), this);
    dataset_ = static_cast<QLineEdit*>(datasetEditor_->widget());
    dataset_->setPlaceholderText(tr("optional evaluation dataset (.txt / .raw WikiText / .jsonl)"));
    auto* pick = new QPushButton(tr("Dataset…"), this);
    pick->setToolTip(tr("Choose the evaluation dataset file"));
    datasetMax_ = static_cast<QSpinBox*>(datasetMaxEditor_->widget());
    datasetMax_->setSuffix(tr(" samples"));

    auto* top = new QHBoxLayout;
    top->addWidget(count_, 1);
    top->addWidget(open);
    auto* ds = new QHBoxLayout;
    ds->addWidget(dataset_, 1);
    ds->addWidget(datasetMax_);
    ds->addWidget(pick);
    auto* upper = new QWidget(this);
    auto* ul = new QVBoxLayout(upper);
    ul->setContentsMargins(0, 0, 0, 0);
    ul->addLayout(top);
    ul->addWidget(edit_, 1);
    auto* lower = new QWidget(this);
    auto* ll = new QVBoxLayout(lower);
    ll->setContentsMargins(0, 0, 0, 0);
    ll->addWidget(new QLabel(tr("Tokens (hover for ids):"), this));
    ll->addWidget(scroll, 1);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(upper);
    split->addWidget(lower);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    auto* lay = new QVBoxLayout(this);
    lay->addWidget(split, 1);
    lay->addLayout(ds);

    debounce_ = new QTimer(this);
    debounce_->setSingleShot(true);
    debounce_->setInterval(250);
    connect(debounce_, &QTimer::timeout, this, &ProbePanel::retokenize);
    connect(edit_, &QPlainTextEdit::textChanged, this, [this] {
        if (updating_) return;
        updating_ = true;
        wb_->setText(edit_->toPlainText());
        updating_ = false;
        debounce_->start();
    });
    connect(wb_, &Workbench::textChanged, this, [this] {
        if (updating_) return;
        updating_ = true;
        if (edit_->toPlainText() != wb_->text()) edit_->setPlainText(wb_->text());
        updating_ = false;
        debounce_->start();
    });
    connect(wb_, &Workbench::modelLoaded, this, &ProbePanel::retokenize);
    connect(wb_, &Workbench::optionsChanged, this, [this] {
        const SearchOptions& o = wb_->options();
        if (dataset_->text() != qs(o.eval_dataset)) dataset_->setText(qs(o.eval_dataset));
        if (datasetMax_->value() != o.eval_max_samples) datasetMax_->setValue(o.eval_max_samples);
    });
    auto storeDataset = [this] {
        SearchOptions o = wb_->options();
        o.eval_dataset = dataset_->text().trimmed().toStdString();
        o.eval_max_samples = datasetMax_->value();
        if (!(o == wb_->options())) wb_->setOptions(o);
    };
    connect(dataset_, &QLineEdit::editingFinished, this, storeDataset);
    connect(datasetMax_, &QSpinBox::valueChanged, this, storeDataset);
    connect(pick, &QPushButton::clicked, this, [this, storeDataset] {
        const QString f = openFileDialog(this, DialogKind::texts, tr("Evaluation dataset"),
                                                       tr("Text datasets (*.txt *.raw *.jsonl *.json);;All files (*)"));
        if (f.isEmpty()) return;
        dataset_->setText(f);
        storeDataset();
    });
    connect(open, &QPushButton::clicked, this, [this] {
        const QString f = openFileDialog(this, DialogKind::texts, tr("Load probe text"), tr("Text (*.txt *.md);;All files (*)"));
        if (!f.isEmpty()) openFile(f);
    });
    tokenize_ = std::make_unique<JobTracker<Tokenized>>(wb_->jobs(), Lane::text);
    tokenize_->onFinished([this](Tokenized t) {
        tokenCount_ = t.total;
        std::vector<TokenChip> chips;
        chips.reserve(t.ids.size());
        for (size_t i = 0; i < t.ids.size(); ++i) {
            TokenChip c;
            c.text = TokenFlowView::visible(qs(t.pieces[i]));
            c.tooltip = tr("token %1\nid %2\npiece %3").arg(i).arg(t.ids[i]).arg(qs(t.pieces[i]));
            chips.push_back(std::move(c));
        }
        tokens_->setChips(std::move(chips));
        const int maxTok = wb_->options().max_tokens;
        QString s = tr("%n token(s) incl. BOS", nullptr, t.total);
        if (t.total > maxTok) s += tr(" — the search uses the first %1").arg(maxTok);
        if (t.truncated) s += tr(" (showing %1)").arg(kShownTokens);
        count_->setText(s);
        emit tokenized(t.total);
    });
    tokenize_->onFailed([this](const QString& msg) {
        tokenCount_ = -1;
        tokens_->setChips({});
        count_->setText(tr("cannot tokenize: %1").arg(msg));
    });
}

ProbePanel::~ProbePanel() = default;

// A local file dropped on the editor is loaded (the editor's own drop would insert its URL). Copy,
// never Move: the source is only read.
bool ProbePanel::eventFilter(QObject* o, QEvent* e) {
    const QEvent::Type t = e->type();
    if (t != QEvent::DragEnter && t != QEvent::DragMove && t != QEvent::Drop) return QWidget::eventFilter(o, e);
    auto* de = static_cast<QDropEvent*>(e);
    QString file;
    if (de->mimeData()->hasUrls())
        for (const QUrl& u : de->mimeData()->urls())
            if (u.isLocalFile()) {
                file = u.toLocalFile();
                break;
            }
    if (file.isEmpty()) return QWidget::eventFilter(o, e);  // dragged text: the editor inserts it
    de->setDropAction(Qt::CopyAction);
    de->accept();
    if (t == QEvent::Drop) QTimer::singleShot(0, this, [this, file] { openFile(file); });
    return true;
}

void ProbePanel::loadFile(const QString& path) {
    constexpr qint64 kMaxBytes = 8 << 20;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        throw Error(path.toStdString(), "", "cannot be opened: " + f.errorString().toStdString());
    if (f.size() > kMaxBytes)
        throw Error(path.toStdString(), "", "is " + std::to_string(f.size() >> 20) +
                                                " MiB; a probe text is a paragraph (at most 8 MiB). Use it as the evaluation dataset instead.");
    QByteArray data = f.readAll();
    if (data.startsWith("\xef\xbb\xbf")) data.remove(0, 3);  // UTF-8 byte order mark
    if (const qsizetype nul = data.indexOf('\0'); nul >= 0)
        throw Error(path.toStdString(), "", "is not a text file (NUL byte at offset " + std::to_string(nul) + ")");
    // Strict UTF-8 check: report the first invalid byte instead of silently showing U+FFFD.
    if (const size_t bad = find_invalid_utf8(std::string_view(data.constData(), size_t(data.size())));
        bad != std::string_view::npos) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(data[qsizetype(bad)]));
        throw Error(path.toStdString(), "", "is not UTF-8 text (invalid byte " + std::string(hex) + " at offset " +
                                                std::to_string(bad) + "); convert it, e.g. iconv -f latin1 -t utf-8");
    }
    edit_->setPlainText(QString::fromUtf8(data));
}

bool ProbePanel::openFile(const QString& path) {
    try {
        loadFile(path);
        return true;
    } catch (const std::exception& e) {
        emit errorOccurred(tr("Cannot load the probe text"), QString::fromUtf8(e.what()));
        return false;
    }
}

void ProbePanel::retokenize() {
    debounce_->stop();
    auto eng = wb_->engineShared();
    if (!eng) {
        tokenCount_ = -1;
        count_->setText(tr("Load a model to count tokens."));
        tokens_->setChips({});
        return;
    }
    // The job holds the engine: loading another model never frees it under the job.
    tokenize_->run([eng, text = wb_->text(), vocab = wb_->info()->vocab](Progress& p) {
        Tokenized t;
        if (auto ids = parseIdsText(text, vocab, "probe text")) {
            t.ids = std::move(*ids);
        } else {
            const Tokenizer* tok = eng->tokenizer();
            if (!tok) throw Error("This model has no tokenizer: write the text as \"ids: 1 5 9 …\".");
            t.ids = tok->encode(text.toStdString());
        }
        p.check();
        t.total = int(t.ids.size());
        if (t.ids.size() > size_t(kShownTokens)) {
            t.ids.resize(kShownTokens);
            t.truncated = true;
        }
        const Tokenizer* tok = eng->tokenizer();
        for (int id : t.ids) t.pieces.push_back(tok ? tok->token_string(id) : std::to_string(id));
        return t;
    });
}

}  // namespace achilles::ui
