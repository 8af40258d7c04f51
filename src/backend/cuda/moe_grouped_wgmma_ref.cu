// The first grouped wgmma kernel of the MoE experts (moe_grouped_wgmma.cu has
// the design and the warp-specialized default): 8 warps = 2 warpgroups of 64
// weight rows that all load (cp.async, 4 stages, prefetch distance 2) and
// compute, one __syncthreads per stage. Kept as the tests' bitwise reference
// for the warp-specialized kernel (same tile, CTA mapping, k order and FP8
// promotion order) and reachable through set_grouped_wgmma_variant(0).
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/moe_grouped_wgmma.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::moe_wgmma {
namespace {

template <bool kFp8>
__global__ void __launch_bounds__(kThreads, 1) moe_wgmma_kernel(const StreamGemmArgs a) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int RB = int(a.N / kBM);
  const int q = int(blockIdx.x) / RB;
  if (q >= *a.num_tiles) return;
  // (row block, tile) within the expert's group of tiles, tile fastest.
  const int t0 = a.tile_groups[2 * q], n_tiles = a.tile_groups[2 * q + 1];
  const int local = int(blockIdx.x) - t0 * RB;
  const int rb = local / n_tiles, tile = t0 + local % n_tiles;
  const int g = a.tiles[3 * tile], p0 = a.tiles[3 * tile + 1], cnt = a.tiles[3 * tile + 2];

  const int tid = threadIdx.x, wg = tid >> 7, warp = tid >> 5, lane = tid & 31;
  constexpr int kElem = kFp8 ? 1 : 2;  // bytes per element
  const auto* Wg = static_cast<const uint8_t*>(a.w) + int64_t(g) * a.w_gstride * kElem;
  const uint32_t wstep = weight_stage_bytes(a);
  const auto* X = static_cast<const uint8_t*>(a.x);
  // Each thread copies 4 chunks of each tile per stage: row idx / 8, chunk
  // idx % 8 with idx = tid + 256 i (8 threads per 128-byte row: coalesced).
  const uint8_t* asrc[4];
  const uint8_t* bsrc[4];
  int bbytes[4];
  uint32_t soff[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int idx = tid + kThreads * i, r = idx >> 3, ch = idx & 7;
    soff[i] = swz128(r, ch);
    asrc[i] = weight_chunk(a, Wg, int64_t(rb) * kBM + r, ch, kElem);
    const bool real = r < cnt;  // rows past the tile's tokens are zero-filled
    const int64_t xrow = real ? (a.x_index ? a.x_index[p0 + r] : p0 + r) : 0;
    bsrc[i] = X + xrow * a.ldx * kElem + ch * 16;
    bbytes[i] = real ? 16 : 0;
  }
  // FP8: thread t < 128 fetches token t's scale of each stage.
  const float* xs_src = nullptr;
  int xs_bytes = 0;
  if (kFp8 && tid < kBN) {
    const bool real = tid < cnt;
    const int64_t xrow = real ? (a.x_index ? a.x_index[p0 + tid] : p0 + tid) : 0;
    xs_src = a.xs + xrow * a.xs_st;
    xs_bytes = real ? 4 : 0;
  }
  const uint32_t sbase = smem_u32(smem);
  const uint32_t sscale = sbase + uint32_t(kStages * kStageBytes);
  auto load = [&](int kb, int st) {
    const uint32_t sa = sbase + uint32_t(st * kStageBytes), sb = sa + kTileBytes;
    const int64_t ko = int64_t(kb) * kRowBytes;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      cp_async16(sa + soff[i], asrc[i] + int64_t(kb) * wstep, 16);
      cp_async16(sb + soff[i], bsrc[i] + ko, bbytes[i]);
    }
    if (kFp8 && tid < kBN) cp_async4(sscale + uint32_t((st * kBN + tid) * 4), xs_src + int64_t(kb) * a.xs_sk, xs_bytes);
  };

  // FP8 weight scale of this thread's rows: the warp's 16-row group is gate
  // (even) or up (odd) under glu, both in natural row block rb / 2.
  const float* wscale = nullptr;
  if (kFp8) {
    const int64_t gbase = int64_t(g) * a.ws_gstride;
    wscale = a.glu ? a.ws + gbase + ((warp & 1) ? a.ws_up : 0) + int64_t(rb / 2) * a.ws_ld
                   : a.ws + gbase + int64_t(rb) * a.ws_ld;
  }
  const float* sxs = reinterpret_cast<const float*>(smem + kStages * kStageBytes);

  constexpr int kAhead = kFp8 ? kStages - 1 : kStages - 2;  // stages loaded ahead
  const int KB = int(a.K * kElem / kRowBytes);
  float acc[64], blk[64];  // blk: FP8's per-stage block accumulator
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = blk[i] = 0.f;
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    if (s < KB) load(s, s);
    cp_async_commit();
  }
  for (int kb = 0; kb < KB; ++kb) {
    // Committed groups: stages 0 .. kb + kAhead - 1; stage kb must have landed.
    cp_async_wait<kAhead - 1>();
    fence_proxy_async();
    __syncthreads();  // stage kb visible to all; the stage about to be refilled is consumed
    const int st = kb % kStages;
    const uint32_t sa = sbase + uint32_t(st * kStageBytes);
    const uint64_t da = kmajor_desc(sa + uint32_t(wg * (kTileBytes / 2))), db = kmajor_desc(sa + kTileBytes);
    if constexpr (kFp8) {
      const float ws = wscale[kb];
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) WgmmaNt<128>::e4m3(blk, da + 2 * ks, db + 2 * ks, ks);  // +32 B per k32
      wgmma_commit();
      if (kb + kAhead < KB) load(kb + kAhead, (kb + kAhead) % kStages);  // its stage was consumed at kb-1
      cp_async_commit();
      wgmma_wait0();
      const float* sx = sxs + st * kBN + (lane & 3) * 2;
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const float s0 = ws * sx[j * 8], s1 = ws * sx[j * 8 + 1];
        acc[4 * j] += blk[4 * j] * s0;
        acc[4 * j + 1] += blk[4 * j + 1] * s1;
        acc[4 * j + 2] += blk[4 * j + 2] * s0;
        acc[4 * j + 3] += blk[4 * j + 3] * s1;
      }
    } else {
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) WgmmaNt<128>::bf16(acc, da + 2 * ks, db + 2 * ks, 1);  // +32 B per k16
      wgmma_commit();
      wgmma_wait<1>();  // kb-1 done: its stage is free after the next barrier
      if (kb + kAhead < KB) load(kb + kAhead, (kb + kAhead) % kStages);
      cp_async_commit();
    }
  }
  wgmma_wait0();
  cp_async_wait_all();
  __syncthreads();

  float* sE = reinterpret_cast<float*>(smem);
  acc_to_smem<kEpiLd>(sE, acc, wg * 64 + (warp & 3) * 16 + (lane >> 2), lane);
  __syncthreads();
  store_tile<kThreads>(a, sE, tid, p0, cnt, rb);
}

}  // namespace

void launch_ref(const StreamGemmArgs& a, cudaStream_t stream) {
  const int64_t ctas = int64_t(a.grid_tiles) * (a.N / kBM);
  if (ctas == 0) return;
  auto k = a.fp8 ? moe_wgmma_kernel<true> : moe_wgmma_kernel<false>;
  allow_dynamic_smem(k, kSmemBytes);
  k<<<unsigned(ctas), kThreads, kSmemBytes, stream>>>(a);
  SABLE_LAUNCH_OK();
}

}  // namespace sable::cuda::moe_wgmma
