// Paged MLA attention in the absorbed latent space on tensor cores
// (mma.sync m16n8k16 bf16, fp32 accumulation), for DeepSeek-V3's shape:
// L = 576 (512 c_kv + 64 k_pe) for scores, the first Dv = 512 dims as values.
//
// Design (the FlashMLA idea, with mma.sync instead of wgmma): all heads of a
// token share the same latent keys, so one block takes 64 heads of one token
// as the 64 rows of a flash-attention tile and streams the token's keys
// through shared memory 64 at a time, each key read once per block. The
// same kernel serves decode and prefill (a prefill token is a row block whose
// causal limit is its own position), and mixed batches. Split-K over the
// context (num_splits > 1) gives small batches enough blocks; a combine
// kernel merges the partials by their log-sum-exp.
//
// Per 64-key tile, 8 warps:
//   S = Q K^T  [64 x 64]: warp w computes rows 16*(w/2).., keys 32*(w%2)..
//   softmax    online in f32, log2 domain; row max shared through smem;
//              P (bf16) to smem; each row's rescale factor to smem
//   O += P V   [64 x 512]: warp w owns output columns 64w..64w+63, all rows
//              (128 fp32 accumulators per thread)
// Shared memory: Q 72 KB + 2 K stages 144 KB (cp.async double buffer) +
// P 8 KB + row statistics: 227 KB, one block per SM. Q and K tiles are
// stored as 9 column blocks of [64 rows x 64 dims] (128 B per row), each
// 16-byte chunk XOR-swizzled by (row % 8): the canonical 128-byte-swizzle
// K-major layout that wgmma reads through a matrix descriptor, and
// conflict-free for ldmatrix (8 consecutive rows land in 8 bank groups).
//
// Two variants of the S = Q K^T step (template parameter):
//  - mma.sync: warp w computes rows 16*(w/2).., keys 32*(w%2).. from ldmatrix
//    fragments (each warp re-reads its Q and K slices from smem: 432 KB of
//    shared-memory reads per tile, the bound of this variant);
//  - wgmma: warpgroup g computes S[:, 32g : 32g+32] as 36 m64n32k16 wgmmas
//    with both operands read by the tensor cores straight from smem (216 KB
//    per tile). Its accumulator layout equals the mma.sync one of warp
//    (rg = w % 4, kh = w / 4), so the softmax and P V code is shared.
//
// FP8 latent cache (--kv-cache-dtype fp8, template parameter kFp8): key tiles
// arrive as e4m3 by cp.async (half the HBM bytes) into two 36 KB staging
// buffers, double-buffered, that take the place of the second BF16 K stage;
// at the top of each tile the block widens the staged tile into the one BF16
// K stage (e4m3 -> bf16 is exact), which the same S and P V code then reads.
// Results equal the BF16 kernel's on a BF16 cache holding the same values,
// bit for bit. Cost: one more barrier and a shared-memory pass per tile.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mma_sync.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

constexpr int kL = kMmaL, kDv = kMmaDv, kRows = kMmaHeads, kKeys = kMmaKeys;
constexpr int kThreads = 256;
constexpr int kRowBytes = kL * 2;               // 1152
constexpr int kTileBytes = kRows * kRowBytes;   // 73728 (Q tile and K tile alike)
constexpr int kPBytes = kRows * kKeys * 2;      // 8192
constexpr int kColBlockBytes = kRows * 128;    // 8192: one [64 x 64] column block
constexpr int kStatFloats = 2 * 64 + 2 * 64 + 64 + 64;
constexpr int kSmemBytes = 1024 /* alignment slack */ + 3 * kTileBytes + kPBytes + kStatFloats * 4;
constexpr int kFp8TileBytes = kRows * kL;  // 36864: an e4m3 key tile, row-major (two fit one BF16 stage)
static_assert(kKeys == 64 && kRows == 64, "tile shape is wired into the warp layout");


// Byte offset of 16-byte chunk `chunk` (0..71) of row `row` (0..63) in a Q/K tile.
__device__ __forceinline__ uint32_t swz(int row, int chunk) { return latent_swz<kRows>(row, chunk); }

// ---- wgmma (sm_90a): descriptors and fences in sm90_async.cuh ----
// Keeps the compiler from moving accumulator accesses across wgmma fences.
__device__ __forceinline__ void fence_regs(float (&d)[4][4]) {
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[i][e])::"memory");
}
// D[64 x 32] (+)= A[64 x 16] B[16 x 32]^T, both from shared memory.
__device__ __forceinline__ void wgmma_m64n32k16(float (&d)[4][4], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]),
        "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3])
      : "l"(da), "l"(db), "r"(scale_d));
}
// The same for the P tile (8 chunks per row).
__device__ __forceinline__ uint32_t pswz(int row, int chunk) {
  return uint32_t(row * 8 + ((chunk ^ row) & 7)) * 16u;
}

template <bool kWgmmaS, bool kFp8>
__global__ void __launch_bounds__(kThreads, 1) mla_mma_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms must sit on 1024-byte boundaries of the shared window.
  const uint32_t raw = smem_u32(smem_raw);
  const uint32_t sQ = (raw + 1023u) & ~1023u;
  uint8_t* smem = smem_raw + (sQ - raw);
  const uint32_t sK0 = sQ + kTileBytes;
  // kFp8: the e4m3 staging buffers, where the BF16 path keeps its second K stage.
  const uint32_t sF8 = sQ + 2 * kTileBytes;
  const uint8_t* pF8 = smem + 2 * kTileBytes;
  const uint32_t sP = sQ + 3 * kTileBytes;
  uint8_t* pP = smem + 3 * kTileBytes;
  float* red_max = reinterpret_cast<float*>(smem + 3 * kTileBytes + kPBytes);  // [2][64]
  float* red_sum = red_max + 128;                                              // [2][64]
  float* s_alpha = red_sum + 128;                                              // [64]
  float* s_m = s_alpha + 64;                                                   // [64]

  const MlaBlock blk = mla_block(p, int(blockIdx.x));
  const int split = blk.split, t = blk.t, head0 = blk.head0, n = blk.n, tb = blk.tb, te = blk.te;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

  if (tb >= te) {  // empty split: the combine skips it by its lse
    if (tid < kRows) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = -INFINITY;
    return;
  }

  const __nv_bfloat16* cache = static_cast<const __nv_bfloat16*>(p.cache);
  const uint8_t* cache8 = static_cast<const uint8_t*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[t]) * p.max_blocks;

  // Loader mapping: 8 threads per row (128 contiguous bytes per row per
  // instruction), 32 rows per pass, 9 chunks per thread per pass.
  const int lrow = tid >> 3, lch = tid & 7;
  {
    const __nv_bfloat16* qs = static_cast<const __nv_bfloat16*>(p.q) + (int64_t(t) * p.H + head0) * kL;
#pragma unroll
    for (int pass = 0; pass < 2; ++pass) {
      const int r = lrow + pass * 32;
      const __nv_bfloat16* src = qs + int64_t(r) * kL;
#pragma unroll
      for (int j = 0; j < 9; ++j) cp_async16(sQ + swz(r, lch + 8 * j), src + (lch + 8 * j) * 8, 16);
    }
  }
  auto load_tile = [&](int tile, uint32_t dst) {
#pragma unroll
    for (int pass = 0; pass < 2; ++pass) {
      const int r = lrow + pass * 32;
      const int key = tile * kKeys + r;
      const __nv_bfloat16* src = cache;
      int bytes = 0;  // keys past the end are zero-filled: p = 0 must not meet NaN garbage
      if (key < n) {
        const int blk = table[key / p.block_size];
        src = cache + (int64_t(blk) * p.block_size + key % p.block_size) * kL;
        bytes = 16;
      }
#pragma unroll
      for (int j = 0; j < 9; ++j)
        cp_async16(dst + swz(r, lch + 8 * j), src + (bytes ? (lch + 8 * j) * 8 : 0), bytes);
    }
  };
  if constexpr (kFp8)
    load_key_tile_fp8<kThreads>(cache8, table, p.block_size, tb * kKeys, n, sF8, tid);
  else
    load_tile(tb, sK0);
  cp_async_commit();

  // S-phase role: rows rg*16.., keys kh*32..; this thread's rows r0, r0 + 8.
  // (wgmma: warpgroup kh = warp / 4, and warp % 4 owns rows 16 (warp % 4)..)
  const int rg = kWgmmaS ? (warp & 3) : (warp >> 1), kh = kWgmmaS ? (warp >> 2) : (warp & 1);
  const int r0 = rg * 16 + (lane >> 2);
  // ldmatrix row addresses (relative), per unrolled k-step u of a 64-dim block.
  uint32_t a_off[4], b_off[2][4];
  {
    const int arow = rg * 16 + (lane & 15), ac = lane >> 4;
#pragma unroll
    for (int u = 0; u < 4; ++u) a_off[u] = sQ + arow * 128 + ((((u * 2 + ac) ^ arow) & 7) << 4);
#pragma unroll
    for (int np = 0; np < 2; ++np) {
      const int brow = kh * 32 + np * 16 + (lane & 7) + ((lane >> 4) << 3), bc = (lane >> 3) & 1;
#pragma unroll
      for (int u = 0; u < 4; ++u) b_off[np][u] = brow * 128 + ((((u * 2 + bc) ^ brow) & 7) << 4);
    }
  }

  float o[4][8][4];
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][nt][e] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  const int cb = warp * 64;  // PV-phase output columns

  for (int tile = tb; tile < te; ++tile) {
    const int st = (tile - tb) & 1;
    const uint32_t cur = kFp8 ? sK0 : sK0 + st * kTileBytes;
    cp_async_wait_all();
    if constexpr (kWgmmaS && !kFp8) fence_proxy_async();
    __syncthreads();  // tile landed for all; everyone is done with the previous tile
    if constexpr (kFp8) {
      if (tile + 1 < te)
        load_key_tile_fp8<kThreads>(cache8, table, p.block_size, (tile + 1) * kKeys, n, sF8 + (st ^ 1) * kFp8TileBytes,
                                    tid);
      cp_async_commit();
      widen_key_tile<kKeys, kThreads>(pF8 + st * kFp8TileBytes, smem + kTileBytes, tid);
      if constexpr (kWgmmaS) fence_proxy_async();  // generic-proxy stores, then wgmma reads them
      __syncthreads();
    } else {
      if (tile + 1 < te) load_tile(tile + 1, sK0 + (st ^ 1) * kTileBytes);
      cp_async_commit();
    }

    // ---- S = Q K^T ----
    float sacc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) sacc[i][e] = 0.f;
    if constexpr (kWgmmaS) {
      const uint64_t da = kmajor_desc(sQ), db = kmajor_desc(cur + kh * 32 * 128);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kL / 16; ++ks) {
        const uint32_t off = uint32_t((ks >> 2) * kColBlockBytes + (ks & 3) * 32) >> 4;
        wgmma_m64n32k16(sacc, da + off, db + off, ks > 0 ? 1 : 0);
      }
      wgmma_commit();
      wgmma_wait0();
      fence_regs(sacc);
    } else {
#pragma unroll 1
      for (int kb = 0; kb < kL / 64; ++kb) {
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          uint32_t a[4], b[4];
          ldsm_x4(a, a_off[u] + kb * kColBlockBytes);
          ldsm_x4(b, cur + b_off[0][u] + kb * kColBlockBytes);
          mma_bf16(sacc[0], a, b[0], b[1]);
          mma_bf16(sacc[1], a, b[2], b[3]);
          ldsm_x4(b, cur + b_off[1][u] + kb * kColBlockBytes);
          mma_bf16(sacc[2], a, b[0], b[1]);
          mma_bf16(sacc[3], a, b[2], b[3]);
        }
      }
    }

    // ---- online softmax (log2 domain) ----
    float mx0, mx1;
    mask_scale_max(sacc, tile * kKeys + kh * 32 + (lane & 3) * 2, n, p.scale_log2, mx0, mx1);
    mx0 = quad_max(mx0);
    mx1 = quad_max(mx1);
    if ((lane & 3) == 0) {
      red_max[kh * 64 + r0] = mx0;
      red_max[kh * 64 + r0 + 8] = mx1;
    }
    __syncthreads();
    // Every tile holds at least one visible key, so the new max is finite.
    const float mn0 = fmaxf(m_r[0], fmaxf(red_max[r0], red_max[64 + r0]));
    const float mn1 = fmaxf(m_r[1], fmaxf(red_max[r0 + 8], red_max[64 + r0 + 8]));
    const float al0 = exp2f(m_r[0] - mn0), al1 = exp2f(m_r[1] - mn1);
    m_r[0] = mn0;
    m_r[1] = mn1;
    float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const __nv_bfloat162 v01 =
          __floats2bfloat162_rn(exp2f(sacc[nt][0] - mn0), exp2f(sacc[nt][1] - mn0));
      const __nv_bfloat162 v23 =
          __floats2bfloat162_rn(exp2f(sacc[nt][2] - mn1), exp2f(sacc[nt][3] - mn1));
      // The normalizer sums the rounded weights that P V multiplies.
      ps0 += __low2float(v01) + __high2float(v01);
      ps1 += __low2float(v23) + __high2float(v23);
      const int chunk = kh * 4 + nt;
      *reinterpret_cast<__nv_bfloat162*>(pP + pswz(r0, chunk) + (lane & 3) * 4) = v01;
      *reinterpret_cast<__nv_bfloat162*>(pP + pswz(r0 + 8, chunk) + (lane & 3) * 4) = v23;
    }
    l_r[0] = l_r[0] * al0 + ps0;
    l_r[1] = l_r[1] * al1 + ps1;
    if (kh == 0 && (lane & 3) == 0) {
      s_alpha[r0] = al0;
      s_alpha[r0 + 8] = al1;
    }
    __syncthreads();

    // ---- O = O * alpha + P V ----
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
      const float lo = s_alpha[mt * 16 + (lane >> 2)], hi = s_alpha[mt * 16 + 8 + (lane >> 2)];
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        o[mt][nt][0] *= lo;
        o[mt][nt][1] *= lo;
        o[mt][nt][2] *= hi;
        o[mt][nt][3] *= hi;
      }
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      uint32_t a[4][4];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) ldsm_x4(a[mt], sP + pswz(mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
      const int vrow = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        uint32_t b[4];
        ldsm_x4_t(b, cur + swz(vrow, (cb >> 3) + np * 2 + (lane >> 4)));
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          mma_bf16(o[mt][2 * np], a[mt], b[0], b[1]);
          mma_bf16(o[mt][2 * np + 1], a[mt], b[2], b[3]);
        }
      }
    }
  }

  // ---- epilogue: normalizers, then O / l (or the partial and its lse) ----
  const float l0 = quad_sum(l_r[0]), l1 = quad_sum(l_r[1]);
  if ((lane & 3) == 0) {
    red_sum[kh * 64 + r0] = l0;
    red_sum[kh * 64 + r0 + 8] = l1;
    if (kh == 0) {
      s_m[r0] = m_r[0];
      s_m[r0 + 8] = m_r[1];
    }
  }
  __syncthreads();
  const bool split_out = p.num_splits > 1;
#pragma unroll
  for (int mt = 0; mt < 4; ++mt) {
    const int ra = mt * 16 + (lane >> 2), rb = ra + 8;
    const float ia = 1.f / (red_sum[ra] + red_sum[64 + ra]);
    const float ib = 1.f / (red_sum[rb] + red_sum[64 + rb]);
    const int64_t rowa = int64_t(t) * p.H + head0 + ra, rowb = rowa + 8;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const int col = cb + nt * 8 + (lane & 3) * 2;
      if (split_out) {
        float* po = p.part_o + int64_t(split) * p.T * p.H * kDv;
        *reinterpret_cast<float2*>(po + rowa * kDv + col) = make_float2(o[mt][nt][0] * ia, o[mt][nt][1] * ia);
        *reinterpret_cast<float2*>(po + rowb * kDv + col) = make_float2(o[mt][nt][2] * ib, o[mt][nt][3] * ib);
      } else {
        __nv_bfloat16* out = static_cast<__nv_bfloat16*>(p.out);
        *reinterpret_cast<__nv_bfloat162*>(out + rowa * kDv + col) =
            __floats2bfloat162_rn(o[mt][nt][0] * ia, o[mt][nt][1] * ia);
        *reinterpret_cast<__nv_bfloat162*>(out + rowb * kDv + col) =
            __floats2bfloat162_rn(o[mt][nt][2] * ib, o[mt][nt][3] * ib);
      }
    }
  }
  if (split_out && tid < kRows)
    p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = s_m[tid] + log2f(red_sum[tid] + red_sum[64 + tid]);
}

}  // namespace

void launch_mma(const MlaArgs& a, bool wgmma, bool fp8_cache, cudaStream_t stream) {
  const int64_t blocks = int64_t(a.T) * (a.H / kRows) * a.num_splits;
  if (blocks == 0) return;
  auto kernel = wgmma ? (fp8_cache ? mla_mma_kernel<true, true> : mla_mma_kernel<true, false>)
                      : (fp8_cache ? mla_mma_kernel<false, true> : mla_mma_kernel<false, false>);
  allow_dynamic_smem(kernel, kSmemBytes);
  launch_pdl(kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla
