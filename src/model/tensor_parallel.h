// How DeepSeek-V3 splits over the ranks of a tensor-parallel group (vLLM's
// layout without --enable-expert-parallel):
//   - attention by heads: q_b_proj (or q_proj) and kv_b_proj by output rows,
//     o_proj by input columns, whose partial outputs are summed over ranks;
//   - the dense MLP and every expert, routed and shared: gate_proj and
//     up_proj by rows of the intermediate size, down_proj by its columns,
//     summed over ranks after the layer (once for routed + shared);
//   - lm_head by vocabulary rows, the logits gathered from every rank;
//   - the embedding by vocabulary rows too (vLLM's VocabParallelEmbedding):
//     a rank writes its rows and zeros for the others' ids, and an
//     all-reduce sums them;
//   - replicated: the norms, q_a / kv_a (their outputs are the
//     latent every head reads), the router and its bias, and the latent KV
//     cache.
// Each rank's activations are whole [T, H] rows; two all-reduces a layer.
//
// With --enable-expert-parallel (vLLM's flag; the expert-parallel group is
// the tensor-parallel one), the routed experts are placed whole instead:
// rank r holds experts [r E / size, (r + 1) E / size). Every rank routes all
// its tokens (the router is replicated), runs the pairs whose expert it
// holds, and the all-reduce after the MoE layer, the same one, sums them.
// The shared experts stay split by intermediate. Each expert's GEMMs then
// see whole rows (wider tiles, and FP8 scale blocks never cut), at the cost
// of balance: a rank's load is the tokens its experts drew.
#pragma once

#include <cstdint>

#include "backend/linear_weight.h"
#include "core/status.h"
#include "model/config.h"

namespace sable {

// Which part of a split dimension rank `rank` of `size` holds: equal parts.
struct TpShard {
  int rank = 0;
  int size = 1;
  bool expert_parallel = false;  // routed experts placed whole, not split
  int64_t part(int64_t n) const { return n / size; }
  int64_t begin(int64_t n) const { return part(n) * rank; }
};

// Whether `size` ranks can split this model: every split dimension divides
// evenly, and for an FP8 checkpoint every part is whole 128 x 128 scale
// blocks (a part that started inside a block would need that block's scale
// on two ranks with different offsets). The error names the dimension and
// the sizes that would work.
// With expert_parallel, the routed experts are placed whole: size must
// divide n_routed_experts, and only the shared experts split by intermediate.
Status check_tensor_parallel(const ModelConfig& c, int size, bool expert_parallel = false);

// Rows [r0, r1) of a linear weight (a view; FP8 scale rows with it).
LinearWeight slice_linear_rows(const LinearWeight& w, int64_t r0, int64_t r1);
// Columns [c0, c1) of a host linear weight (a copy; FP8 scale columns with it).
LinearWeight slice_linear_cols(const LinearWeight& w, int64_t c0, int64_t c1);

}  // namespace sable
