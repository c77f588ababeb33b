// SPDX-License-Identifier: GPL-3.0-or-later
#include "panels/option_form.h"
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <algorithm>
#include <cmath>

namespace achilles::ui {

namespace {
QString qstr(std::string_view s) { return QString::fromUtf8(s.data(), qsizetype(s.size())); }
}  // namespace

OptionEditor::OptionEditor(const SearchOptionField& f, QWidget* parent) : field_(&f) {
    auto notify = [this] {
        if (!quiet_ && changed_) changed_();
    };
    switch (f.type) {
        case OptionType::real: {
            auto* s = new QDoubleSpinBox(parent);
            // Enough decimals to show the smallest allowed value.
            s->setDecimals(std::max(2, int(std::ceil(-std::log10(f.min > 0 ? f.min : 1.0)))));
            s->setRange(f.min, f.max);
            s->setAccelerated(true);
            QObject::connect(s, &QDoubleSpinBox::valueChanged, s, notify);
            widget_ = s;
            break;
        }
        case OptionType::integer: {
            auto* s = new QSpinBox(parent);
            s->setRange(int(f.min), int(f.max));
            s->setAccelerated(true);
            if (!f.zero_means.empty() && f.min == 0) s->setSpecialValueText(qstr(f.zero_means));
            QObject::connect(s, &QSpinBox::valueChanged, s, notify);
            widget_ = s;
            break;
        }
        case OptionType::unsigned64:
        case OptionType::text: {
            auto* e = new QLineEdit(parent);
            if (f.type == OptionType::unsigned64)
                e->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,20}")), e));
            QObject::connect(e, &QLineEdit::textEdited, e, notify);
            widget_ = e;
            break;
        }
        case OptionType::boolean: {
            auto* c = new QCheckBox(qstr(f.label), parent);
            QObject::connect(c, &QCheckBox::toggled, c, notify);
            widget_ = c;
            break;
        }
        case OptionType::choice: {
            auto* c = new QComboBox(parent);
            for (const auto& v : f.choices) c->addItem(QString::fromStdString(v), QString::fromStdString(v));
            QObject::connect(c, &QComboBox::currentIndexChanged, c, notify);
            widget_ = c;
            break;
        }
        case OptionType::list: {
            // Two columns: a narrow dock shows every choice without cutting one off.
            auto* box = new QWidget(parent);
            auto* grid = new QGridLayout(box);
            grid->setContentsMargins(0, 0, 0, 0);
            for (const auto& v : f.choices) {
                auto* c = new QCheckBox(QString::fromStdString(v), box);
                c->setObjectName(QString::fromStdString(v));
                QObject::connect(c, &QCheckBox::toggled, c, notify);
                const int i = int(parts_.size());
                grid->addWidget(c, i / 2, i % 2);
                parts_.push_back(c);
            }
            widget_ = box;
            break;
        }
    }
    widget_->setObjectName(qstr(f.key));
    widget_->setToolTip(qstr(f.help));
    setValue(f.default_value());
}

void OptionEditor::onChanged(std::function<void()> f) { changed_ = std::move(f); }

OptionValue OptionEditor::value() const {
    const SearchOptionField& f = *field_;
    switch (f.type) {
        case OptionType::real: return static_cast<QDoubleSpinBox*>(widget_)->value();
        case OptionType::integer: return int64_t(static_cast<QSpinBox*>(widget_)->value());
        case OptionType::unsigned64:
        case OptionType::text: {
            const QString t = static_cast<QLineEdit*>(widget_)->text();
            if (f.type == OptionType::text) return t.trimmed().toStdString();
            try {
                return f.parse(t.toStdString(), "Search panel");
            } catch (const std::exception&) {
                return f.default_value();  // empty field: the default
            }
        }
        case OptionType::boolean: return static_cast<QCheckBox*>(widget_)->isChecked();
        case OptionType::choice: return static_cast<QComboBox*>(widget_)->currentData().toString().toStdString();
        case OptionType::list: {
            std::vector<std::string> on;
            for (size_t i = 0; i < parts_.size(); ++i)
                if (static_cast<QCheckBox*>(parts_[i])->isChecked()) on.push_back(f.choices[i]);
            return on;
        }
    }
    return f.default_value();
}

void OptionEditor::setValue(const OptionValue& v) {
    const SearchOptionField& f = *field_;
    quiet_ = true;
    switch (f.type) {
        case OptionType::real: static_cast<QDoubleSpinBox*>(widget_)->setValue(std::get<double>(v)); break;
        case OptionType::integer: static_cast<QSpinBox*>(widget_)->setValue(int(std::get<int64_t>(v))); break;
        case OptionType::unsigned64:
        case OptionType::text: {
            auto* e = static_cast<QLineEdit*>(widget_);
            const QString t = QString::fromStdString(f.format(v));
            if (e->text() != t) e->setText(t);
            break;
        }
        case OptionType::boolean: static_cast<QCheckBox*>(widget_)->setChecked(std::get<bool>(v)); break;
        case OptionType::choice: {
            auto* c = static_cast<QComboBox*>(widget_);
            c->setCurrentIndex(std::max(0, c->findData(QString::fromStdString(std::get<std::string>(v)))));
            break;
        }
        case OptionType::list: {
            const auto& on = std::get<std::vector<std::string>>(v);
            for (size_t i = 0; i < parts_.size(); ++i)
                static_cast<QCheckBox*>(parts_[i])->setChecked(std::find(on.begin(), on.end(), f.choices[i]) != on.end());
            break;
        }
    }
    quiet_ = false;
}

OptionForm::OptionForm(std::string_view group, QWidget* parent) : QObject(parent), form_(new QFormLayout) {
    for (const SearchOptionField& f : search_option_fields()) {
        if (f.group != group) continue;
        auto e = std::make_unique<OptionEditor>(f, parent);
        e->onChanged([this] { emit changed(); });
        // A check box carries its own label.
        form_->addRow(f.type == OptionType::boolean ? QString() : qstr(f.label), e->widget());
        editors_.push_back(std::move(e));
    }
}

OptionEditor* OptionForm::editor(std::string_view key) const {
    for (const auto& e : editors_)
        if (e->field().key == key) return e.get();
    return nullptr;
}

void OptionForm::read(SearchOptions& o) const {
    for (const auto& e : editors_) {
        const OptionValue v = e->value();
        if (e->field().problem(v).empty()) e->field().set(o, v);
    }
}

void OptionForm::write(const SearchOptions& o) {
    for (const auto& e : editors_) e->setValue(e->field().get(o));
}

}  // namespace achilles::ui
