// The 16-head decode kernel's split-K combine inside the kernel (knob
// mla-small-fused-combine; mla_attention.cu decides when it applies).
//
// Why: the combine as a second kernel costs 4-6 us a call at every few-row
// shape, 36 % of batch 1 at 4,096 keys under TP 8 (record
// bench/results/2026-12-07-f53a843-small-split-sweep.md), little of it bytes:
// its CTAs wait for the whole attention grid, then walk two rounds of loads.
// Here a token's S CTAs meet at a counter in global memory once their
// partials are written, and each then combines 1 / S of the token's
// kHeads x kDv outputs. The launcher takes this path only when the grid is
// one wave (every CTA resident at once), so the wait cannot deadlock: the
// kernels before it do not depend on it, and the kernels after it (PDL) are
// only scheduled once every CTA of this grid has started.
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/sm90_async.cuh"

namespace sable::cuda::mla {

// The most splits the in-kernel combine takes (the launcher checks).
constexpr int kMlaSmallFusedMaxSplits = 128;

// Floats of shared memory small_combine_in_kernel needs for S splits: the
// weights [heads][S], 1 / sum [heads], the groups' sums (at most 512).
__host__ __device__ constexpr int small_combine_smem_floats(int heads, int S) { return heads * S + heads + 512; }

__device__ __forceinline__ int ld_acquire_gpu(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Called by every thread of every CTA of the grid, after the CTA wrote its
// partial and lse (or only its -inf lse: an empty split). smem: at least
// small_combine_smem_floats(kHeads, S) floats, 16-byte aligned, free to use.
// The sum over a row's splits is in split order, each group of threads
// walking every G-th split and the groups added in order: the bits depend on
// S and the share this CTA has, which depend on S only.
template <int kHeads, int kDv, int kThreads>
__device__ void small_combine_in_kernel(const MlaArgs& p, int t, int head0, int split, float* smem) {
  const int S = p.num_splits, tid = int(threadIdx.x);
  int* arrive = p.sync + 2 * (int64_t(t) * (p.H / kHeads) + head0 / kHeads);
  int* depart = arrive + 1;
  cp_async_wait_all();  // smem is reused: no key tile may still be landing
  __syncthreads();      // the CTA's partial is written: publish it, then wait for the token's other splits
  if (tid == 0) {
    __threadfence();
    atomicAdd(arrive, 1);
    while (ld_acquire_gpu(arrive) < S) __nanosleep(32);
    __threadfence();
  }
  __syncthreads();

  // This CTA's share: quads (4 value dims) qb .. qe of the token's kHeads x kDv / 4,
  // within heads hb .. he (one or two: a share is at least 16 quads of a head's 128).
  constexpr int kRowQuads = kDv / 4, kQuads = kHeads * kRowQuads;
  const int qb = int(int64_t(split) * kQuads / S), qe = int(int64_t(split + 1) * kQuads / S), nq = qe - qb;
  const int hb = qb / kRowQuads, nh = nq > 0 ? (qe - 1) / kRowQuads + 1 - hb : 0;

  // The split weights of those heads only. Every lse is loaded at once (one
  // round trip to L2; a warp walking its heads' splits in turn made 16
  // dependent ones and cost ~8 us a call), then a warp a head takes the max
  // and the sum in the order the combine kernel does.
  float* w = smem;                 // [nh][S]: lse, then exp2(lse - max)
  float* inv = smem + kHeads * S;  // [nh]
  float* gsum = inv + kHeads;      // [G - 1][nq][4]
  const int warp = tid >> 5, lane = tid & 31;
  const int64_t split_rows = int64_t(p.T) * p.H;  // rows of one split's partials
  const float* lse_t = p.part_lse + int64_t(t) * p.H + head0;
  for (int i = tid; i < nh * S; i += kThreads) w[i] = __ldcg(lse_t + hb + i / S + (i % S) * split_rows);
  __syncthreads();
  for (int hh = warp; hh < nh; hh += kThreads / 32) {
    float* row = w + hh * S;
    float mx = -INFINITY;
    for (int s = lane; s < S; s += 32) mx = fmaxf(mx, row[s]);
    mx = warp_max(mx);
    float sum = 0.f;
    for (int s = lane; s < S; s += 32) {
      const float l = row[s];
      const float ws = l == -INFINITY ? 0.f : exp2f(l - mx);
      row[s] = ws;
      sum += ws;
    }
    sum = warp_sum(sum);
    if (lane == 0) inv[hh] = 1.f / sum;
  }
  __syncthreads();
  // Few quads a CTA (many splits): G groups of nq threads walk every G-th split.
  const int G = nq >= kThreads ? 1 : min(8, kThreads / max(nq, 1));
  __nv_bfloat16* out = static_cast<__nv_bfloat16*>(p.out);
  const float* base = p.part_o + (int64_t(t) * p.H + head0) * kDv;
  for (int q0 = qb; q0 < qe; q0 += kThreads / G) {
    const int lq = tid % (kThreads / G), grp = tid / (kThreads / G), q = q0 + lq;
    const bool mine = q < qe && lq < nq && grp < G;
    const int h = q / kRowQuads, d = (q % kRowQuads) * 4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (mine) {
      const float* src = base + h * kDv + d;
      const float* wh = w + (h - hb) * S;
      // Loads unconditional (scratch memory: an empty split's partial is
      // whatever was there), so that eight are in flight; its weight, 0,
      // keeps it out of the sum.
#pragma unroll 8
      for (int s = grp; s < S; s += G) {
        const float4 v = __ldcg(reinterpret_cast<const float4*>(src + s * split_rows * kDv));
        const float ws = wh[s];
        if (ws != 0.f) {
          acc.x += ws * v.x;
          acc.y += ws * v.y;
          acc.z += ws * v.z;
          acc.w += ws * v.w;
        }
      }
    }
    if (G > 1) {
      if (mine && grp > 0) reinterpret_cast<float4*>(gsum)[(grp - 1) * nq + lq] = acc;
      __syncthreads();
      if (mine && grp == 0)
        for (int g = 1; g < G; ++g) {
          const float4 v = reinterpret_cast<const float4*>(gsum)[(g - 1) * nq + lq];
          acc.x += v.x;
          acc.y += v.y;
          acc.z += v.z;
          acc.w += v.w;
        }
    }
    if (mine && grp == 0) {
      const float r = inv[h - hb];
      __nv_bfloat16* o = out + (int64_t(t) * p.H + head0 + h) * kDv + d;
      *reinterpret_cast<__nv_bfloat162*>(o) = __floats2bfloat162_rn(acc.x * r, acc.y * r);
      *reinterpret_cast<__nv_bfloat162*>(o + 2) = __floats2bfloat162_rn(acc.z * r, acc.w * r);
    }
  }

  // Every CTA of the token is past its wait once the last one leaves: it
  // resets both counters for the next launch (ordered after this grid).
  __syncthreads();
  if (tid == 0 && atomicAdd(depart, 1) == S - 1) {
    *arrive = 0;
    *depart = 0;
  }
}

}  // namespace sable::cuda::mla
