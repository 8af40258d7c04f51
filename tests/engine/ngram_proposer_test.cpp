// The n-gram (prompt lookup) proposer (engine/ngram_proposer.h), against
// worked examples and a brute-force reference of its definition.
#include "engine/ngram_proposer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace sable {
namespace {

using Tokens = std::vector<int32_t>;

Tokens propose(const Tokens& t, int min_n, int max_n, int k, NgramOccurrence pick = NgramOccurrence::kEarliest) {
  return ngram_propose(t, min_n, max_n, k, pick);
}

// The definition, directly: longest n first, then the earliest (or most
// recent) occurrence that ends before the last token.
Tokens reference(const Tokens& t, int min_n, int max_n, int k, NgramOccurrence pick) {
  const int64_t total = static_cast<int64_t>(t.size());
  if (min_n < 1 || max_n < min_n || k < 1) return {};
  for (int64_t n = std::min<int64_t>(max_n, total - 1); n >= min_n; --n) {
    int64_t found = -1;
    for (int64_t j = 0; j + n <= total - 1; ++j) {
      if (std::equal(t.begin() + j, t.begin() + j + n, t.end() - n)) {
        found = j;
        if (pick == NgramOccurrence::kEarliest) break;
      }
    }
    if (found >= 0) {
      const int64_t start = found + n, end = std::min<int64_t>(start + k, total);
      return Tokens(t.begin() + start, t.begin() + end);
    }
  }
  return {};
}

TEST(NgramProposer, SimpleMatch) {
  // "2 3" occurred at 1..2, followed by 4 9.
  EXPECT_EQ(propose({1, 2, 3, 4, 9, 2, 3}, 2, 2, 2), (Tokens{4, 9}));
  // vLLM's docstring example: [4 2 3] has no earlier match; [2 3] does, and 3 tokens follow it.
  EXPECT_EQ(propose({1, 2, 3, 4, 2, 3}, 2, 3, 4), (Tokens{4, 2, 3}));
}

TEST(NgramProposer, LongestNFirst) {
  // The 1-gram "7" last occurred at 4 (followed by 8); the 3-gram "5 6 7" at 0..2 (followed by 1).
  const Tokens t = {5, 6, 7, 1, 7, 8, 5, 6, 7};
  EXPECT_EQ(propose(t, 1, 3, 1), (Tokens{1}));
  EXPECT_EQ(propose(t, 1, 3, 1, NgramOccurrence::kMostRecent), (Tokens{1}));
  // With n capped at 1 the most recent "7" wins, the earliest is the 3-gram's.
  EXPECT_EQ(propose(t, 1, 1, 1, NgramOccurrence::kMostRecent), (Tokens{8}));
  EXPECT_EQ(propose(t, 1, 1, 1), (Tokens{1}));
  // A match longer than max_n counts as max_n.
  EXPECT_EQ(propose(t, 2, 2, 2), (Tokens{1, 7}));
}

TEST(NgramProposer, EarliestOrMostRecentOccurrence) {
  // "1 2" at 0 (then 10 11), at 4 (then 20 21), and the suffix.
  const Tokens t = {1, 2, 10, 11, 1, 2, 20, 21, 1, 2};
  EXPECT_EQ(propose(t, 2, 2, 2), (Tokens{10, 11}));  // vLLM's choice
  EXPECT_EQ(propose(t, 2, 2, 2, NgramOccurrence::kMostRecent), (Tokens{20, 21}));
}

TEST(NgramProposer, KTruncatedAtHistoryEnd) {
  // The only earlier "3 4" is followed by just 5 then the suffix: 3 tokens of history after it.
  EXPECT_EQ(propose({3, 4, 5, 3, 4}, 2, 2, 10), (Tokens{5, 3, 4}));
  EXPECT_EQ(propose({3, 4, 5, 3, 4}, 2, 2, 2), (Tokens{5, 3}));
  // The last token repeated: one draft only.
  EXPECT_EQ(propose({9, 9}, 1, 1, 5), (Tokens{9}));
}

TEST(NgramProposer, NoMatch) {
  EXPECT_TRUE(propose({1, 2, 3, 4, 5}, 1, 3, 3).empty());
  EXPECT_TRUE(propose({1, 2, 3, 1, 5, 2, 3}, 3, 4, 3).empty());  // "2 3" occurs, but n >= 3 asked
  EXPECT_TRUE(propose({1, 2, 1, 2}, 1, 2, 0).empty());           // k = 0
  EXPECT_TRUE(propose({1, 2, 1, 2}, 0, 2, 2).empty());           // min_n < 1
  EXPECT_TRUE(propose({1, 2, 1, 2}, 3, 2, 2).empty());           // min_n > max_n
}

TEST(NgramProposer, RepeatingPatternContinues) {
  // "a b a b a b": the suffix "a b" overlaps its earlier occurrences; the drafts continue the pattern.
  const Tokens t = {1, 2, 1, 2, 1, 2};
  EXPECT_EQ(propose(t, 2, 2, 4), (Tokens{1, 2, 1, 2}));
  EXPECT_EQ(propose(t, 2, 2, 4, NgramOccurrence::kMostRecent), (Tokens{1, 2}));
  // n up to 4: "a b a b" at 0..3 overlaps the suffix at 2..5.
  EXPECT_EQ(propose(t, 2, 4, 4), (Tokens{1, 2}));
  // A run of one token: never the suffix itself, always something after it.
  EXPECT_EQ(propose({7, 7, 7, 7}, 1, 3, 3), (Tokens{7}));
  EXPECT_EQ(propose({7, 7, 7, 7}, 1, 1, 3), (Tokens{7, 7, 7}));
}

TEST(NgramProposer, MinNLongerThanHistory) {
  EXPECT_TRUE(propose({1, 2}, 3, 5, 2).empty());
  EXPECT_TRUE(propose({1, 1}, 2, 2, 2).empty());  // a 2-gram needs one more token to have occurred earlier
  EXPECT_TRUE(propose({1}, 1, 1, 2).empty());
}

TEST(NgramProposer, EmptyTokens) {
  EXPECT_TRUE(propose({}, 1, 3, 3).empty());
  EXPECT_TRUE(ngram_propose({}, 1, 1, 1).empty());
}

TEST(NgramProposer, MatchesTheDefinitionOnRandomSequences) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 4000; ++trial) {
    const int len = static_cast<int>(rng() % 40);
    const int vocab = 2 + static_cast<int>(rng() % 4);  // small vocabularies: many matches
    Tokens t(len);
    for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
    const int min_n = 1 + static_cast<int>(rng() % 4), max_n = min_n + static_cast<int>(rng() % 5);
    const int k = 1 + static_cast<int>(rng() % 6);
    for (NgramOccurrence pick : {NgramOccurrence::kEarliest, NgramOccurrence::kMostRecent}) {
      ASSERT_EQ(propose(t, min_n, max_n, k, pick), reference(t, min_n, max_n, k, pick))
          << "trial " << trial << " len " << len << " n [" << min_n << ", " << max_n << "] k " << k << " pick "
          << static_cast<int>(pick);
    }
  }
}

TEST(NgramProposer, MatchesTheDefinitionWithLongGapsBetweenCopies) {
  // Larger vocabularies and histories: the last token's copies lie far
  // apart, which the proposer skips a block at a time.
  std::mt19937 rng(99);
  for (int trial = 0; trial < 1000; ++trial) {
    const int len = static_cast<int>(rng() % 400);
    const int vocab = 20 + static_cast<int>(rng() % 200);
    Tokens t(len);
    for (auto& x : t) x = static_cast<int32_t>(rng() % vocab);
    if (len > 10 && rng() % 2) {  // plant a copy of the suffix somewhere
      const int n = 1 + static_cast<int>(rng() % 6), at = static_cast<int>(rng() % (len - 8));
      for (int d = 0; d < n && at + d < len - n; ++d) t[at + d] = t[len - n + d];
    }
    const int min_n = 1 + static_cast<int>(rng() % 3), max_n = min_n + static_cast<int>(rng() % 4);
    const int k = 1 + static_cast<int>(rng() % 6);
    for (NgramOccurrence pick : {NgramOccurrence::kEarliest, NgramOccurrence::kMostRecent}) {
      ASSERT_EQ(propose(t, min_n, max_n, k, pick), reference(t, min_n, max_n, k, pick))
          << "trial " << trial << " len " << len << " n [" << min_n << ", " << max_n << "] k " << k;
    }
  }
}

TEST(NgramProposer, MaxNPastTheStackTable) {
  // max_n > 64 takes the heap table; same answers.
  Tokens t;
  for (int i = 0; i < 100; ++i) t.push_back(i);
  t.push_back(-1);
  for (int i = 0; i < 90; ++i) t.push_back(i);
  EXPECT_EQ(propose(t, 1, 128, 3), (Tokens{90, 91, 92}));
  EXPECT_EQ(propose(t, 1, 128, 3), reference(t, 1, 128, 3, NgramOccurrence::kEarliest));
}

TEST(NgramProposer, HundredThousandRandomTokens) {
  // Every decode step of a long sequence calls this; no timing assert, it must just work.
  std::mt19937 rng(7);
  Tokens t(100000);
  for (auto& x : t) x = static_cast<int32_t>(rng() % 129280);
  // Almost surely no 2-gram repeats: nothing (and the full scan) for n >= 2.
  EXPECT_EQ(propose(t, 2, 5, 4), reference(t, 2, 5, 4, NgramOccurrence::kEarliest));
  // Plant the last 5 tokens at 1000 and 50000: the earliest copy wins, the most recent for kMostRecent.
  std::copy(t.end() - 5, t.end(), t.begin() + 1000);
  std::copy(t.end() - 5, t.end(), t.begin() + 50000);
  EXPECT_EQ(propose(t, 2, 5, 4), Tokens(t.begin() + 1005, t.begin() + 1009));
  EXPECT_EQ(propose(t, 2, 5, 4, NgramOccurrence::kMostRecent), Tokens(t.begin() + 50005, t.begin() + 50009));
  // A low-entropy sequence: many partial matches for KMP to fall back through.
  for (auto& x : t) x = static_cast<int32_t>(rng() % 3);
  for (NgramOccurrence pick : {NgramOccurrence::kEarliest, NgramOccurrence::kMostRecent})
    EXPECT_EQ(propose(t, 1, 64, 8, pick), reference(t, 1, 64, 8, pick));
  for (int step = 0; step < 100; ++step) t.push_back(static_cast<int32_t>(rng() % 3)), (void)propose(t, 3, 8, 5);
}

}  // namespace
}  // namespace sable
