// SPDX-License-Identifier: GPL-3.0-or-later
#include "achilles/progress.h"

namespace achilles {

void Progress::report(std::string_view stage, double fraction, std::string_view message) {
    if (cb_) cb_(stage, fraction, message);
}

Progress& null_progress() {
    // One per thread: a shared instance could be cancelled by someone else.
    thread_local Progress p;
    return p;
}

}  // namespace achilles
