// Paged MLA decode attention for few rows: 16 heads of one token per CTA.
//
// Why a second tensor-core kernel: at batch 1 the 64-head kernels (mma,
// wgmma, ws) are latency-bound. Each CTA moves Q (64 heads x 576 bf16 =
// 72 KB), a 72 KB key tile and a 128 KB partial through one SM and needs
// 224 KB of shared memory, so it starts only when an SM is empty; inside the
// FP8 decode step the attention and its combine cost ~20 us a layer for
// 0.6 MB of keys (record 2026-12-02-d6fd43f-step-skip-and-mla-split-ab.md).
// Here a CTA is 4 warps over 16 heads x 32-key tiles: Q 18 KB, a key tile
// 36 KB, a partial 32 KB, 98 KB of shared memory (two CTAs per SM), and four
// times as many CTAs share the work. Each key is read from L2 by H / 16 CTAs
// instead of H / 64, which is why the dispatcher keeps the 64-head kernels
// for larger batches. It also serves head counts that are a multiple of 16
// but not of 64 (tensor parallelism: 16 or 32 heads per GPU).
//
// Per 32-key tile, 4 warps, mma.sync m16n8k16 (bf16, fp32 accumulation):
//   S = Q K^T [16 x 32]: warp w takes dims 144w..144w+143 (9 k-steps, its Q
//          fragments kept in registers for the whole CTA) of all 32 keys;
//          the four partial S go through shared memory and every warp sums
//          them in warp order (each warp then holds the whole S).
//   softmax online in f32 (log2 domain), computed by every warp alike, so
//          that P is in registers where P V needs it (the accumulator layout
//          of two n-tiles is the A-fragment layout of one k-step).
//   O += P V [16 x 512]: warp w owns output columns 128w..128w+127.
// Keys stream through a two-stage cp.async ring. Q and K tiles use the
// 128-byte-swizzled column-block layout of the other kernels (latent_swz).
// Splits (mla_block) and their combine as in the other kernels.
// An FP8 latent cache takes mla_attention_small_regs.cu: the e4m3 tile
// stays in shared memory and each mma operand is widened in registers. Two
// forms that widened each tile into a BF16 stage for this kernel's code (the
// CTA, or each warp its S slice) lost to it and were removed (H100, 16
// heads, us at 1 / 8 / 64 x 4096: 18.4 / 25.7 / 103.0 and 16.6 / 29.8 /
// 89.5 against 16.6 / 24.4 / 91.8 with four splits, record
// bench/results/2026-12-07-ef5ba01-register-forms.md; at its 6 splits 72.9 us at
// 64 x 4096 against form 1's 88.5, record
// 2026-12-07-3f698ca-form2-splits-and-combine-groups.md), as
// were three more before them (record 2026-12-06-e4521bc-fp8-widen-route.md).
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mma_sync.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

constexpr int kL = kMmaL, kDv = kMmaDv, kHeads = kSmallHeads, kKeys = kSmallKeys;
constexpr int kThreads = 128, kWarps = 4;
constexpr int kChunks = kL / 8;                                                   // 72 16-byte chunks per row
constexpr int kQBytes = kHeads * kL * 2;                                          // 18,432
constexpr int kTileBytes = kKeys * kL * 2;                                        // 36,864
constexpr int kKSteps = kL / 16 / kWarps;                                         // 9 k-steps of 16 dims per warp for S
constexpr int kSPartFloats = kHeads * kKeys;                                      // one warp's partial S
constexpr int kSmemBytes = kQBytes + 2 * kTileBytes + kWarps * kSPartFloats * 4;  // 100,352
static_assert(kL % (16 * kWarps) == 0 && kDv == 128 * kWarps, "warp layout wired to L 576, Dv 512");

__device__ __forceinline__ uint32_t pack_bf16(float a, float b) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__global__ void __launch_bounds__(kThreads, 2) mla_small_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sQ = smem_u32(smem), sK0 = sQ + kQBytes;
  float* spart = reinterpret_cast<float*>(smem + kQBytes + 2 * kTileBytes);  // [warp][16 x 32]

  const MlaBlock blk = mla_block<kHeads, kKeys>(p, int(blockIdx.x));
  const int split = blk.split, t = blk.t, head0 = blk.head0, n = blk.n, tb = blk.tb, te = blk.te;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tb >= te) {  // empty split: the combine skips it by its lse
    if (tid < kHeads) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = -INFINITY;
    return;
  }

  const __nv_bfloat16* cache = static_cast<const __nv_bfloat16*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[t]) * p.max_blocks;
  // Loader: 8 threads per row (128 contiguous bytes per instruction), 16 rows per pass.
  const int lrow = tid >> 3, lch = tid & 7;
  {
    const __nv_bfloat16* src = static_cast<const __nv_bfloat16*>(p.q) + ((int64_t(t) * p.H + head0) + lrow) * kL;
#pragma unroll
    for (int j = 0; j < kChunks / 8; ++j)
      cp_async16(sQ + latent_swz<kHeads>(lrow, lch + 8 * j), src + (lch + 8 * j) * 8, 16);
  }
  auto load_tile = [&](int tile, uint32_t dst) {
#pragma unroll
    for (int pass = 0; pass < kKeys / 16; ++pass) {
      const int r = lrow + pass * 16, key = tile * kKeys + r;
      const __nv_bfloat16* src = cache;
      int bytes = 0;  // keys past the end are zero-filled: p = 0 must not meet NaN garbage
      if (key < n) {
        src = cache + (int64_t(table[key / p.block_size]) * p.block_size + key % p.block_size) * kL;
        bytes = 16;
      }
#pragma unroll
      for (int j = 0; j < kChunks / 8; ++j)
        cp_async16(dst + latent_swz<kKeys>(r, lch + 8 * j), src + (bytes ? (lch + 8 * j) * 8 : 0), bytes);
    }
  };
  load_tile(tb, sK0);
  cp_async_commit();

  // S: this warp's 9 k-steps (dims 144 warp + 16 i); chunk of k-step i's first half.
  const int c0 = warp * kKSteps * 2;
  uint32_t qa[kKSteps][4];
  cp_async_wait_all();
  __syncthreads();  // Q landed (with the first tile)
#pragma unroll
  for (int i = 0; i < kKSteps; ++i) ldsm_x4(qa[i], sQ + latent_swz<kHeads>(lane & 15, c0 + 2 * i + (lane >> 4)));
  float o[16][4];
#pragma unroll
  for (int nt = 0; nt < 16; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[nt][e] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  const int g = lane >> 2, qd = lane & 3;  // accumulator rows g, g + 8; columns 2 qd, 2 qd + 1

  for (int tile = tb; tile < te; ++tile) {
    const int st = (tile - tb) & 1;
    const uint32_t cur = sK0 + st * kTileBytes;
    cp_async_wait_all();
    __syncthreads();  // tile (and Q) landed for all; everyone is done with the previous tile and spart
    if (tile + 1 < te) load_tile(tile + 1, sK0 + (st ^ 1) * kTileBytes);
    cp_async_commit();

    // ---- partial S over this warp's dims: 4 n-tiles of 8 keys ----
    float sacc[4][4];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) sacc[nt][e] = 0.f;
#pragma unroll
    for (int i = 0; i < kKSteps; ++i) {
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        // Keys np*16 + (lane & 7) + 8 (lane >> 4), chunks c, c + 1 (lanes 8-15, 24-31).
        const int brow = np * 16 + (lane & 7) + ((lane >> 4) << 3), bc = c0 + 2 * i + ((lane >> 3) & 1);
        uint32_t b[4];
        ldsm_x4(b, cur + latent_swz<kKeys>(brow, bc));
        mma_bf16(sacc[2 * np], qa[i], b[0], b[1]);
        mma_bf16(sacc[2 * np + 1], qa[i], b[2], b[3]);
      }
    }
    {
      float* dst = spart + warp * kSPartFloats + lane;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dst[(nt * 4 + e) * 32] = sacc[nt][e];
    }
    // The partials.
    __syncthreads();
    // Every warp: S = the four partials in warp order.
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float s = 0.f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) s += spart[w * kSPartFloats + (nt * 4 + e) * 32 + lane];
        sacc[nt][e] = s;
      }

    // ---- online softmax (log2 domain); rows g (e 0, 1) and g + 8 (e 2, 3) ----
    float mx0, mx1;
    mask_scale_max(sacc, tile * kKeys + 2 * qd, n, p.scale_log2, mx0, mx1);
    // Every tile holds at least one visible key, so the new max is finite.
    const float mn0 = fmaxf(m_r[0], quad_max(mx0)), mn1 = fmaxf(m_r[1], quad_max(mx1));
    const float al0 = exp2f(m_r[0] - mn0), al1 = exp2f(m_r[1] - mn1);
    m_r[0] = mn0;
    m_r[1] = mn1;
    uint32_t pa[4][2];  // P in bf16: [n-tile][row g, row g + 8]
    float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      pa[nt][0] = pack_bf16(exp2f(sacc[nt][0] - mn0), exp2f(sacc[nt][1] - mn0));
      pa[nt][1] = pack_bf16(exp2f(sacc[nt][2] - mn1), exp2f(sacc[nt][3] - mn1));
      // The normalizer sums the rounded weights that P V multiplies.
      const __nv_bfloat162 v01 = *reinterpret_cast<const __nv_bfloat162*>(&pa[nt][0]);
      const __nv_bfloat162 v23 = *reinterpret_cast<const __nv_bfloat162*>(&pa[nt][1]);
      ps0 += __low2float(v01) + __high2float(v01);
      ps1 += __low2float(v23) + __high2float(v23);
    }
    l_r[0] = l_r[0] * al0 + ps0;
    l_r[1] = l_r[1] * al1 + ps1;

    // ---- O = O * alpha + P V, this warp's columns 128 warp .. ----
    scale_rows(o, al0, al1);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      // A fragment of keys 16 kk..: a0 (g, 2qd..), a1 (g + 8, 2qd..), a2 (g, 8 + 2qd..), a3 (g + 8, 8 + 2qd..).
      const uint32_t a[4] = {pa[2 * kk][0], pa[2 * kk][1], pa[2 * kk + 1][0], pa[2 * kk + 1][1]};
      const int vrow = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
#pragma unroll
      for (int np = 0; np < 8; ++np) {
        uint32_t b[4];
        ldsm_x4_t(b, cur + latent_swz<kKeys>(vrow, warp * 16 + np * 2 + (lane >> 4)));
        mma_bf16(o[2 * np], a, b[0], b[1]);
        mma_bf16(o[2 * np + 1], a, b[2], b[3]);
      }
    }
  }

  // ---- epilogue: O / l (or the partial and its lse) ----
  const float l0 = quad_sum(l_r[0]), l1 = quad_sum(l_r[1]);
  const float i0 = 1.f / l0, i1 = 1.f / l1;
  const int64_t row0 = int64_t(t) * p.H + head0 + g, row1 = row0 + 8;
  const bool split_out = p.num_splits > 1;
#pragma unroll
  for (int nt = 0; nt < 16; ++nt) {
    const int col = warp * 128 + nt * 8 + 2 * qd;
    if (split_out) {
      float* po = p.part_o + int64_t(split) * p.T * p.H * kDv;
      *reinterpret_cast<float2*>(po + row0 * kDv + col) = make_float2(o[nt][0] * i0, o[nt][1] * i0);
      *reinterpret_cast<float2*>(po + row1 * kDv + col) = make_float2(o[nt][2] * i1, o[nt][3] * i1);
    } else {
      __nv_bfloat16* out = static_cast<__nv_bfloat16*>(p.out);
      *reinterpret_cast<__nv_bfloat162*>(out + row0 * kDv + col) = __floats2bfloat162_rn(o[nt][0] * i0, o[nt][1] * i0);
      *reinterpret_cast<__nv_bfloat162*>(out + row1 * kDv + col) = __floats2bfloat162_rn(o[nt][2] * i1, o[nt][3] * i1);
    }
  }
  if (split_out && warp == 0 && qd == 0) {
    float* lse = p.part_lse + (int64_t(split) * p.T + t) * p.H + head0;
    lse[g] = m_r[0] + log2f(l0);
    lse[g + 8] = m_r[1] + log2f(l1);
  }
}

}  // namespace

void launch_small(const MlaArgs& a, bool fp8_cache, cudaStream_t stream) {
  if (fp8_cache) return launch_small_regs(a, stream);
  const int64_t blocks = int64_t(a.T) * (a.H / kHeads) * a.num_splits;
  if (blocks == 0) return;
  allow_dynamic_smem(mla_small_kernel, kSmemBytes);
  launch_pdl(mla_small_kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

int small_ctas_per_sm(bool fp8_cache) {
  return fp8_cache ? small_regs_ctas_per_sm() : ctas_per_sm(mla_small_kernel, kThreads, kSmemBytes);
}

}  // namespace sable::cuda::mla
