// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// "ids: 1 5 9" (spaces or commas): raw token ids typed where a text is expected, for models
// without a tokenizer. Used by the probe text, its token view and the generation prompt.
#include <QString>
#include <optional>
#include <string>
#include <vector>

namespace achilles::ui {

// nullopt when the (trimmed) text does not start with "ids:". Throws Error(source, "ids", ...)
// naming the first part that is not a token id in [0, vocab) (vocab <= 0: no upper bound).
std::optional<std::vector<int>> parseIdsText(const QString& text, int vocab, const std::string& source);

}  // namespace achilles::ui
