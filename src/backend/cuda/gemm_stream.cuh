// The weight-streaming tensor-core GEMM: out[p, n] = sum_k x[row(p), k] W[n, k]
// for few tokens per weight (decode, MoE experts), where the weight is read
// once from HBM at full bandwidth and the tokens ride along.
//
// Each warp owns 32 weight rows and streams them straight from global memory
// into mma.sync A fragments (16-byte loads, no shared memory); the tokens of
// its tile (BN of them) are the N side of the mma, loaded as B fragments from
// global memory (small, cached). The k order inside a 16-byte load is
// permuted consistently in A and B (a dot product does not care), which is
// what lets every load be 16 bytes wide:
//   bf16 m16n8k16: lane quad q holds k = q*8 .. q*8+7 of a 32-wide chunk;
//     step 0 uses words (x, y) as (a0|b0, a2|b1), step 1 words (z, w).
//   fp8 m16n8k32: lane quad q holds k = q*16 .. q*16+15 of a 64-wide chunk,
//     the same word assignment.
// A CTA is 8 warps: 2 row groups (64 rows) x 4 warps splitting K by 128-blocks;
// the 4 partial sums are added in shared memory in a fixed order, so results
// do not depend on timing. grid.z splits K further across CTAs (dense decode
// with few rows), writing float partials that a second kernel sums.
//
// FP8 follows DeepSeek-V3: per 128-block of k, the mma partial sum is scaled
// by weight_scale[row/128, kb] * act_scale[token, kb] and added to the float
// accumulator.
#pragma once

#include <cstdint>

namespace sable::cuda {

struct StreamGemmArgs {
  bool fp8 = false;
  int bn = 8;               // tokens per tile: 8, 16, 32 or 64 (bf16 only)
  int64_t N = 0, K = 0;     // weight rows (per group), reduction length
  const void* w = nullptr;  // [groups][N][K], BF16 or F8_E4M3
  int64_t w_gstride = 0;    // elements between groups
  // w_kt > 0: each group's weight is in the tiled layout of expert_tiles.cuh
  // with w_kt K tiles per 32-row tile (the MoE experts); 0: natural rows.
  int64_t w_kt = 0;
  int groups = 0;             // groups in w (the grouped wgmma kernel's tensor map); 0: unknown
  const float* ws = nullptr;  // FP8: scale(g, rb, kb) = ws[g*ws_gstride + rb*ws_ld + kb]
  int64_t ws_ld = 0, ws_gstride = 0;
  // glu: rows are gate/up interleaved by 16 (PreparedExperts); output column
  // c = silu(gate c) * up c, N/2 columns. Gate scales at ws, up scales at
  // ws + ws_up (natural row order).
  bool glu = false;
  int64_t ws_up = 0;
  // Activations: x[xrow * ldx + k], BF16 or F8_E4M3; FP8 scale of (xrow, kb)
  // at xs[kb * xs_sk + xrow * xs_st].
  const void* x = nullptr;
  int64_t ldx = 0;
  const float* xs = nullptr;
  int64_t xs_sk = 0, xs_st = 0;
  // Tiles (grid.x; grid.y = 64-row blocks of W). Dense (tiles == nullptr):
  // tile i covers rows p in [i*bn, min(T, i*bn+bn)), group 0. Grouped: tile
  // i < *num_tiles is tiles[3i..3i+2] = {group, p_begin, p_count}; blocks
  // beyond *num_tiles exit.
  int64_t T = 0;
  const int* tiles = nullptr;
  const int* num_tiles = nullptr;
  const int* x_index = nullptr;  // xrow = x_index ? x_index[p] : p
  // Grouped wgmma kernel only: per tile, {first tile of its expert, the
  // expert's tile count} (CTA order, moe_grouped_wgmma.cu).
  const int* tile_groups = nullptr;
  // Output: out[p * ldo + n] (BF16 or F32), times row_scale[p] when given.
  void* out = nullptr;
  int64_t ldo = 0;
  bool out_f32 = false;
  const float* row_scale = nullptr;
  // Split-K across CTAs: when splits > 1, float partials go to
  // partial[z][p][n] (dense only) and launch_stream_gemm adds them.
  int splits = 1;
  float* partial = nullptr;
  int grid_tiles = 0;  // grid.x (dense: ceil(T/bn); grouped: an upper bound)
  // Dense GEMMs over tiled FP8 weights: warps splitting K in a CTA, 4 (64-row
  // CTAs) or 2 (128-row CTAs, each warp twice the stages; gemm_linear.cu's
  // dense_kwarps); 0 means 4.
  // Grouped GEMMs choose their own (gemm_stream.cu, tiled_kwarps).
  int kwarps = 0;
  // Timing only (the grouped wgmma kernel; SABLE_MOE_WGMMA_NO_EPILOGUE=1):
  // the consumers stop after the main loop and store nothing, so that the
  // epilogue's share of a launch is a difference of two timings.
  bool skip_epilogue = false;
};

}  // namespace sable::cuda
