// SPDX-License-Identifier: GPL-3.0-or-later
#include "models/neuron_model.h"
#include <cmath>
#include <climits>
#include "workbench/workbench.h"
#include "export/export.h"
#include <QBrush>
#include <QColor>

namespace achilles::ui {

NeuronTableModel::NeuronTableModel(Workbench* wb, QObject* parent) : QAbstractTableModel(parent), wb_(wb) {
    connect(wb_, &Workbench::resultChanged, this, &NeuronTableModel::reload);
    connect(wb_, &Workbench::maskChanged, this, &NeuronTableModel::refreshMasks);
    reload();
}

void NeuronTableModel::reload() {
    beginResetModel();
    entries_.clear();
    critical_.clear();
    minimal_.clear();
    channelRows_.clear();
    criticalReached_ = true;
    if (const auto& r = wb_->result()) {
        entries_ = r->ranking;
        critical_.insert(r->faithful.neurons.begin(), r->faithful.neurons.end());
        criticalReached_ = r->faithful.reached;
        if (r->minimal) minimal_.insert(r->minimal->neurons.begin(), r->minimal->neurons.end());
        for (const RankedEntry& e : entries_) ++channelRows_[qMakePair(qMakePair(e.neuron.layer, int(e.neuron.module)), e.neuron.channel)];
    }
    endResetModel();
}

void NeuronTableModel::refreshMasks() {
    if (entries_.empty()) return;
    emit dataChanged(index(0, ColMask), index(rowCount() - 1, ColMask), {Qt::CheckStateRole});
}

int NeuronTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(entries_.size()); }
int NeuronTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColCount; }

QVariant NeuronTableModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= int(entries_.size()) || index.column() >= ColCount) return {};
    const RankedEntry& e = entries_[size_t(index.row())];
    const int col = index.column();
    if (role == Qt::CheckStateRole && col == ColMask)
        return wb_->masked().count(e.neuron) ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::DisplayRole || role == SortRole) {
        switch (col) {
        case ColMask: return role == SortRole ? QVariant(wb_->masked().count(e.neuron) ? 1 : 0) : QVariant();
        case ColRank: return index.row() + 1;
        case ColLayer: return e.neuron.layer;
        case ColModule: return qs(module_name(e.neuron.module));
        case ColChannel: return e.neuron.channel;
        case ColPosition: return role == SortRole ? QVariant(e.position) : (e.position < 0 ? QVariant(QStringLiteral("all")) : QVariant(e.position));
        case ColImportance: return role == SortRole ? QVariant(e.importance) : QVariant(std::abs(e.importance) >= 0.01 ? QString::number(e.importance, 'f', 3)
                                                                                                                 : QString::number(e.importance, 'g', 4));
        case ColSet: {
            QStringList s;
            if (critical_.count(e.neuron)) s << (criticalReached_ ? tr("critical") : tr("stage 2 (ε not reached)"));
            if (minimal_.count(e.neuron)) s << tr("minimal");
            return s.join(QStringLiteral(", "));
        }
        default: return {};
        }
    }
    if (role == kCsvRole && col == ColImportance) return QString::number(e.importance, 'g', 17);  // full precision
    if (role == Qt::ToolTipRole && col == ColMask) {
        const int shared = channelRows_.value(qMakePair(qMakePair(e.neuron.layer, int(e.neuron.module)), e.neuron.channel), 1);
        return shared > 1 ? tr("Masks channel %1 at every position: the %2 rows of this channel are ticked together")
                                .arg(qs(to_string(e.neuron))).arg(shared)
                          : tr("Masks channel %1 at every position").arg(qs(to_string(e.neuron)));
    }
    if (role == Qt::ToolTipRole)
        return tr("%1 at position %2, importance %3").arg(qs(to_string(e.neuron))).arg(e.position).arg(e.importance, 0, 'g', 8);
    if (role == Qt::TextAlignmentRole && col != ColModule && col != ColSet)
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ForegroundRole && col == ColSet && critical_.count(e.neuron))
        return QBrush(QColor(190, 30, 20));
    return {};
}

bool NeuronTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!index.isValid() || index.column() != ColMask || role != Qt::CheckStateRole) return false;
    if (!(flags(index) & Qt::ItemIsUserCheckable)) return false;
    const Neuron n = entries_[size_t(index.row())].neuron;
    std::set<Neuron> next = wb_->masked();
    const bool on = value.toInt() == Qt::Checked;
    if (on) next.insert(n);
    else next.erase(n);
    wb_->requestMask(next, (on ? tr("Mask %1") : tr("Unmask %1")).arg(qs(to_string(n))));
    return true;
}

Qt::ItemFlags NeuronTableModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    // Another model's table: its neurons are shown, never masked on the loaded model.
    if (index.column() == ColMask && (!wb_->hasModel() || wb_->resultMatchesModel())) f |= Qt::ItemIsUserCheckable;
    return f;
}

QVariant NeuronTableModel::headerData(int section, Qt::Orientation o, int role) const {
    if (o != Qt::Horizontal || section < 0 || section >= ColCount) return QAbstractTableModel::headerData(section, o, role);
    if (role == Qt::DisplayRole) {
        static const char* names[] = {"Mask", "Rank", "Layer", "Module", "Channel", "Position", "Importance", "Set"};
        return tr(names[section]);
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case ColMask: return tr("Masking is per channel: a tick zeroes the channel at every position, so every row "
                                "of that channel is ticked with it; perplexity is re-evaluated at once");
        case ColImportance: return tr("Stage-1 importance: the mean over K noisy passes of |clean − noisy| output at this "
                                      "position and channel (the paper's score)");
        case ColSet: return tr("Membership in the critical set found by stage 2 and in the minimal set");
        default: return {};
        }
    }
    return {};
}

// ---------------------------------------------------------------- proxy

NeuronFilterProxy::NeuronFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(NeuronTableModel::SortRole);
}

void NeuronFilterProxy::setText(const QString& text) {
    if (text.trimmed() == text_) return;
    text_ = text.trimmed();
    words_ = text_.split(QLatin1Char(' '), Qt::SkipEmptyParts);
    numbers_.clear();
    for (const QString& w : words_) {
        bool num = false;
        const int v = w.toInt(&num);
        numbers_.push_back(num ? v : INT_MIN);
    }
    invalidateFilter();
}

void NeuronFilterProxy::setCell(std::optional<int> layer, std::optional<int> module) {
    layer_ = layer;
    module_ = module;
    invalidateFilter();
}

void NeuronFilterProxy::setMaskedOnly(bool on) {
    maskedOnly_ = on;
    invalidateFilter();
}

void NeuronFilterProxy::sort(int column, Qt::SortOrder order) {
    if (column == NeuronTableModel::ColRank && order == Qt::AscendingOrder) column = -1;
    QSortFilterProxyModel::sort(column, order);
}

bool NeuronFilterProxy::lessThan(const QModelIndex& l, const QModelIndex& r) const {
    auto* m = qobject_cast<NeuronTableModel*>(sourceModel());
    if (!m || l.column() == NeuronTableModel::ColMask || l.column() == NeuronTableModel::ColSet)
        return QSortFilterProxyModel::lessThan(l, r);
    const RankedEntry& a = m->entry(l.row());
    const RankedEntry& b = m->entry(r.row());
    switch (l.column()) {
    case NeuronTableModel::ColRank: return l.row() < r.row();
    case NeuronTableModel::ColLayer: return a.neuron.layer != b.neuron.layer ? a.neuron.layer < b.neuron.layer : l.row() < r.row();
    case NeuronTableModel::ColModule:
        return a.neuron.module != b.neuron.module ? module_name(a.neuron.module) < module_name(b.neuron.module) : l.row() < r.row();
    case NeuronTableModel::ColChannel: return a.neuron.channel != b.neuron.channel ? a.neuron.channel < b.neuron.channel : l.row() < r.row();
    case NeuronTableModel::ColPosition: return a.position != b.position ? a.position < b.position : l.row() < r.row();
    case NeuronTableModel::ColImportance: return a.importance != b.importance ? a.importance < b.importance : l.row() < r.row();
    default: return QSortFilterProxyModel::lessThan(l, r);
    }
}

bool NeuronFilterProxy::filterAcceptsRow(int row, const QModelIndex& parent) const {
    auto* m = qobject_cast<NeuronTableModel*>(sourceModel());
    if (!m || row < 0 || row >= m->rowCount(parent)) return false;
    const RankedEntry& e = m->entry(row);
    if (layer_ && e.neuron.layer != *layer_) return false;
    if (module_ && int(e.neuron.module) != *module_) return false;
    if (maskedOnly_ && m->data(m->index(row, NeuronTableModel::ColMask), Qt::CheckStateRole).toInt() != Qt::Checked) return false;
    if (words_.isEmpty()) return true;
    QString label;
    for (size_t i = 0; i < numbers_.size(); ++i) {
        if (numbers_[i] != INT_MIN) {
            if (e.neuron.channel != numbers_[i] && e.neuron.layer != numbers_[i]) return false;
        } else {
            if (label.isEmpty()) label = qs(to_string(e.neuron));
            if (!label.contains(words_[qsizetype(i)], Qt::CaseInsensitive)) return false;
        }
    }
    return true;
}

}  // namespace achilles::ui
