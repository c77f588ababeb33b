// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Strict UTF-8 validation shared by the safetensors reader, the tokenizers, the CLI and the GUI.
#include <cstddef>
#include <string>
#include <string_view>

namespace achilles {

// Offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or std::string_view::npos.
size_t find_invalid_utf8(std::string_view s);

// Throws Error(source, field, "not valid UTF-8 (byte 0xXX at offset N)") if s is not UTF-8.
void require_utf8(std::string_view s, const std::string& source, const std::string& field = {});

}  // namespace achilles
