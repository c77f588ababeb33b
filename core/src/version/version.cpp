// SPDX-License-Identifier: GPL-3.0-or-later
// The only translation unit that sees the generated version header, so a new commit recompiles
// this file alone.
#include "achilles/version.h"
#include "achilles_version_generated.h"

namespace achilles {

std::string app_version() { return ACHILLES_VERSION_FULL; }

}  // namespace achilles
