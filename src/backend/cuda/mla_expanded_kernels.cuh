// Internal interface between the expanded-form MLA prefill dispatcher
// (mla_expanded.cu) and its tensor-core kernels (mla_expanded.cu's mma.sync
// kernel, mla_expanded_ws.cu's warp-specialized wgmma kernel): the
// arguments, DeepSeek-V3's head dims, and the epilogue both kernels share
// (normalize a row, merge it into the earlier key chunks by log-sum-exp,
// write it).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/mma_sync.cuh"

namespace sable::cuda::mla_exp {

struct ExpArgs {
  const void* q;     // [Tq, H, nope + rope]
  const void* kv;    // [n, H, nope + dv]
  const void* k_pe;  // [n, rope]
  void* out;         // [Tq, H, dv]
  float* lse;        // [Tq, H], natural log
  int Tq, H, n, nope, rope, dv;
  int delta;         // q_pos0 - k_pos0, clamped to +-2^30: row i sees key j iff j <= i + delta
  float scale_log2;  // softmax_scale * log2(e)
  bool accumulate;
};

// DeepSeek-V3's head dims, the only ones the tensor-core kernels take.
constexpr int kNope = 128, kRope = 64, kQk = kNope + kRope, kDv = 128;

constexpr float kLn2 = 0.6931471805599453f;

// Warp-specialized wgmma kernel (sm_90a): BF16, DeepSeek-V3 dims.
void launch_ws(const ExpArgs& a, cudaStream_t stream);

#ifdef __CUDACC__
// Merges this chunk's (lse_cur, out_cur = o * inv_l) into the stored (lse_old,
// out_old): the weights of out_old and of o, and the merged lse. An old row
// at -inf (no key seen yet) takes the chunk as it is and its out is not read.
struct Merge {
  float w_old, w_cur, lse;
};
__device__ __forceinline__ Merge merge_weights(bool accumulate, float lse_old, float lse_cur, float inv_l) {
  if (!accumulate || lse_old == -INFINITY) return {0.f, inv_l, lse_cur};
  const float m = fmaxf(lse_old, lse_cur);
  const float a = expf(lse_old - m), b = expf(lse_cur - m), s = a + b;
  return {a / s, b / s * inv_l, m + logf(s)};
}

// The online softmax's max step for one thread's two rows (a row's scores
// live in one quad of lanes): from this thread's partial maxima mx0 / mx1
// (log2 domain) the rows' new running max m_r, the factors al that rescale
// the rows' state, and ms, what to subtract from the rows' scaled scores (0
// for a row that has seen no key yet: its weights are all 0 and its o and l
// still 0, never -inf - -inf).
__device__ __forceinline__ void update_row_max(float mx0, float mx1, float (&m_r)[2], float (&al)[2], float (&ms)[2]) {
  mx0 = quad_max(mx0);
  mx1 = quad_max(mx1);
  const float mn0 = fmaxf(m_r[0], mx0), mn1 = fmaxf(m_r[1], mx1);
  ms[0] = mn0 == -INFINITY ? 0.f : mn0;
  ms[1] = mn1 == -INFINITY ? 0.f : mn1;
  al[0] = exp2f(m_r[0] - ms[0]);
  al[1] = exp2f(m_r[1] - ms[1]);
  m_r[0] = mn0;
  m_r[1] = mn1;
}

// The epilogue of a tensor-core kernel for one thread's two rows rg and
// rg + 8 (chunk-relative; head h) in the mma/wgmma accumulator layout: a
// row's 128 values live in one quad of lanes, o(nt, e) is column
// 8 nt + 2 (lane % 4) + (e & 1) of row rg (e < 2) or rg + 8 (e >= 2).
// m_r: the rows' running max (log2 domain); l_r: this thread's partial sums
// of the weights. Rows at or past Tq are not written. Called by every lane
// of the warp (quad shuffles, a warp barrier).
template <typename Acc>
__device__ __forceinline__ void store_rows(const ExpArgs& p, int h, int rg, const float (&m_r)[2],
                                           const float (&l_r)[2], Acc o) {
  const int lane = threadIdx.x & 31;
  const float ltot[2] = {quad_sum(l_r[0]), quad_sum(l_r[1])};
  const int64_t ostride = int64_t(p.H) * kDv;
  // Every lane of a quad reads its rows' old lse before the quad's first
  // lane rewrites it (the warp barrier orders the two).
  float old[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = rg + 8 * r;
    if (p.accumulate && i < p.Tq && ltot[r] > 0.f) old[r] = p.lse[int64_t(i) * p.H + h];
  }
  __syncwarp();
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i = rg + 8 * r;
    if (i >= p.Tq) continue;
    __nv_bfloat16* orow = static_cast<__nv_bfloat16*>(p.out) + int64_t(i) * ostride + h * kDv + (lane & 3) * 2;
    float* lse = p.lse + int64_t(i) * p.H + h;
    if (ltot[r] == 0.f) {  // the row sees no key of this chunk
      if (!p.accumulate) {
#pragma unroll
        for (int nt = 0; nt < kDv / 8; ++nt) *reinterpret_cast<uint32_t*>(orow + nt * 8) = 0u;
        if ((lane & 3) == 0) *lse = -INFINITY;
      }
      continue;
    }
    const float cur = (m_r[r] + log2f(ltot[r])) * kLn2;
    const Merge w = merge_weights(p.accumulate, old[r], cur, 1.f / ltot[r]);
#pragma unroll
    for (int nt = 0; nt < kDv / 8; ++nt) {
      float x0 = o(nt, 2 * r) * w.w_cur, x1 = o(nt, 2 * r + 1) * w.w_cur;
      if (w.w_old > 0.f) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(orow + nt * 8));
        x0 += w.w_old * f.x;
        x1 += w.w_old * f.y;
      }
      *reinterpret_cast<__nv_bfloat162*>(orow + nt * 8) = __floats2bfloat162_rn(x0, x1);
    }
    if ((lane & 3) == 0) *lse = w.lse;
  }
}
#endif

}  // namespace sable::cuda::mla_exp
