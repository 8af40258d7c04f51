// Paged MLA attention in the absorbed latent space for DeepSeek-V3's shape
// (L = 576, Dv = 512, BF16 q / cache / out), warp-specialized on wgmma with
// both consumer warpgroups computing scores: the "seesaw" schedule of
// FlashMLA, written from its description.
//
// Why: in the ws kernel (mla_attention_ws.cu) warpgroup 0 alone computes
// S = Q K^T, 36 m64n64k16 wgmmas per tile at ~89 clk each (against 32 of
// math) while warpgroup 1 waits; a second warpgroup issuing its own S chain
// at the same time costs almost nothing (measured: two chains took 3,785 clk
// where one took 3,255). So here the tiles go in pairs (a, b) = (2k, 2k+1):
// warpgroup 0 computes S_a while warpgroup 1 computes S_b, and each
// warpgroup keeps half of O (dims 0-255 / 256-511) and multiplies both
// tiles' P into it.
//
// One running max per row, shared through smem, keeps the halves exact:
//   wg0: S_a; m_a = max(m, rowmax S_a), al_a = 2^(m - m_a), P_a = 2^(S_a - m_a)
//        -> P_a, m_a, al_a to smem (A ready); O_L = O_L al_a + P_a V_a[:, :256]
//   wg1: S_b; after A ready: O_R = O_R al_a + P_a V_a[:, 256:] (issued, then
//        while it runs) m_b = max(m_a, rowmax S_b), al_b = 2^(m_a - m_b),
//        P_b -> P_b, m_b, al_b to smem (B ready); O_R = O_R al_b + P_b V_b[:, 256:]
//   wg0: after B ready: O_L = O_L al_b + P_b V_b[:, :256]; m = m_b.
// The normalizer is kept in two parts that end at the same scale: wg0's
// l0 = (l0 al_a + sum P_a) al_b, wg1's l1 = l1 al_a al_b + sum P_b; l = l0 + l1.
//
// P of a tile goes into that tile's own stage, over its rope column block
// (dims 512-575: S has read it, P V never does), so P costs no extra shared
// memory and is freed with the stage. Stage 0 always holds a tiles, stage 1
// b tiles. Producer: warpgroup 2 as in ws (produce_tiles, mla_wgmma.cuh).
// Shared memory: Q 72 KB + 2 stages x 72 KB + row statistics.
//
// Numerics are the ws kernel's up to summation order (scores f32, softmax in
// the log2 domain, P rounded to bf16, the normalizer summing the rounded
// weights).
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mla_wgmma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

using namespace wg;  // NOLINT: the shared tile shape and wgmma helpers (mla_wgmma.cuh)

constexpr int kThreads = 384;
constexpr int kStatBytes = 7 * 64 * 4;  // m_a, al_a, m_b, al_b, l0, l1, m per row
constexpr int kBarBytes = 4 * 8;        // full[2], empty[2]
constexpr int kSmemBytes = 1024 /* alignment slack */ + 3 * kTileBytes + kStatBytes + kBarBytes;
constexpr uint32_t kPOffset = 8 * kColBlockBytes;  // P over a stage's rope column block
// Named barriers (0 is __syncthreads).
constexpr int kBarAReady = 1, kBarBReady = 2, kBarEpilogue = 3, kBarPLocal0 = 4, kBarPLocal1 = 5;

__global__ void __launch_bounds__(kThreads, 1) mla_seesaw_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms sit on 1024-byte boundaries of the shared window.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const uint32_t sQ = smem_u32(smem), sK0 = sQ + kTileBytes, sK1 = sK0 + kTileBytes;
  uint8_t* pP0 = smem + kTileBytes + kPOffset;                    // P_a, over stage 0's rope block
  uint8_t* pP1 = pP0 + kTileBytes;                                // P_b, over stage 1's
  float* s_ma = reinterpret_cast<float*>(smem + 3 * kTileBytes);  // [64] each
  float* s_ala = s_ma + 64;
  float* s_mb = s_ala + 64;
  float* s_alb = s_mb + 64;
  float* s_l0 = s_alb + 64;
  float* s_l1 = s_l0 + 64;
  float* s_m = s_l1 + 64;
  const uint32_t full0 = sQ + 3 * kTileBytes + kStatBytes, empty0 = full0 + 16;  // [2] each, 8 bytes apart

  const MlaBlock blk = mla_block(p, int(blockIdx.x));
  const int tid = threadIdx.x;
  if (blk.tb >= blk.te) {  // empty split (the whole CTA, before any barrier): the combine skips it by its lse
    if (tid < kRows) p.part_lse[(int64_t(blk.split) * p.T + blk.t) * p.H + blk.head0 + tid] = -INFINITY;
    return;
  }
  if (tid == 0) {
    for (int s = 0; s < 2; ++s) {
      mbar_init(full0 + 8 * s, 128);   // the producer's threads, once their copies landed
      mbar_init(empty0 + 8 * s, 256);  // every consumer thread, once its wgmma reads are done
    }
    mbar_fence_init();
  }
  __syncthreads();  // the only CTA-wide barrier: the producer leaves early

  // The warpgroup index, provably warp-uniform (a shuffle from lane 0):
  // branching on tid >> 7 directly makes ptxas treat the consumer paths as
  // divergent and serialize every wgmma (C7520 "wgmma.mma_async
  // instructions are serialized"), a wait after each one.
  const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
  if (wg == 2) {
    setmaxnreg_dec<40>();
    produce_tiles(p, blk, sQ, sK0, full0, empty0, tid - 256);
    return;  // no barrier counts the producer from here on
  }

  setmaxnreg_inc<232>();
  const int warp = (tid >> 5) & 3, lane = tid & 31;
  const int r0 = warp * 16 + (lane >> 2), q4 = lane & 3;  // this thread's rows r0, r0 + 8 and column pairs 2 q4
  float o[128];  // O[:, 256 wg + ...]: column 8 j + 2 q4 (+1) of rows r0 (o[4j], o[4j+1]) and r0 + 8 (o[4j+2..3])
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  float s[32];
  const int nt = blk.te - blk.tb;

  if (wg == 0) {
    bool pending_b = false;  // P_b V_b of the previous pair is in flight
    for (int k = 0; 2 * k < nt; ++k) {
      const int tile_a = blk.tb + 2 * k;
      const bool has_b = 2 * k + 1 < nt;
      mbar_wait(full0, k & 1);
      fence_proxy_async();  // the tile's cp.async writes, then wgmma's reads
      issue_s(s, sQ, sK0);
      if (pending_b) {  // the previous pair's P_b V_b (committed before S_a): release its tile at once
        wgmma_wait<1>();
        mbar_arrive(empty0 + 8);
      }
      wgmma_wait0();  // S_a
      wgmma_fence_operands(s);
      wgmma_fence_operands(o);

      float al[2], ps[2];
      softmax_tile(s, tile_a * kKeys + 2 * q4, blk.n, p.scale_log2, m_r, al, ps);
      store_p(s, pP0, r0, q4);
      if (q4 == 0) {
        s_ma[r0] = m_r[0];
        s_ma[r0 + 8] = m_r[1];
        s_ala[r0] = al[0];
        s_ala[r0 + 8] = al[1];
      }
      fence_proxy_async();  // P's generic-proxy stores, then the wgmma reads of both warpgroups
      named_barrier_arrive(kBarAReady, 256);
      named_barrier_sync(kBarPLocal0, 128);  // all of this warpgroup's rows of P_a are in

      scale_rows(o, al[0], al[1]);
      issue_pv(o, smem_u32(pP0), sK0, 0);  // O_L = O_L al_a + P_a V_a
      l_r[0] = l_r[0] * al[0] + ps[0];
      l_r[1] = l_r[1] * al[1] + ps[1];
      wgmma_wait0();
      wgmma_fence_operands(o);
      mbar_arrive(empty0);  // done with tile a

      pending_b = has_b;
      if (has_b) {
        named_barrier_sync(kBarBReady, 256);  // warpgroup 1 wrote P_b, m_b, al_b
        const float alb0 = s_alb[r0], alb1 = s_alb[r0 + 8];
        m_r[0] = s_mb[r0];
        m_r[1] = s_mb[r0 + 8];
        scale_rows(o, alb0, alb1);
        l_r[0] *= alb0;
        l_r[1] *= alb1;
        issue_pv(o, smem_u32(pP1), sK1, 0);  // O_L = O_L al_b + P_b V_b, waited with the next S_a
      }
    }
    wgmma_wait0();
    wgmma_fence_operands(o);
  } else {
    for (int k = 0; 2 * k < nt; ++k) {
      const int tile_b = blk.tb + 2 * k + 1;
      const bool has_b = 2 * k + 1 < nt;
      if (has_b) {
        mbar_wait(full0 + 8, k & 1);
        fence_proxy_async();
        issue_s(s, sQ, sK1);
      }
      named_barrier_sync(kBarAReady, 256);  // warpgroup 0 wrote P_a, m_a, al_a
      // Tile a landed before warpgroup 0 computed S from it; the wait (already
      // complete, so immediate) gives this warpgroup its own acquire.
      mbar_wait(full0, k & 1);
      fence_proxy_async();
      const float ala0 = s_ala[r0], ala1 = s_ala[r0 + 8];
      m_r[0] = s_ma[r0];
      m_r[1] = s_ma[r0 + 8];
      scale_rows(o, ala0, ala1);
      l_r[0] *= ala0;
      l_r[1] *= ala1;
      issue_pv(o, smem_u32(pP0), sK0, 1);  // O_R = O_R al_a + P_a V_a
      if (has_b) {
        wgmma_wait<1>();  // S_b (committed before P_a V_a)
        wgmma_fence_operands(s);
        float al[2], ps[2];
        softmax_tile(s, tile_b * kKeys + 2 * q4, blk.n, p.scale_log2, m_r, al, ps);
        store_p(s, pP1, r0, q4);
        if (q4 == 0) {
          s_mb[r0] = m_r[0];
          s_mb[r0 + 8] = m_r[1];
          s_alb[r0] = al[0];
          s_alb[r0 + 8] = al[1];
        }
        fence_proxy_async();
        named_barrier_arrive(kBarBReady, 256);
        named_barrier_sync(kBarPLocal1, 128);  // all of this warpgroup's rows of P_b are in
        wgmma_wait0();
        wgmma_fence_operands(o);
        mbar_arrive(empty0);  // done with tile a
        scale_rows(o, al[0], al[1]);
        l_r[0] = l_r[0] * al[0] + ps[0];
        l_r[1] = l_r[1] * al[1] + ps[1];
        issue_pv(o, smem_u32(pP1), sK1, 1);  // O_R = O_R al_b + P_b V_b
        wgmma_wait0();
        wgmma_fence_operands(o);
        mbar_arrive(empty0 + 8);  // done with tile b
      } else {
        wgmma_wait0();
        wgmma_fence_operands(o);
        mbar_arrive(empty0);
      }
    }
  }

  // ---- epilogue: O / l (or the normalized partial and its lse) ----
  // Row normalizers: the quad's partial sums of this warpgroup's part.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 1);
    l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 2);
  }
  if (q4 == 0) {
    float* s_lw = wg == 0 ? s_l0 : s_l1;
    s_lw[r0] = l_r[0];
    s_lw[r0 + 8] = l_r[1];
    if (wg == 0) {
      s_m[r0] = m_r[0];
      s_m[r0 + 8] = m_r[1];
    }
  }
  named_barrier_sync(kBarEpilogue, 256);
  write_out(p, blk, o, wg, r0, 1.f / (s_l0[r0] + s_l1[r0]), 1.f / (s_l0[r0 + 8] + s_l1[r0 + 8]));
  if (p.num_splits > 1 && tid < kRows)
    p.part_lse[(int64_t(blk.split) * p.T + blk.t) * p.H + blk.head0 + tid] = s_m[tid] + log2f(s_l0[tid] + s_l1[tid]);
}

}  // namespace

void launch_seesaw(const MlaArgs& a, cudaStream_t stream) {
  const int64_t blocks = int64_t(a.T) * (a.H / kRows) * a.num_splits;
  if (blocks == 0) return;
  allow_dynamic_smem(mla_seesaw_kernel, kSmemBytes);
  launch_pdl(mla_seesaw_kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla
