// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The ranked-neuron table (stage-1 ranking of the current result) with a mask checkbox per row,
// and a filter proxy (text, layer, module) used by the Neurons panel and the heatmap drill-down.
#include "achilles/results.h"
#include <QAbstractTableModel>
#include <QHash>
#include <QPair>
#include <QSortFilterProxyModel>
#include <optional>
#include <set>

namespace achilles::ui {

class Workbench;

class NeuronTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { ColMask, ColRank, ColLayer, ColModule, ColChannel, ColPosition, ColImportance, ColSet, ColCount };
    enum Roles { SortRole = Qt::UserRole + 1 };
    explicit NeuronTableModel(Workbench* wb, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    const RankedEntry& entry(int row) const { return entries_[size_t(row)]; }
    // Tests and the undo stack drive the mask through the Workbench; this re-reads it.
    void refreshMasks();
    void reload();

private:
    Workbench* wb_;
    std::vector<RankedEntry> entries_;
    std::set<Neuron> critical_, minimal_;
    bool criticalReached_ = true;
    QHash<QPair<QPair<int, int>, int>, int> channelRows_;  // rows per (layer, module, channel)
public:
    int rowsOfChannel(const Neuron& n) const { return channelRows_.value(qMakePair(qMakePair(n.layer, int(n.module)), n.channel), 0); }
};

class NeuronFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit NeuronFilterProxy(QObject* parent = nullptr);
    void setText(const QString& text);           // matches "L3", "down_proj", "L3.down_proj:7", channel
    QString text() const { return text_; }
    void setCell(std::optional<int> layer, std::optional<int> module);
    void setMaskedOnly(bool on);
    std::optional<int> layer() const { return layer_; }
    // Rank ascending is the source order: no sorting work (keeps big result resets fast).
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    std::optional<int> module() const { return module_; }

protected:
    bool filterAcceptsRow(int row, const QModelIndex& parent) const override;
    // Compares the entries directly (no QVariant): sorting 100k rows stays well under 50 ms.
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QString text_;
    QStringList words_;              // text_ split once per change, not once per row
    std::vector<int> numbers_;       // per word: its number, or INT_MIN
    std::optional<int> layer_, module_;
    bool maskedOnly_ = false;
};

}  // namespace achilles::ui
