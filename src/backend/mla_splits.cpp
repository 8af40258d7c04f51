#include "backend/mla_splits.h"

#include <algorithm>
#include <vector>

namespace sable {

// The tensor-core kernels (tile_keys > 0) count what a split costs besides
// its keys -- Q's 72 KB load, the partial's write and the combine, about one
// 64-key tile -- as waves x (ceil(tiles / S) + 1): the waves-only rule took
// 64 sequences of 8,192 keys (128 units on 132 SMs) to 33 splits for a 3 %
// "gain" and ran 630 us where one split ran in 290 (run of e204fd1). The
// generic kernel: the S that minimizes waves per unit of work,
// ceil(units * S / slots) / S, ties (within 3 %) to fewer splits. Measured on
// H200 with random block tables (runs 55111d3, e204fd1; split sweep in
// docs/kernels-attention.md): best S was 1 at 64 and 128 sequences, 8 at 8
// sequences, 16-32 at 1 sequence of 4096 -- what this picks. Contiguous block
// tables made more splits look better (DRAM partition camping when every
// block walks its own contiguous region in lockstep); real caches after churn
// are random.
int mla_splits(const MlaSplitShape& s, int max_len) {
  if (s.units >= s.slots) return 1;
  const int cap = std::max(1, std::min(s.max_splits, max_len / s.min_keys));
  const int64_t tiles = s.tile_keys > 0 ? (int64_t(max_len) + s.tile_keys - 1) / s.tile_keys : 0;
  auto cost = [&](int n) {
    const double waves = double((s.units * n + s.slots - 1) / s.slots);
    return s.tile_keys > 0 ? waves * double((tiles + n - 1) / n + 1) : waves / n;
  };
  int best = 1;
  double best_cost = cost(1);
  for (int n = 2; n <= cap; ++n) {
    const double c = cost(n);
    if (c < best_cost * (1.0 - s.tie_margin)) {
      best = n;
      best_cost = c;
    }
  }
  return best;
}

double mla_split_cost(const MlaSplitShape& s, int splits, int len) {
  if (s.tile_keys <= 0) {  // one key a thread: every split has keys while len >= splits
    const int64_t busy = std::min<int64_t>(splits, std::max(1, len));
    return double((s.units * busy + s.slots - 1) / s.slots) * double((len + busy - 1) / busy);
  }
  const int64_t tiles = std::max<int64_t>(1, (int64_t(len) + s.tile_keys - 1) / s.tile_keys);
  const int64_t per = std::max<int64_t>((tiles + splits - 1) / splits, s.min_split_tiles);
  const int64_t busy = (tiles + per - 1) / per;  // splits with keys; the rest exit at once
  return double((s.units * busy + s.slots - 1) / s.slots) * double(per + 1);
}

// Why: one S for every context a graph serves. The rule's pick at the longest
// context can be far from what shorter ones want: 32 sequences at DeepSeek-V3's
// 163,840 keys take 33 splits (1.3 % better than 2 in the model there), where
// 1,500 keys want 2; at 1,500 keys 33 splits run 24 one-tile splits a token,
// each loading Q and writing a 128 KB partial for the combine. Measured on an
// H100 (4-layer FP8 slice, 32 sequences of ~1,500 keys): 9.61 ms a decode
// step with graphs captured for 163,840 keys, 8.78 ms for 2,048.
int mla_graph_splits(const MlaSplitShape& s, int max_len) {
  if (s.units >= s.slots) return 1;
  max_len = std::max(max_len, 1);
  std::vector<int> lens;
  for (int64_t l = s.min_keys; l < max_len; l *= 2) lens.push_back(int(l));
  lens.push_back(max_len);
  std::vector<double> own(lens.size());
  for (size_t i = 0; i < lens.size(); ++i) own[i] = mla_split_cost(s, mla_splits(s, lens[i]), lens[i]);
  const int cap = std::max(1, std::min(s.max_splits, max_len / std::max(1, s.min_keys)));
  int best = 1;
  double best_worst = 0;
  for (int n = 1; n <= cap; ++n) {
    double worst = 0;
    for (size_t i = 0; i < lens.size(); ++i) worst = std::max(worst, mla_split_cost(s, n, lens[i]) / own[i]);
    if (n == 1 || worst < best_worst * (1 - 1e-9)) {
      best = n;
      best_worst = worst;
    }
  }
  return best;
}

MlaSplitShape mla_split_shape(MlaSplitKernel kernel, int64_t tokens, int64_t heads, int sm_count, int min_split_tiles,
                              int ctas_per_sm) {
  MlaSplitShape s;
  s.min_split_tiles = min_split_tiles;
  switch (kernel) {
    case MlaSplitKernel::kTensorCore:
      s.units = tokens * (heads / 64);
      s.slots = int64_t(sm_count);
      s.min_keys = 128;
      s.tile_keys = 64;
      s.max_splits = 128;
      break;
    case MlaSplitKernel::kSmall:
      s.units = tokens * (heads / 16);
      s.slots = int64_t(ctas_per_sm > 0 ? ctas_per_sm : 2) * sm_count;
      s.min_keys = 32;
      s.tile_keys = 32;
      // The cap: with few rows (one token, 16 or 32 heads) the rule takes
      // one tile a split, 128 splits at 4,096 keys, and the combine's T x H
      // CTAs walk all their partials. With one thread group a row that made
      // batch 1 slower than batch 8 (29 vs 24 us at 16 heads; record
      // 2026-12-04-6306b76-mla-small.md), and the cap was 32. With the
      // combine's four groups (16 heads, FP8 cache, H100) 64 splits are the
      // best: 1 x 4,096 12.1 us (S 32: 13.1, S 128: 15.1), 1 x 16,384 21.4
      // (S 32: 30.6, S 128: 21.0); record
      // 2026-12-07-3f698ca-form2-splits-and-combine-groups.md.
      s.max_splits = 64;
      // Many tokens at a long context: without a margin the eager rule took
      // 57 splits for 389 tokens at 163,840 keys for a 0.6 % modelled gain
      // over one, 694 MB of partials at 16 heads (the planner's largest);
      // with it one split, and no pick at 32,768 keys or fewer changes.
      s.tie_margin = 0.03;
      break;
    case MlaSplitKernel::kGeneric:
      s.units = tokens * heads;
      s.slots = int64_t(sm_count);
      s.min_keys = 512;
      s.tile_keys = 0;
      s.max_splits = 128;
      s.tie_margin = 0.03;
      break;
  }
  return s;
}

MlaSplitKernel mla_decode_kernel(int64_t heads) {
  return heads % 64 == 0   ? MlaSplitKernel::kTensorCore
         : heads % 16 == 0 ? MlaSplitKernel::kSmall
                           : MlaSplitKernel::kGeneric;
}

int mla_splits_by(const MlaSplitShape& s, int max_len, MlaSplitRule rule) {
  return rule == MlaSplitRule::kGraph ? mla_graph_splits(s, max_len) : mla_splits(s, max_len);
}

int64_t mla_decode_partial_bytes(int64_t tokens, int64_t heads, int64_t v_dim, int max_len, int sm_count,
                                 MlaSplitRule rule) {
  if (tokens <= 0 || heads <= 0) return 0;
  const MlaSplitKernel kernel = mla_decode_kernel(heads);
  // The 16-head kernel's forms differ in CTAs an SM, and so in split counts:
  // the plan holds the largest.
  const int forms = kernel == MlaSplitKernel::kSmall ? kMlaSmallMaxCtasPerSm : 1;
  int splits = 1;
  for (int ctas = 1; ctas <= forms; ++ctas) {
    const MlaSplitShape s =
        mla_split_shape(kernel, tokens, heads, std::max(1, sm_count), 1, kernel == MlaSplitKernel::kSmall ? ctas : 0);
    splits = std::max(splits, mla_splits_by(s, std::max(1, max_len), rule));
  }
  return splits > 1 ? int64_t(splits) * tokens * heads * (v_dim + 1) * 4 : 0;
}

}  // namespace sable
