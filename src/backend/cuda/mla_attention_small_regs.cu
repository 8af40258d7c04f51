// The 16-head MLA decode kernel on an FP8 latent cache with no BF16 stage:
// the e4m3 key tile stays in shared memory as it came, and every mma operand
// is widened in registers right before its mma (launch_small takes it for
// every FP8 cache).
//
// Why: in the removed forms a tile was widened into a 36 KB BF16 stage that S and
// P V then read, which costs a pass and a barrier a tile and 100 KB of shared
// memory a CTA (two CTAs an SM). The kernel is bound by its per-tile chain
// (docs/kernels-attention.md, "What bounds it"), so this form removes the
// pass and fits three CTAs an SM (59 KB: Q, two e4m3 stages).
//
// Operands straight from e4m3 bytes. mma.sync m16n8k16 wants, per lane (g =
// lane / 4, q = lane % 4), B pairs of consecutive k for one n. Bytes give
// that only up to a permutation, and a permutation inside a k-step is free
// as long as the other operand follows it:
//   S = Q K^T, k = latent dims: logical k 2q, 2q+1 / 2q+8, 2q+9 of a k-step
//     are dims 4q, 4q+1 / 4q+2, 4q+3 of its 16, so one 32-bit load of a key
//     row gives both B registers; Q's A fragments are read in the same order.
//   O = P V, k = keys, n = output dims: logical keys 2q, 2q+1 / 2q+8, 2q+9 of
//     a 16-key step are keys 4q .. 4q+3; a lane loads one 32-bit word (4
//     dims) from each of those 4 key rows and transposes the 4 x 4 bytes
//     with 4 byte permutes, which gives B for 4 n-tiles at once. So n-tile
//     4 pp + i, column c is dim 32 pp + 4 c + i of the warp's 128, and a
//     lane's accumulators hold 8 consecutive dims of each row (one 16-byte
//     store each in the epilogue).
//   S's columns follow P V's key order: S n-tile nt, column c reads key row
//     16 (nt / 2) + 4 (c / 2) + 2 (nt % 2) + c % 2.
// Stage layout: 32 key rows of 640 bytes (576 + padding), 16-byte chunk j
// of row r at (j ^ h(r)) with h(r) = 2 ((r / 4) % 4) + r % 2. Both access
// patterns above are then free of bank conflicts (the 3-bit XOR needs the
// row padded to 40 chunks).
//
// Operands in f16: e4m3x2 -> f16x2 is one instruction and exact, and P in
// f16 is finer than bf16. For S, each Q row is scaled by a power of two so
// that its largest magnitude is in [2^14, 2^15) (bf16 -> f16 then exact
// except for values 2^28 below the row's largest), and the scale is taken
// back out of the scores exactly. Two more forms were measured and removed:
// bf16 operands everywhere (e4m3 -> f16x2 -> f32 -> bf16x2, the BF16 path's
// products) and bf16 S with f16 P V, slower at every shape (H100, 16 heads,
// 64 x 4096: 114.9 and 102.3 us against 91.8; SASS a tile and warp 1,311
// and 1,112 against 898; record bench/results/2026-12-07-ef5ba01-register-forms.md).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mma_sync.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

constexpr int kL = kMmaL, kDv = kMmaDv, kHeads = kSmallHeads, kKeys = kSmallKeys;
constexpr int kThreads = 128, kWarps = 4;
constexpr int kQBytes = kHeads * kL * 2;        // 18,432: Q, bf16, latent_swz layout
constexpr int kRowBytes = 640;                  // an e4m3 key row, 576 bytes padded to 40 chunks
constexpr int kStageBytes = kKeys * kRowBytes;  // 20,480
constexpr int kKSteps = kL / 16 / kWarps;       // 9 k-steps of S per warp
constexpr int kSPartFloats = kHeads * kKeys;    // one warp's partial S
constexpr int kRedOffset = kQBytes + 2 * kStageBytes;
constexpr int kSmemBytes = kRedOffset + kWarps * kHeads * 4;  // 59,648: three CTAs an SM
static_assert(kWarps * kSPartFloats * 4 <= kQBytes, "the partial S live where Q was");
static_assert(kL % (16 * kWarps) == 0 && kDv == 128 * kWarps && kKeys == 32, "wired to L 576, Dv 512, 32 keys");

// Byte offset of 16-byte chunk j (0..35) of key row r in a stage.
__device__ __forceinline__ uint32_t f8_swz(int r, int j) {
  return uint32_t(r * kRowBytes + ((j ^ ((((r >> 2) & 3) << 1) | (r & 1))) << 4));
}

// Shared-memory reads in program order with the mmas (asm volatile): as
// plain loads the compiler hoists more of them and spills 12 bytes. Shared
// addresses, so that a register plus a constant folds into the load.
__device__ __forceinline__ uint32_t lds32(uint32_t addr) {
  uint32_t v;
  asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(addr));
  return v;
}
__device__ __forceinline__ uint2 lds64(uint32_t addr) {
  uint2 v;
  asm volatile("ld.shared.v2.u32 {%0,%1}, [%2];\n" : "=r"(v.x), "=r"(v.y) : "r"(addr));
  return v;
}

// Two e4m3 values, the low or (hi) the high 16 bits of w, low byte first, as
// an f16x2 or bf16x2 pair, low element first; both exact. The halves through
// mov.b32 {lo, hi}: the conversion then reads the high half in place (F2FP
// on R.H1), where a shift first cost an instruction a pair.
__device__ __forceinline__ uint32_t e4m3x2_f16x2(uint32_t w, bool hi) {
  uint32_t d;
  if (hi)
    asm("{\n .reg .b16 lo, hi;\n mov.b32 {lo, hi}, %1;\n cvt.rn.f16x2.e4m3x2 %0, hi;\n}" : "=r"(d) : "r"(w));
  else
    asm("{\n .reg .b16 lo, hi;\n mov.b32 {lo, hi}, %1;\n cvt.rn.f16x2.e4m3x2 %0, lo;\n}" : "=r"(d) : "r"(w));
  return d;
}
__device__ __forceinline__ uint32_t pack_f16(float a, float b) {
  const __half2 v = __floats2half2_rn(a, b);
  return *reinterpret_cast<const uint32_t*>(&v);
}
__device__ __forceinline__ float sum_f16x2(uint32_t v) {
  const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&v));
  return f.x + f.y;
}

// 2^e with e chosen so that m * 2^e is in [2^14, 2^15) (1 for m = 0 or not
// finite; e capped so that 2^e and 2^-e stay normal floats).
__device__ __forceinline__ int f16_exponent(float m) {
  if (!(m > 0.f) || !isfinite(m)) return 0;
  int ex;
  frexpf(m, &ex);  // m = f 2^ex, f in [0.5, 1)
  return min(15 - ex, 100);
}

__global__ void __launch_bounds__(kThreads, 3) mla_small_regs_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sQ = smem_u32(smem), sK0 = sQ + kQBytes;
  float* spart = reinterpret_cast<float*>(smem);             // [warp][16 x 32], over Q once Q is in registers
  float* red = reinterpret_cast<float*>(smem + kRedOffset);  // [warp][16]: per-row |Q| maxima

  const MlaBlock blk = mla_block<kHeads, kKeys>(p, int(blockIdx.x));
  const int split = blk.split, t = blk.t, head0 = blk.head0, n = blk.n, tb = blk.tb, te = blk.te;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  if (tb >= te) {  // empty split: the combine skips it by its lse
    if (tid < kHeads) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = -INFINITY;
    return;
  }

  const uint8_t* cache8 = static_cast<const uint8_t*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[t]) * p.max_blocks;
  {  // Q: 8 threads per row, 16 rows per pass
    const int lrow = tid >> 3, lch = tid & 7;
    const __nv_bfloat16* src = static_cast<const __nv_bfloat16*>(p.q) + ((int64_t(t) * p.H + head0) + lrow) * kL;
#pragma unroll
    for (int j = 0; j < kL / 64; ++j)
      cp_async16(sQ + latent_swz<kHeads>(lrow, lch + 8 * j), src + (lch + 8 * j) * 8, 16);
  }
  // A key tile: 4 threads per row, chunks 4 j + tid % 4; keys at or past n
  // zero-filled (p = 0 must not meet NaN garbage).
  auto load_tile = [&](int tile, uint32_t dst) {
    const int r = tid >> 2, key = tile * kKeys + r;
    const uint8_t* src = cache8;
    int bytes = 0;
    if (key < n) {
      src = cache8 + (int64_t(table[key / p.block_size]) * p.block_size + key % p.block_size) * kL;
      bytes = 16;
    }
#pragma unroll
    for (int j = 0; j < kL / 64; ++j) {
      const int c = j * 4 + (tid & 3);
      cp_async16(dst + f8_swz(r, c), src + (bytes ? c * 16 : 0), bytes);
    }
  };
  load_tile(tb, sK0);
  cp_async_commit();

  const int g = lane >> 2, qd = lane & 3;  // accumulator rows g, g + 8; fragment lane coordinates
  // Q fragments of this warp's 9 k-steps (k-step 4 i + warp: dims 64 i + 16 warp ..), in S's k
  // order: a0 / a2 = row g, dims 4 qd, 4 qd + 1 / 4 qd + 2, 4 qd + 3; a1 / a3 row g + 8.
  uint32_t qa[kKSteps][4];
  cp_async_wait_all();
  __syncthreads();  // Q landed (with the first tile)
#pragma unroll
  for (int i = 0; i < kKSteps; ++i) {
    const int j = 4 * i + warp, chunk = 2 * j + (qd >> 1), off = (qd & 1) * 8;
    const uint2 r0 = lds64(sQ + latent_swz<kHeads>(g, chunk) + off);
    const uint2 r1 = lds64(sQ + latent_swz<kHeads>(g + 8, chunk) + off);
    qa[i][0] = r0.x;
    qa[i][2] = r0.y;
    qa[i][1] = r1.x;
    qa[i][3] = r1.y;
  }
  float sc0, sc1;  // score scale of rows g, g + 8 (the softmax's, over Q's row scale)
  {
    float m0 = 0.f, m1 = 0.f;
#pragma unroll
    for (int i = 0; i < kKSteps; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const __nv_bfloat162 b = *reinterpret_cast<const __nv_bfloat162*>(&qa[i][e]);
        const float m = fmaxf(fabsf(__low2float(b)), fabsf(__high2float(b)));
        if (e & 1)
          m1 = fmaxf(m1, m);
        else
          m0 = fmaxf(m0, m);
      }
    m0 = quad_max(m0);
    m1 = quad_max(m1);
    if (qd == 0) {
      red[warp * kHeads + g] = m0;
      red[warp * kHeads + g + 8] = m1;
    }
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      m0 = fmaxf(m0, red[w * kHeads + g]);
      m1 = fmaxf(m1, red[w * kHeads + g + 8]);
    }
    const int e0 = f16_exponent(m0), e1 = f16_exponent(m1);
    const float up0 = ldexpf(1.f, e0), up1 = ldexpf(1.f, e1);
    sc0 = p.scale_log2 * ldexpf(1.f, -e0);  // exact: a power of two
    sc1 = p.scale_log2 * ldexpf(1.f, -e1);
#pragma unroll
    for (int i = 0; i < kKSteps; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&qa[i][e]));
        const float up = (e & 1) ? up1 : up0;
        qa[i][e] = pack_f16(f.x * up, f.y * up);
      }
  }

  // The stage addresses (f8_swz) split into a per-lane part and a constant a load:
  // S, k-step i (chunk 4 i + warp), n-tile nt: key row 16 (nt / 2) + 2 (nt % 2) + 4 (g / 2) + g % 2,
  // whose swizzle h is g, so the chunk is (4 i + warp) ^ g = 8 (i / 2) + ((warp ^ g) ^ 4 (i % 2)).
  const int c = warp ^ g, srow = kRowBytes * (4 * (g >> 1) + (g & 1)) + 4 * qd;
  const uint32_t s_off[2] = {uint32_t(srow + 16 * c), uint32_t(srow + 16 * (c ^ 4))};
  // P V, key row 16 kk + 4 qd + r, chunk 8 warp + 2 pp + g / 4: h = 2 qd + r % 2, so the chunk is
  // 8 warp + 2 (pp ^ qd) + ((g / 4) ^ (r % 2)).
  const int vrow = kRowBytes * 4 * qd + 128 * warp + 4 * (g & 3);
  const uint32_t v_off[2] = {uint32_t(vrow + 16 * (g >> 2)), uint32_t(vrow + 16 * ((g >> 2) ^ 1))};
  uint32_t v_col[4];
#pragma unroll
  for (int pp = 0; pp < 4; ++pp) v_col[pp] = 32 * (pp ^ qd);

  float o[16][4];
#pragma unroll
  for (int nt = 0; nt < 16; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[nt][e] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};

  for (int tile = tb; tile < te; ++tile) {
    const int st = (tile - tb) & 1;
    const uint32_t cur = sK0 + st * kStageBytes;
    cp_async_wait_all();
    __syncthreads();  // tile landed for all; everyone is done with the previous tile, spart and Q
    if (tile + 1 < te) load_tile(tile + 1, sK0 + (st ^ 1) * kStageBytes);
    cp_async_commit();

    // ---- partial S over this warp's dims: 4 n-tiles of 8 keys (rows in P V's key order) ----
    float sacc[4][4];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) sacc[nt][e] = 0.f;
#pragma unroll
    for (int i = 0; i < kKSteps; ++i) {
      uint32_t w[4];  // n-tile nt: dims 16 j + 4 qd .. + 3 of key row 16 (nt / 2) + 4 (g / 2) + 2 (nt % 2) + g % 2
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
        w[nt] = lds32(cur + s_off[i & 1] + 128 * (i >> 1) + kRowBytes * (16 * (nt >> 1) + 2 * (nt & 1)));
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) mma_f16(sacc[nt], qa[i], e4m3x2_f16x2(w[nt], false), e4m3x2_f16x2(w[nt], true));
    }
    {
      float* dst = spart + warp * kSPartFloats + lane;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dst[(nt * 4 + e) * 32] = sacc[nt][e];
    }
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
    // Element e < 2 of n-tile nt is key 16 (nt / 2) + 4 qd + 2 (nt % 2) + e of the tile.
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const bool ok = tile * kKeys + 16 * (nt >> 1) + 4 * qd + 2 * (nt & 1) + e < n;
        sacc[nt][e] = ok ? sacc[nt][e] * sc0 : -INFINITY;
        sacc[nt][2 + e] = ok ? sacc[nt][2 + e] * sc1 : -INFINITY;
        mx0 = fmaxf(mx0, sacc[nt][e]);
        mx1 = fmaxf(mx1, sacc[nt][2 + e]);
      }
    // Every tile holds at least one visible key, so the new max is finite.
    const float mn0 = fmaxf(m_r[0], quad_max(mx0)), mn1 = fmaxf(m_r[1], quad_max(mx1));
    const float al0 = exp2f(m_r[0] - mn0), al1 = exp2f(m_r[1] - mn1);
    m_r[0] = mn0;
    m_r[1] = mn1;
    uint32_t pa[4][2];  // P: [n-tile][row g, row g + 8]
    float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      pa[nt][0] = pack_f16(exp2f(sacc[nt][0] - mn0), exp2f(sacc[nt][1] - mn0));
      pa[nt][1] = pack_f16(exp2f(sacc[nt][2] - mn1), exp2f(sacc[nt][3] - mn1));
      // The normalizer sums the rounded weights that P V multiplies.
      ps0 += sum_f16x2(pa[nt][0]);
      ps1 += sum_f16x2(pa[nt][1]);
    }
    l_r[0] = l_r[0] * al0 + ps0;
    l_r[1] = l_r[1] * al1 + ps1;

    // ---- O = O * alpha + P V, this warp's dims 128 warp .. ----
    // Skipped when no row's max moved in this warp (every alpha is 1: the
    // same bits), which on long contexts is most tiles.
    if (__any_sync(0xffffffffu, al0 != 1.f || al1 != 1.f)) scale_rows(o, al0, al1);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t a[4] = {pa[2 * kk][0], pa[2 * kk][1], pa[2 * kk + 1][0], pa[2 * kk + 1][1]};
#pragma unroll
      for (int pp = 0; pp < 4; ++pp) {
        // Dims 128 warp + 32 pp + 4 g .. + 3 of keys 16 kk + 4 qd + r.
        uint32_t w[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) w[r] = lds32(cur + v_off[r & 1] + v_col[pp] + kRowBytes * (16 * kk + r));
        // Per dim i: keys (0, 1) and (2, 3) as byte pairs.
        const uint32_t k01[2] = {__byte_perm(w[0], w[1], 0x5140), __byte_perm(w[0], w[1], 0x7362)};
        const uint32_t k23[2] = {__byte_perm(w[2], w[3], 0x5140), __byte_perm(w[2], w[3], 0x7362)};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          mma_f16(o[4 * pp + i], a, e4m3x2_f16x2(k01[i >> 1], i & 1), e4m3x2_f16x2(k23[i >> 1], i & 1));
        }
      }
    }
  }

  // ---- epilogue: O / l (or the partial and its lse); o[4 pp + i][e] is dim 32 pp + 8 qd + 4 e + i ----
  const float l0 = quad_sum(l_r[0]), l1 = quad_sum(l_r[1]);
  const float i0 = 1.f / l0, i1 = 1.f / l1;
  const int64_t row0 = int64_t(t) * p.H + head0 + g, row1 = row0 + 8;
  const bool split_out = p.num_splits > 1;
#pragma unroll
  for (int pp = 0; pp < 4; ++pp) {
    const int col = warp * 128 + pp * 32 + 8 * qd;
    float v0[8], v1[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      v0[k] = o[4 * pp + (k & 3)][k >> 2] * i0;
      v1[k] = o[4 * pp + (k & 3)][2 + (k >> 2)] * i1;
    }
    if (split_out) {
      float* po = p.part_o + int64_t(split) * p.T * p.H * kDv;
      store8(po + row0 * kDv + col, v0);
      store8(po + row1 * kDv + col, v1);
    } else {
      bf16* out = static_cast<bf16*>(p.out);
      store8(out + row0 * kDv + col, v0);
      store8(out + row1 * kDv + col, v1);
    }
  }
  if (split_out && warp == 0 && qd == 0) {
    float* lse = p.part_lse + (int64_t(split) * p.T + t) * p.H + head0;
    lse[g] = m_r[0] + log2f(l0);
    lse[g + 8] = m_r[1] + log2f(l1);
  }
}

}  // namespace

int small_regs_ctas_per_sm() { return ctas_per_sm(mla_small_regs_kernel, kThreads, kSmemBytes); }

void launch_small_regs(const MlaArgs& a, cudaStream_t stream) {
  const int64_t blocks = int64_t(a.T) * (a.H / kHeads) * a.num_splits;
  if (blocks == 0) return;
  auto kernel = mla_small_regs_kernel;
  allow_dynamic_smem(kernel, kSmemBytes);
  launch_pdl(kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla
