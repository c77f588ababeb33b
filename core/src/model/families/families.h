// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The built-in families, one file each. family.cpp registers them in this order.
#include "model/family.h"

namespace achilles::builtin_families {
FamilyDescriptor llama();
FamilyDescriptor mistral();
FamilyDescriptor qwen2();
FamilyDescriptor qwen3();
FamilyDescriptor gemma();
FamilyDescriptor gemma2();
FamilyDescriptor phi3();
}  // namespace achilles::builtin_families
