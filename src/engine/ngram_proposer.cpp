#include "engine/ngram_proposer.h"

#include <algorithm>
#include <array>

namespace sable {

std::vector<int32_t> ngram_propose(std::span<const int32_t> tokens, int min_n, int max_n, int k, NgramOccurrence pick) {
  const int64_t total = static_cast<int64_t>(tokens.size());
  // An occurrence of length n ends before the last token, so it needs n + 1
  // tokens of history at least.
  if (min_n < 1 || max_n < min_n || k < 1 || total <= min_n) return {};

  // rev(i) is the history read backwards: the suffix to match becomes the
  // prefix rev(0..m), and every earlier occurrence of a suffix is a match of
  // a prefix that ends at some i >= 1 -- string matching of the pattern
  // rev(0..m) against rev(1..) with the pattern's own failure table.
  auto rev = [&](int64_t i) { return tokens[total - 1 - i]; };
  const int m = static_cast<int>(std::min<int64_t>(max_n, total - 1));  // longest n that can match

  // fail[j]: the longest proper prefix of rev(0..j] that is also its suffix.
  std::array<int32_t, 64> small{};
  std::vector<int32_t> large;
  int32_t* fail = small.data();
  if (m > static_cast<int>(small.size())) {
    large.assign(m, 0);
    fail = large.data();
  }

  int longest = 0;  // the longest suffix length found
  int64_t end = 0;  // i at which that match ends (in rev)
  int cur = 0;      // length of the prefix matched ending at i - 1
  for (int64_t i = 1; i < total;) {
    if (rev(cur) == rev(i)) {
      ++cur;  // cur <= i: the match starts at rev index >= 1, before the suffix in `tokens`
      // A larger i is an earlier occurrence in `tokens`: ">=" keeps the
      // earliest (vLLM), ">" the first found, i.e. the most recent.
      if (cur > longest || (cur == longest && pick == NgramOccurrence::kEarliest)) {
        longest = cur;
        end = i;
        if (longest == m && pick == NgramOccurrence::kMostRecent) break;  // nothing longer or more recent
      }
      if (i < m) fail[i] = cur;
      if (cur == m) cur = fail[m - 1];  // n is capped at m: continue as KMP does after a full match
      ++i;
    } else if (cur > 0) {
      cur = fail[cur - 1];
    } else {
      // Nothing matched: skip to the next copy of the last token (fail[] of
      // what is skipped stays 0). Most of a long history is skipped here: a
      // short plain scan for a nearby copy, then blocks of 16 that the
      // compiler vectorizes.
      const int32_t last = tokens[total - 1];
      int64_t q = total - 1 - i;  // rev(i) is tokens[q]
      for (const int64_t stop = std::max<int64_t>(q - 16, -1); q > stop && tokens[q] != last;) --q;
      if (q >= 0 && tokens[q] != last) {
        for (; q >= 16; q -= 16) {
          bool hit = false;
          for (int d = 0; d < 16; ++d) hit |= tokens[q - d] == last;
          if (hit) break;
        }
        while (q >= 0 && tokens[q] != last) --q;
      }
      i = total - 1 - q;  // total when there is none
    }
  }
  if (longest < min_n) return {};

  // rev(end - longest + 1 .. end) is tokens[total - 1 - end .. total - 1 - end + longest): the
  // drafts start right after it, at most at total - 1 as end >= longest.
  const int64_t start = total - 1 - end + longest;
  const int64_t n = std::min<int64_t>(k, total - start);
  return std::vector<int32_t>(tokens.begin() + start, tokens.begin() + start + n);
}

}  // namespace sable
