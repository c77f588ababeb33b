// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Widgets for the search options, built from their table (achilles/options.h): a spin box with
// the field's range for numbers, a combo box for a choice, a check box for a flag, one check box
// per allowed value for a list, a line edit for text and the 64-bit seed. Label, tooltip, range
// and special values ("off", "all") come from the table, so a new option needs no panel code.
#include "achilles/options.h"
#include <QObject>
#include <QString>
#include <QWidget>
#include <functional>
#include <string>

class QFormLayout;

namespace achilles::ui {

// The editor of one field. Its widget's objectName is the field's key ("max_steps").
class OptionEditor {
public:
    OptionEditor(const SearchOptionField& field, QWidget* parent);
    const SearchOptionField& field() const { return *field_; }
    QWidget* widget() const { return widget_; }
    OptionValue value() const;
    void setValue(const OptionValue& v);  // without emitting the change callback
    void onChanged(std::function<void()> f);  // user edits only

private:
    const SearchOptionField* field_;
    QWidget* widget_ = nullptr;
    std::vector<QWidget*> parts_;  // list: one check box per choice
    bool quiet_ = false;
    std::function<void()> changed_;
};

// The editors of every field of one table group, in a form layout.
class OptionForm : public QObject {
    Q_OBJECT
public:
    OptionForm(std::string_view group, QWidget* parent);
    QFormLayout* layout() const { return form_; }
    OptionEditor* editor(std::string_view key) const;
    // Reads the widgets into o (fields of other groups are left as they are).
    void read(SearchOptions& o) const;
    void write(const SearchOptions& o);  // no changed() while writing

signals:
    void changed();

private:
    QFormLayout* form_;
    std::vector<std::unique_ptr<OptionEditor>> editors_;
};

}  // namespace achilles::ui
