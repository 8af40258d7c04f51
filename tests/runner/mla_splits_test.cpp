// The split rules of paged MLA decode (backend/mla_splits.h): eager steps pick
// for their longest context; a CUDA graph, which replays one count at every
// context up to the one it was captured for, picks a count that suits them all.
#include "backend/mla_splits.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sable {
namespace {

// The tensor-core decode kernel on an H100 (132 SMs, one CTA each), 128
// heads in 64-head blocks: units = 2 x sequences.
MlaSplitShape hopper(int seqs) {
  MlaSplitShape s;
  s.units = 2 * int64_t(seqs);
  s.slots = 132;
  return s;
}

TEST(MlaSplits, EagerRuleKeepsItsMeasuredPicks) {
  // docs/kernels-attention.md's sweep: 1 split at 64 and 128 sequences, 8 at 8
  // sequences, 16-32 at one sequence of 4,096 keys.
  EXPECT_EQ(mla_splits(hopper(64), 8192), 1);
  EXPECT_EQ(mla_splits(hopper(128), 4096), 1);
  EXPECT_EQ(mla_splits(hopper(8), 4096), 8);
  const int one = mla_splits(hopper(1), 4096);
  EXPECT_GE(one, 16);
  EXPECT_LE(one, 32);
}

TEST(MlaSplits, AGraphForTheLongestContextStillSuitsShortOnes) {
  // DeepSeek-V3's 163,840 keys: the eager rule at that length gives 32
  // sequences 33 splits, which at 1,500 keys run 24 one-tile splits a token.
  const int max_len = 163840;
  EXPECT_EQ(mla_splits(hopper(32), max_len), 33);
  const int g = mla_graph_splits(hopper(32), max_len);
  EXPECT_EQ(g, mla_splits(hopper(32), 2048));
  for (int seqs : {4, 8, 16, 32, 64}) {
    const MlaSplitShape s = hopper(seqs);
    const int graph = mla_graph_splits(s, max_len);
    for (int len = 512; len <= max_len; len *= 2) {
      const double own = mla_split_cost(s, mla_splits(s, len), len);
      // Within 5 % of each context's own choice, in the rule's cost model.
      EXPECT_LE(mla_split_cost(s, graph, len), 1.05 * own) << seqs << " sequences at " << len << " keys";
    }
  }
}

TEST(MlaSplits, CostCountsOnlySplitsWithKeys) {
  const MlaSplitShape s = hopper(32);
  // 1,500 keys = 24 tiles: 33 splits leave 9 empty; 24 one-tile splits of 64
  // units in 12 waves of 132, 2 tiles' cost each (the tile and the split's own).
  EXPECT_DOUBLE_EQ(mla_split_cost(s, 33, 1500), 12.0 * 2.0);
  // 2 splits of 12 tiles: one wave.
  EXPECT_DOUBLE_EQ(mla_split_cost(s, 2, 1500), 1.0 * 13.0);
}

TEST(MlaSplits, KernelShapesAreTheLaunchers) {
  // 128 heads (one GPU): the tensor-core kernels, as hopper() above.
  EXPECT_EQ(mla_decode_kernel(128), MlaSplitKernel::kTensorCore);
  const MlaSplitShape tc = mla_split_shape(MlaSplitKernel::kTensorCore, 32, 128, 132, 1);
  const MlaSplitShape h = hopper(32);
  EXPECT_EQ(tc.units, h.units);
  EXPECT_EQ(tc.slots, h.slots);
  EXPECT_EQ(tc.min_keys, h.min_keys);
  EXPECT_EQ(tc.tile_keys, h.tile_keys);
  EXPECT_EQ(tc.max_splits, h.max_splits);
  // 16 and 32 heads (-tp 8, -tp 4): the 16-head kernel, two CTAs an SM,
  // 32-key tiles, at most 64 splits.
  EXPECT_EQ(mla_decode_kernel(16), MlaSplitKernel::kSmall);
  EXPECT_EQ(mla_decode_kernel(32), MlaSplitKernel::kSmall);
  const MlaSplitShape sm = mla_split_shape(MlaSplitKernel::kSmall, 4, 32, 132, 1);
  EXPECT_EQ(sm.units, 8);
  EXPECT_EQ(sm.slots, 264);
  EXPECT_EQ(sm.min_keys, 32);
  EXPECT_EQ(sm.tile_keys, 32);
  EXPECT_EQ(sm.max_splits, 64);
  // The FP8 register forms fit three CTAs an SM: the launcher passes its form's count.
  EXPECT_EQ(mla_split_shape(MlaSplitKernel::kSmall, 4, 32, 132, 1, 3).slots, 396);
  EXPECT_EQ(mla_split_shape(MlaSplitKernel::kSmall, 4, 32, 132, 1, 2).slots, 264);
  EXPECT_EQ(mla_decode_kernel(8), MlaSplitKernel::kGeneric);
  EXPECT_EQ(mla_split_shape(MlaSplitKernel::kGeneric, 4, 8, 132, 1).units, 32);
}

TEST(MlaSplits, PartialsAreCountedWhereTokensSplit) {
  using R = MlaSplitRule;
  // One split: no partials. 33 splits of 64 tokens x 128 heads at DeepSeek-V3's
  // 163,840 keys by the eager rule; a graph's call takes the graph rule's count.
  EXPECT_EQ(mla_decode_partial_bytes(256, 128, 512, 163840, 132, R::kEager), 0);
  EXPECT_EQ(mla_decode_partial_bytes(256, 128, 512, 163840, 132, R::kGraph), 0);
  EXPECT_EQ(mla_decode_partial_bytes(64, 128, 512, 163840, 132, R::kEager), int64_t(33) * 64 * 128 * 513 * 4);
  const int g64 = mla_graph_splits(hopper(64), 163840);
  EXPECT_LT(g64, 33);  // the rules differ here: the plan must take the one the graphs run
  EXPECT_EQ(mla_decode_partial_bytes(64, 128, 512, 163840, 132, R::kGraph),
            g64 > 1 ? int64_t(g64) * 64 * 128 * 513 * 4 : 0);
  const int g = mla_graph_splits(hopper(1), 163840), e = mla_splits(hopper(1), 163840);
  EXPECT_EQ(mla_splits_by(hopper(64), 163840, R::kGraph), g64);
  EXPECT_EQ(mla_splits_by(hopper(64), 163840, R::kEager), 33);
  EXPECT_EQ(mla_decode_partial_bytes(1, 128, 512, 163840, 132, R::kGraph), int64_t(g) * 128 * 513 * 4);
  EXPECT_EQ(mla_decode_partial_bytes(1, 128, 512, 163840, 132, R::kEager), int64_t(e) * 128 * 513 * 4);
  EXPECT_EQ(mla_decode_partial_bytes(0, 128, 512, 163840, 132, R::kGraph), 0);
}

TEST(MlaSplits, SmallKernelSplitsFillItsSlots) {
  // 64 tokens x 16 heads (-tp 8) at 4,096 keys, 128 tiles a token: two CTAs an
  // SM (264 slots) take 4 splits (256 CTAs, 33 tiles each); three (396 slots)
  // take 6 (384 CTAs, 22 tiles each), where 4 would leave a third of the
  // slots idle.
  EXPECT_EQ(mla_splits(mla_split_shape(MlaSplitKernel::kSmall, 64, 16, 132, 1, 2), 4096), 4);
  EXPECT_EQ(mla_splits(mla_split_shape(MlaSplitKernel::kSmall, 64, 16, 132, 1, 3), 4096), 6);
  // One token: one tile a split up to the cap of 64 (the combine's four
  // thread groups walk them).
  EXPECT_EQ(mla_splits(mla_split_shape(MlaSplitKernel::kSmall, 1, 16, 132, 1, 3), 4096), 64);
  EXPECT_EQ(mla_splits(mla_split_shape(MlaSplitKernel::kSmall, 1, 16, 132, 1, 3), 1024), 32);
  // The tie margin: 389 tokens at 163,840 keys fill the 396 slots once; 57
  // splits would model 0.6 % faster for 694 MB of partials.
  EXPECT_EQ(mla_splits(mla_split_shape(MlaSplitKernel::kSmall, 389, 16, 132, 1, 3), 163840), 1);
  // The plan holds the most partials of any form.
  EXPECT_EQ(mla_decode_partial_bytes(64, 16, 512, 4096, 132, MlaSplitRule::kEager), int64_t(6) * 64 * 16 * 513 * 4);
  for (auto rule : {MlaSplitRule::kEager, MlaSplitRule::kGraph})
    for (int tokens : {1, 8, 32, 64, 100})
      for (int ctas = 1; ctas <= kMlaSmallMaxCtasPerSm; ++ctas) {
        const int s = mla_splits_by(mla_split_shape(MlaSplitKernel::kSmall, tokens, 16, 132, 1, ctas), 163840, rule);
        EXPECT_LE(s > 1 ? int64_t(s) * tokens * 16 * 513 * 4 : 0,
                  mla_decode_partial_bytes(tokens, 16, 512, 163840, 132, rule))
            << tokens << " tokens, " << ctas << " CTAs an SM";
      }
}

TEST(MlaSplits, ManyUnitsNeverSplit) {
  EXPECT_EQ(mla_splits(hopper(66), 163840), 1);
  EXPECT_EQ(mla_graph_splits(hopper(66), 163840), 1);
  EXPECT_EQ(mla_graph_splits(hopper(1), 1), 1);
}

}  // namespace
}  // namespace sable
