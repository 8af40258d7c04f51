#include "tokenizer/unicode_nfc.h"

#include <algorithm>
#include <vector>

#include "tokenizer/utf8.h"

namespace sable {
namespace {

#include "tokenizer/unicode_tables.inc"

// Hangul syllables compose and decompose algorithmically (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

bool in_check_ranges(uint32_t cp) {
  const auto* end = kNfcCheckRanges + std::size(kNfcCheckRanges);
  const auto* it = std::upper_bound(kNfcCheckRanges, end, cp,
                                    [](uint32_t v, const uint32_t(&r)[2]) { return v < r[0]; });
  if (it == kNfcCheckRanges) return false;
  --it;
  return cp <= (*it)[1];
}

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const auto* end = kCcc + std::size(kCcc);
  const auto* it =
      std::lower_bound(kCcc, end, cp, [](const uint32_t(&e)[2], uint32_t v) { return e[0] < v; });
  return (it != end && (*it)[0] == cp) ? static_cast<uint8_t>((*it)[1]) : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* end = kDecompIndex + std::size(kDecompIndex);
  const auto* it = std::lower_bound(kDecompIndex, end, cp,
                                    [](const uint32_t(&e)[3], uint32_t v) { return e[0] < v; });
  if (it != end && (*it)[0] == cp) {
    out.insert(out.end(), kDecompData + (*it)[1], kDecompData + (*it)[1] + (*it)[2]);
  } else {
    out.push_back(cp);
  }
}

// Returns the primary composite of (a, b), or 0 when there is none.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const uint64_t key = (static_cast<uint64_t>(a) << 21) | b;
  const auto* end = kComposePairs + std::size(kComposePairs);
  const auto* it = std::lower_bound(kComposePairs, end, key,
                                    [](const uint64_t(&e)[2], uint64_t v) { return e[0] < v; });
  return (it != end && (*it)[0] == key) ? static_cast<uint32_t>((*it)[1]) : 0;
}

}  // namespace

bool nfc_may_change(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    size_t len = utf8_decode(s, i, &cp);
    if (len == 0) return true;  // not our input contract; let the slow path cope
    if (cp >= 0x300 && in_check_ranges(cp)) return true;
    i += len;
  }
  return false;
}

std::string nfc_normalize(std::string_view s) {
  if (!nfc_may_change(s)) return std::string(s);
  // 1. Full canonical decomposition.
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t bad = 1;
    size_t len = utf8_decode(s, i, &cp, &bad);
    if (len == 0) {
      cp = kReplacementChar;
      len = bad;
    }
    decompose(cp, cps);
    i += len;
  }
  // 2. Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < cps.size();) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // 3. Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  size_t starter = SIZE_MAX;  // index in out of the last starter
  int last_ccc = 0;            // class of out.back()
  for (uint32_t cp : cps) {
    const int ccc = combining_class(cp);
    if (starter != SIZE_MAX) {
      // cp is blocked from the starter when something between them has class
      // 0 or a class >= cp's.
      const bool adjacent = out.size() - 1 == starter;
      if (adjacent || (last_ccc != 0 && last_ccc < ccc)) {
        if (const uint32_t c = compose(out[starter], cp)) {
          out[starter] = c;
          continue;
        }
      }
    }
    if (ccc == 0) starter = out.size();
    last_ccc = ccc;
    out.push_back(cp);
  }
  std::string r;
  r.reserve(s.size());
  for (uint32_t cp : out) utf8_append(r, cp);
  return r;
}

bool is_unicode_whitespace(uint32_t cp) {
  for (uint32_t w : kWhiteSpace)
    if (w == cp) return true;
  return false;
}

}  // namespace sable
