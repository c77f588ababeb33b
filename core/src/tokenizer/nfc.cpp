// SPDX-License-Identifier: GPL-3.0-or-later
// Unicode NFC (canonical decomposition, canonical ordering, canonical composition), as the
// "NFC" normalizer of HF tokenizer.json files (Qwen2.5/3) applies it.
#include "tokenizer/utf8.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace achilles::tok {
namespace {

#include "tokenizer/nfc_tables.inc"

constexpr uint32_t SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
constexpr uint32_t LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

int ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = sizeof(kCccRanges) / sizeof(kCccRanges[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kCccRanges[mid][1] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sizeof(kCccRanges) / sizeof(kCccRanges[0]) && kCccRanges[lo][0] <= cp && cp <= kCccRanges[lo][1])
        return static_cast<int>(kCccRanges[lo][2]);
    return 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= SBase && cp < SBase + SCount) {
        uint32_t s = cp - SBase;
        out.push_back(LBase + s / NCount);
        out.push_back(VBase + (s % NCount) / TCount);
        if (s % TCount) out.push_back(TBase + s % TCount);
        return;
    }
    if (cp >= 0xC0) {
        const auto* b = kDecomp;
        const auto* e = kDecomp + sizeof(kDecomp) / sizeof(kDecomp[0]);
        const auto* it = std::lower_bound(b, e, cp, [](const uint32_t(&row)[3], uint32_t v) { return row[0] < v; });
        if (it != e && (*it)[0] == cp) {
            for (uint32_t k = 0; k < (*it)[2]; ++k) out.push_back(kDecompPool[(*it)[1] + k]);
            return;
        }
    }
    out.push_back(cp);
}

// The primary composite of a+b, or 0.
uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
    if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        return a + (b - TBase);
    const auto* bgn = kCompose;
    const auto* end = kCompose + sizeof(kCompose) / sizeof(kCompose[0]);
    const auto* it = std::lower_bound(bgn, end, std::pair<uint32_t, uint32_t>(a, b),
                                      [](const uint32_t(&row)[3], const std::pair<uint32_t, uint32_t>& v) {
                                          return row[0] < v.first || (row[0] == v.first && row[1] < v.second);
                                      });
    if (it != end && (*it)[0] == a && (*it)[1] == b) return (*it)[2];
    return 0;
}

}  // namespace

std::string nfc(std::string_view s) {
    // Fast path: code points below U+0300 are all NFC-stable starters that never compose with a
    // following character below U+0300 ... except through combining marks, which are >= U+0300.
    bool simple = true;
    for (unsigned char c : s)
        if (c >= 0xCC) { simple = false; break; }   // lead bytes >= 0xCC start code points >= U+0300
    if (simple) return std::string(s);

    std::vector<uint32_t> cps;
    cps.reserve(s.size());
    for (size_t i = 0; i < s.size();) decompose(utf8_next(s, i), cps);
    // Canonical ordering: stable sort each run of non-starters by combining class.
    std::vector<int> cls(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) cls[i] = ccc_of(cps[i]);
    for (size_t i = 0; i < cps.size();) {
        if (cls[i] == 0) { ++i; continue; }
        size_t j = i;
        while (j < cps.size() && cls[j] != 0) ++j;
        if (j - i > 1) {
            std::vector<std::pair<int, uint32_t>> run;
            for (size_t k = i; k < j; ++k) run.emplace_back(cls[k], cps[k]);
            std::stable_sort(run.begin(), run.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
            for (size_t k = i; k < j; ++k) { cls[k] = run[k - i].first; cps[k] = run[k - i].second; }
        }
        i = j;
    }
    // Canonical composition.
    std::vector<uint32_t> out;
    std::vector<int> out_cls;
    out.reserve(cps.size());
    long starter = -1;   // index in out of the last starter
    for (size_t i = 0; i < cps.size(); ++i) {
        const uint32_t c = cps[i];
        const int cc = cls[i];
        if (starter >= 0) {
            const int last_cc = out_cls.back();
            const bool adjacent = static_cast<size_t>(starter) == out.size() - 1;
            // Not blocked: nothing between, or the last kept mark has a lower class (and is not a starter).
            if (adjacent || (last_cc != 0 && last_cc < cc)) {
                if (uint32_t comp = compose_pair(out[starter], c)) {
                    out[starter] = comp;
                    out_cls[starter] = ccc_of(comp);
                    continue;
                }
            }
        }
        out.push_back(c);
        out_cls.push_back(cc);
        if (cc == 0) starter = static_cast<long>(out.size()) - 1;
    }
    std::string r;
    r.reserve(s.size());
    for (uint32_t c : out) utf8_append(r, c);
    return r;
}

}  // namespace achilles::tok
