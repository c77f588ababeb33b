// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <string>

namespace achilles {

// The application version written into results: the project version, with `git describe` when
// the build was configured from a git checkout (e.g. "0.1.0+g1644bf8" or "v0.2.0-3-gabc1234"),
// else the plain project version (a source tarball). Set -DACHILLES_VERSION_STRING=... to override.
std::string app_version();

}  // namespace achilles
