// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A seeded procedural generator of simple children's stories: the training corpus of the
// embedded default model. Pure C++ (no torch); the same seed gives the same text everywhere.
#include <cstdint>
#include <string>
#include <vector>

namespace achilles {

// One story, a single line of text (no newline), e.g. "Once upon a time, there was a little
// girl named Lily. ..." Stories are built from a fixed structure (opening, setting, wish,
// problem, dialogue, resolution, ending) with varied characters, places, objects and actions.
std::string generate_story(uint64_t seed, uint64_t index);

// Stories index 0, 1, 2, ... of `seed` until their total size (plus one newline each) reaches
// target_bytes.
std::vector<std::string> generate_stories(uint64_t seed, size_t target_bytes);

// The stories joined with '\n' (one per line, trailing newline).
std::string join_stories(const std::vector<std::string>& stories);

}  // namespace achilles
