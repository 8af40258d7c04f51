// How paged MLA decode attention splits each token's keys over CTAs (split-K),
// for a given amount of work: host-side rules shared by the CUDA kernels'
// launcher (backend/cuda/mla_attention.cu), kept here so that they are
// testable without a GPU.
#pragma once

#include <cstdint>

namespace sable {

struct MlaSplitShape {
  int64_t units = 0;   // CTAs of work before splitting: tokens x head blocks
  int64_t slots = 0;   // CTAs resident at once: SMs x CTAs per SM
  int min_keys = 128;  // the least keys a split is given by the rule (it caps S at len / min_keys)
  int tile_keys = 64;  // keys a kernel step takes (0: the CUDA-core kernel, one key a thread)
  int max_splits = 128;
  int min_split_tiles = 1;  // the kernels give a split at least this many tiles, whatever S
  // A larger split count must cost less than (1 - tie_margin) of the best so
  // far: where the model sees a tie, fewer splits write fewer partials.
  double tie_margin = 0.0;
};

// The decode kernels' split shapes. kTensorCore: the wgmma / warp-specialized
// kernels, a CTA a (token, 64-head block), one CTA an SM, 64-key tiles, at
// least 128 keys a split. kSmall: the 16-head kernel, 32-key tiles, at most
// 64 splits (its combine at one token: docs/kernels-attention.md); its CTAs
// an SM depend on the cache (ctas_per_sm; 0: two, a BF16 cache, 98 KB of
// shared memory a CTA; on an FP8 cache, operands widened in registers, three).
// kGeneric: the CUDA-core kernel, a CTA a (token, head), one key a thread,
// at least 512 keys a split.
enum class MlaSplitKernel { kTensorCore, kSmall, kGeneric };
MlaSplitShape mla_split_shape(MlaSplitKernel kernel, int64_t tokens, int64_t heads, int sm_count, int min_split_tiles,
                              int ctas_per_sm = 0);
// The most CTAs an SM the 16-head kernel takes on either cache (the launcher
// clamps to it): the memory planner sizes partials for every count up to it.
constexpr int kMlaSmallMaxCtasPerSm = 3;

// The kernel the launcher's automatic choice takes for BF16 queries of
// `heads` heads at the 576 / 512 latent widths (heads % 64: tensor cores,
// heads % 16: the 16-head kernel), as the memory planner must assume.
MlaSplitKernel mla_decode_kernel(int64_t heads);

// Which rule sets a decode call's split count: kEager, mla_splits at the
// batch's longest context; kGraph, mla_graph_splits at the graph's bound.
// Eager calls take kEager. A captured CUDA graph takes kGraph, unless the
// CUDA backend's knob mla-graph-splits is 0 (Backend::mla_graph_split_rule).
enum class MlaSplitRule { kEager, kGraph };

// The split count `rule` gives for a call whose longest context (or, for a
// graph, bound) is max_len keys: what the launcher runs and the memory
// planner sizes partials by.
int mla_splits_by(const MlaSplitShape& s, int max_len, MlaSplitRule rule);

// Bytes of the split partials (f32 outputs and log-sum-exps, S x T x H x
// (v_dim + 1)) a decode call of `tokens` tokens and `heads` heads allocates
// at a longest context of max_len keys on sm_count SMs, its count set by
// `rule`: 0 at one split. For the 16-head kernel, the most of any CTAs an SM
// from 1 to kMlaSmallMaxCtasPerSm (BF16 or FP8 cache).
int64_t mla_decode_partial_bytes(int64_t tokens, int64_t heads, int64_t v_dim, int max_len, int sm_count,
                                 MlaSplitRule rule);

// The split count for a batch whose longest context is max_len keys (an
// eager step): the S that minimizes waves x (tiles a split + 1); see the
// definition for how it was measured.
int mla_splits(const MlaSplitShape& s, int max_len);

// A step's cost in that model, with S splits, at a context of len keys, as
// the kernels run it: a split takes at least min_split_tiles tiles, so a
// context shorter than S tiles leaves the last splits empty.
double mla_split_cost(const MlaSplitShape& s, int splits, int len);

// The split count for a CUDA graph, which replays one S at every context up
// to max_len: the S whose worst cost ratio to each context's own choice
// (mla_splits), over contexts from min_keys to max_len in factors of 2, is
// least.
int mla_graph_splits(const MlaSplitShape& s, int max_len);

}  // namespace sable
