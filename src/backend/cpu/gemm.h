// The CPU matrix kernels behind linear, moe_experts, mla_attention and
// head_matmul, in one variant per ISA (gemm_scalar.cpp, gemm_avx2.cpp,
// gemm_avx512.cpp: one template body, gemm_kernel.inc), chosen at run time.
//
// Batch invariance, the contract every caller relies on: the float result
// for one (token row, output) depends only on that token's inputs and the
// weights, never on how many tokens are in the call, which other tokens,
// which rows or tokens a call covers, or the thread count. The kernels
// guarantee it by giving each output one fixed arithmetic recipe:
//   nt: one V-lane accumulator per (token, output), FMAs along `in` in order
//       (a zero-padded last vector), one fixed horizontal-sum tree;
//   nn: one lane per (token, column), FMAs along k in order.
// Tiling (rows x tokens in registers, converted weight panels) only changes
// which outputs are computed together, not how any one of them is.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"
#include "core/dtype.h"

namespace sable::cpu {

// y[t, o] = sum_i x[t, i] * W[o, i]: the weight in its stored dtype (F32,
// BF16, F16 or F8_E4M3 with float32 block scales: W = fp8 * scale[o / bo,
// i / bi]).
struct GemmNT {
  const float* x = nullptr;  // [T, in], row stride ldx
  int64_t ldx = 0;
  float* y = nullptr;        // [T, out], row stride ldy
  int64_t ldy = 0;
  const void* w = nullptr;   // [out, in], row stride ldw elements
  DType wdt = DType::F32;
  int64_t ldw = 0;
  int64_t in = 0;
  const float* scale = nullptr;  // F8_E4M3: [ceil(out/bo), ld_scale]
  int64_t ld_scale = 0;
  int block_out = 128, block_in = 128;
  // Optional: token t reads x row x_rows[t] instead of row t (a gather,
  // e.g. the tokens routed to one expert).
  const int32_t* x_rows = nullptr;
  // y[t, o] is stored at y[t * ldy + o - y_col0]: lets a caller compute a
  // range of outputs into a buffer holding just that range.
  int64_t y_col0 = 0;
};

// y[t, n] = (accumulate ? y[t, n] : 0) + sum_k x[t, k] * W[k, n]: W in F32,
// BF16 or F16.
struct GemmNN {
  const float* x = nullptr;  // [T, K], row stride ldx
  int64_t ldx = 0;
  float* y = nullptr;        // [T, N], row stride ldy
  int64_t ldy = 0;
  const void* w = nullptr;   // [K, N], row stride ldw elements
  DType wdt = DType::F32;
  int64_t ldw = 0;
  int64_t K = 0;
  bool accumulate = false;
};

struct GemmKernels {
  const char* name;
  int lanes;              // V: the reduction width of nt
  int direct_max_tokens;  // up to this many tokens nt streams the weight directly
  int row_block;          // rows per register tile (work splits in multiples of it)
  // Computes y[t0:t1, o0:o1] of nt, single-threaded. `scratch` holds at
  // least nt_scratch_floats(in) floats, 64-byte aligned, for converted
  // weight panels.
  void (*nt)(const GemmNT& a, int64_t o0, int64_t o1, int64_t t0, int64_t t1, float* scratch);
  // Computes y[t0:t1, n0:n1] of nn, single-threaded.
  void (*nn)(const GemmNN& a, int64_t n0, int64_t n1, int64_t t0, int64_t t1);
};

// Bytes of weight rows nt converts to float32 at once (L2-resident panel).
constexpr int64_t kPanelBytes = 192 * 1024;
// Floats of `in` per reduction chunk on the panel path.
constexpr int64_t kNtChunkIn = 512;
// Rows of one panel for a given `in` (a multiple of the row tile r).
constexpr int64_t nt_panel_rows(int64_t in, int64_t r) {
  const int64_t in_pad = (in + 15) / 16 * 16, n = kPanelBytes / 4 / in_pad / r * r;
  return n > r ? n : r;
}
// Where the chunked accumulators start in nt's scratch: after the largest
// panel of row tile r.
constexpr int64_t nt_acc_offset(int64_t in, int64_t r) {
  const int64_t in_pad = (in + 15) / 16 * 16, p = kPanelBytes / 4;
  return p > r * in_pad ? p : r * in_pad;
}
// Floats of scratch nt wants (independent of the ISA).
int64_t nt_scratch_floats(int64_t in);

const GemmKernels& gemm_kernels_scalar();
const GemmKernels& gemm_kernels_avx2();
const GemmKernels& gemm_kernels_avx512();
// The variant for `isa` (falling back where this CPU lacks a feature the
// variant was compiled for), and the one active_cpu_isa() selects.
const GemmKernels& gemm_kernels(CpuIsa isa);
const GemmKernels& gemm_kernels();

// This thread's scratch for nt (grown on demand, never shrunk, 64-byte
// aligned): no allocation per call.
float* thread_scratch(int64_t floats);

}  // namespace sable::cpu
