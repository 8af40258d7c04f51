// Paged MLA attention in the absorbed latent space, warp-specialized on
// wgmma (sm_90a), for DeepSeek-V3's shape: L = 576 (512 c_kv + 64 k_pe) for
// scores, the first Dv = 512 dims as values, BF16 q / cache / out.
//
// Same tiling as the mma kernel (mla_attention_mma.cu): one CTA takes 64
// heads of one token as the rows of a flash-attention tile and streams the
// token's keys through shared memory 64 at a time, split-K over the context
// as before. What changes is who does what (the FlashMLA / FlashAttention-3
// idea, warp specialization):
//
//   warpgroup 2 (producer, 40 registers): cp.async of Q once and of each
//     64-key tile into a two-stage ring; cp.async.mbarrier.arrive signals
//     full[s] when a thread's copies land, so it never blocks on a load,
//     only on empty[s] (both consumers done with the stage);
//   warpgroup 0: S = Q K^T [64 x 64] as 36 m64n64k16 wgmmas (both operands
//     from smem), the online softmax in registers (a row lives in one quad of
//     threads: no cross-warp reduction), P (bf16) and the rescale factors
//     to smem, then O[:, 0:256] += P V[:, 0:256] (4 m64n256k16 wgmmas);
//   warpgroup 1: O[:, 256:512] += P V[:, 256:512] at the same time.
// V is the same smem tile as K read N-major (dims contiguous per key): the
// 128-byte-swizzle MN-major descriptor, LBO = 8 KB between 64-dim column
// blocks, SBO = 1 KB between groups of 8 keys.
//
// Hand-offs between the consumers go through named barriers: kBarPFull
// (warpgroup 0 wrote P and the row rescale factors of tile i), kBarPFree
// (warpgroup 1 has read them: P of tile i + 1 may overwrite). Shared
// memory: Q 72 KB + 2 K stages 144 KB + P 8 KB + row statistics: 224 KB,
// one CTA per SM, 384 threads.
//
// Where the time goes (H200, decode 64 x 4096, clock() per phase): a tile
// takes ~5,500 clk: S 3,200 (89 clk per m64n64k16 against 32 of math),
// softmax 650, P V 1,150, hand-offs ~450. Loads alone (consumers idle)
// take 138 us of the 201, compute alone (no loads) 192. Tried and measured
// no faster, so not kept: Q from registers for S, two accumulator chains,
// S split over k between the warpgroups (partial through smem), an L2
// prefetch of the next tile, per-8 KB-block barriers (slower), and S(i + 1)
// issued behind P V(i) (slower: the tile is released later). See
// docs/kernels-attention.md.
//
// Numerics equal the mma kernel's up to summation order: scores in f32,
// softmax in the log2 domain, P rounded to bf16 and the normalizer summing
// the rounded weights.
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

constexpr int kL = kMmaL, kDv = kMmaDv, kRows = kMmaHeads, kKeys = kMmaKeys;
constexpr int kThreads = 384;
constexpr int kTileBytes = kRows * kL * 2;   // 73728: Q tile and K tile alike
constexpr int kColBlockBytes = kRows * 128;  // 8192: one [64 x 64] column block
constexpr int kPBytes = kRows * kKeys * 2;   // 8192
constexpr int kStatBytes = 3 * 64 * 4;       // alpha, l, m per row
constexpr int kBarBytes = 4 * 8;             // full[2], empty[2]
constexpr int kSmemBytes = 1024 /* alignment slack */ + 3 * kTileBytes + kPBytes + kStatBytes + kBarBytes;
static_assert(kKeys == 64 && kRows == 64, "tile shape is wired into the warpgroup layout");
constexpr int kBarPFull = 1, kBarPFree = 2, kBarEpilogue = 3, kBarPLocal = 4;  // named barriers (0 is __syncthreads)

// Byte offset of 16-byte chunk `chunk` (0..71) of row `row` (0..63) in a Q/K tile.
__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return uint32_t((chunk >> 3) * kColBlockBytes + row * 128 + (((chunk ^ row) & 7) << 4));
}
// The same for the P tile (8 chunks per row, one column block).
__device__ __forceinline__ uint32_t pswz(int row, int chunk) {
  return uint32_t(row * 128 + (((chunk ^ row) & 7) << 4));
}

// Descriptor of V[16 keys x 256 dims] at `saddr`: the K tile read N-major,
// 8 KB (a column block) to the next 64 dims.
__device__ __forceinline__ uint64_t vdesc(uint32_t saddr) { return mnmajor_desc(saddr, kColBlockBytes); }

#define SABLE_MLA_D32_REGS                                                                               \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
  "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31 "
#define SABLE_MLA_D32_OUT(d)                                                                                  \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),  \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define SABLE_MLA_D128_REGS                                                                              \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
  "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, " \
  "%42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, " \
  "%62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, " \
  "%82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, "     \
  "%101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, "     \
  "%117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127 "
#define SABLE_MLA_D128_OUT(d)                                                                                         \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),         \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),          \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),         \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),         \
      "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),         \
      "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),         \
      "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),         \
      "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]),         \
      "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]),         \
      "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]),         \
      "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]),         \
      "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]),         \
      "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]),    \
      "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), \
      "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), \
      "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// S[64 x 64] (+)= Q[64 x 16] K[64 x 16]^T, both K-major in smem.
__device__ __forceinline__ void wgmma_s(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" SABLE_MLA_D32_REGS "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : SABLE_MLA_D32_OUT(d)
      : "l"(da), "l"(db), "r"(scale_d));
}
// O[64 x 256] += P[64 x 16] V[16 x 256]: P K-major, V N-major, both in smem.
__device__ __forceinline__ void wgmma_pv_ss(float (&d)[128], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" SABLE_MLA_D128_REGS "}, %128, %129, p, 1, 1, 0, 1;\n}\n"
      : SABLE_MLA_D128_OUT(d)
      : "l"(da), "l"(db), "n"(1));
}

// O (a warpgroup's 256 columns) = O * alpha + P V, alpha per row (this
// thread's rows r0 and r0 + 8), P from smem, V the four 64-dim column blocks
// at v; returns once the wgmmas are done (the tile may be released).
__device__ __forceinline__ void rescale_and_pv(float (&o)[128], float al0, float al1, uint64_t dp, uint32_t v) {
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    o[4 * j] *= al0;
    o[4 * j + 1] *= al0;
    o[4 * j + 2] *= al1;
    o[4 * j + 3] *= al1;
  }
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wgmma_pv_ss(o, dp + 2 * kk, vdesc(v + kk * 2048));
  wgmma_commit();
  wgmma_wait0();
  wgmma_fence_operands(o);
}

__global__ void __launch_bounds__(kThreads, 1) mla_ws_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms sit on 1024-byte boundaries of the shared window.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const uint32_t sQ = smem_u32(smem), sK = sQ + kTileBytes, sP = sQ + 3 * kTileBytes;
  uint8_t* pP = smem + 3 * kTileBytes;
  float* s_alpha = reinterpret_cast<float*>(smem + 3 * kTileBytes + kPBytes);  // [64]
  float* s_l = s_alpha + 64;                                                   // [64]
  float* s_m = s_l + 64;                                                       // [64]
  const uint32_t full0 = sP + kPBytes + kStatBytes, empty0 = full0 + 16;       // [2] each, 8 bytes apart

  const MlaBlock blk = mla_block(p, int(blockIdx.x));
  const int split = blk.split, t = blk.t, head0 = blk.head0, n = blk.n, tb = blk.tb, te = blk.te;
  const int tid = threadIdx.x;

  if (tb >= te) {  // empty split (the whole CTA, before any barrier): the combine skips it by its lse
    if (tid < kRows) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = -INFINITY;
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

  if (tid >= 256) {
    // ---- producer: 8 threads per 128-byte row segment (coalesced), 16 rows per pass ----
    setmaxnreg_dec<40>();
    const int ptid = tid - 256, lrow = ptid >> 3, lch = ptid & 7;
    const auto* cache = static_cast<const __nv_bfloat16*>(p.cache);
    const int32_t* table = p.block_tables + int64_t(p.token_seq[t]) * p.max_blocks;
    {
      const auto* qs = static_cast<const __nv_bfloat16*>(p.q) + (int64_t(t) * p.H + head0) * kL;
#pragma unroll 1
      for (int pass = 0; pass < 4; ++pass) {
        const int r = lrow + 16 * pass;
#pragma unroll
        for (int j = 0; j < 9; ++j) cp_async16(sQ + swz(r, lch + 8 * j), qs + int64_t(r) * kL + (lch + 8 * j) * 8, 16);
      }
    }
    // Q travels with tile tb: full[0]'s first phase covers both. Each
    // thread's arrive fires when its copies of the tile have landed, so the
    // producer never blocks on a load, only on a slot.
    for (int tile = tb; tile < te; ++tile) {
      const int i = tile - tb, st = i & 1;
      mbar_wait(empty0 + 8 * st, ((i >> 1) & 1) ^ 1);  // consumers are done with tile i - 2
      const uint32_t dst = sK + st * kTileBytes;
#pragma unroll 1
      for (int pass = 0; pass < 4; ++pass) {
        const int r = lrow + 16 * pass, key = tile * kKeys + r;
        const __nv_bfloat16* src = cache;
        int bytes = 0;  // keys past the end are zero-filled: p = 0 must not meet NaN garbage
        if (key < n) {
          src = cache + (int64_t(table[key / p.block_size]) * p.block_size + key % p.block_size) * kL;
          bytes = 16;
        }
#pragma unroll
        for (int j = 0; j < 9; ++j) cp_async16(dst + swz(r, lch + 8 * j), src + (bytes ? (lch + 8 * j) * 8 : 0), bytes);
      }
      cp_async_mbar_arrive(full0 + 8 * st);
    }
    cp_async_wait_all();  // leave no copy in flight behind an exited thread
    return;               // no barrier counts the producer from here on
  }

  setmaxnreg_inc<232>();
  const int wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int r0 = warp * 16 + (lane >> 2), q4 = lane & 3;  // this thread's rows r0, r0 + 8 and column pairs 2 q4
  float o[128];  // O[:, 256 wg + ...]: column 8 j + 2 q4 (+1) of rows r0 (o[4j], o[4j+1]) and r0 + 8 (o[4j+2..3])
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};

  if (wg == 0) {
    // Per tile: S(i), softmax, P to smem, P V(i), release tile i. With two
    // stages K(i + 2) can only start streaming once tile i is released, so
    // the release comes as early as possible. (Measured: issuing S(i + 1)
    // right behind P V(i) under one wait, which delays the release by S,
    // took decode 64 x 4096 from 201 to 300 us.)
    const uint64_t dq = kmajor_desc(sQ), dp = kmajor_desc(sP);
    const int nt = te - tb;
    auto issue_s = [&](float(&s)[32], int i) {
      const int st = i & 1;
      mbar_wait(full0 + 8 * st, (i >> 1) & 1);
      fence_proxy_async();  // the tile's cp.async writes, then wgmma's reads
      const uint64_t dk = kmajor_desc(sK + st * kTileBytes);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kL / 16; ++ks) {
        const uint32_t off = uint32_t((ks >> 2) * kColBlockBytes + (ks & 3) * 32) >> 4;
        wgmma_s(s, dq + off, dk + off, ks > 0 ? 1 : 0);
      }
      wgmma_commit();
    };
    auto step = [&](float(&s)[32], int i) {
      const int tile = tb + i, st = i & 1;
      issue_s(s, i);
      wgmma_wait0();  // S(i)
      wgmma_fence_operands(s);
      wgmma_fence_operands(o);

      // ---- online softmax (log2 domain); a row's 64 scores live in one quad ----
      const int kbase = tile * kKeys + 2 * q4;
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const bool ok = kbase + 8 * j + e < n;
          s[4 * j + e] = ok ? s[4 * j + e] * p.scale_log2 : -INFINITY;
          s[4 * j + 2 + e] = ok ? s[4 * j + 2 + e] * p.scale_log2 : -INFINITY;
          mx0 = fmaxf(mx0, s[4 * j + e]);
          mx1 = fmaxf(mx1, s[4 * j + 2 + e]);
        }
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
      // Every tile holds at least one visible key, so the new max is finite.
      const float mn0 = fmaxf(m_r[0], mx0), mn1 = fmaxf(m_r[1], mx1);
      const float al0 = exp2f(m_r[0] - mn0), al1 = exp2f(m_r[1] - mn1);
      m_r[0] = mn0;
      m_r[1] = mn1;
      // P in bf16, packed in place: s[4 j] holds rows r0's pair, s[4 j + 1] row r0 + 8's.
      float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const __nv_bfloat162 v01 = __floats2bfloat162_rn(exp2f(s[4 * j] - mn0), exp2f(s[4 * j + 1] - mn0));
        const __nv_bfloat162 v23 = __floats2bfloat162_rn(exp2f(s[4 * j + 2] - mn1), exp2f(s[4 * j + 3] - mn1));
        // The normalizer sums the rounded weights that P V multiplies.
        ps0 += __low2float(v01) + __high2float(v01);
        ps1 += __low2float(v23) + __high2float(v23);
        s[4 * j] = __uint_as_float(*reinterpret_cast<const uint32_t*>(&v01));
        s[4 * j + 1] = __uint_as_float(*reinterpret_cast<const uint32_t*>(&v23));
      }
      l_r[0] = l_r[0] * al0 + ps0;
      l_r[1] = l_r[1] * al1 + ps1;

      // ---- P and the rescale factors to smem, for both warpgroups ----
      if (i > 0) named_barrier_sync(kBarPFree, 256);  // warpgroup 1 has read tile i - 1's
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        *reinterpret_cast<uint32_t*>(pP + pswz(r0, j) + q4 * 4) = __float_as_uint(s[4 * j]);
        *reinterpret_cast<uint32_t*>(pP + pswz(r0 + 8, j) + q4 * 4) = __float_as_uint(s[4 * j + 1]);
      }
      if (q4 == 0) {
        s_alpha[r0] = al0;
        s_alpha[r0 + 8] = al1;
      }
      fence_proxy_async();  // P's generic-proxy stores, then the wgmma reads of both warpgroups
      named_barrier_arrive(kBarPFull, 256);
      named_barrier_sync(kBarPLocal, 128);  // all of this warpgroup's rows are in

      rescale_and_pv(o, al0, al1, dp, sK + st * kTileBytes);  // O[:, 0:256]
      mbar_arrive(empty0 + 8 * st);  // done reading tile i
    };
    float s[32];
    for (int i = 0; i < nt; ++i) step(s, i);
    wgmma_wait0();
    wgmma_fence_operands(o);
    // Row normalizers: the quad's partial sums.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 1);
      l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 2);
    }
    if (q4 == 0) {
      s_l[r0] = l_r[0];
      s_l[r0 + 8] = l_r[1];
      s_m[r0] = m_r[0];
      s_m[r0 + 8] = m_r[1];
    }
  } else {
    const uint64_t dp = kmajor_desc(sP);
    for (int tile = tb; tile < te; ++tile) {
      const int i = tile - tb, st = i & 1;
      const uint32_t cur = sK + st * kTileBytes;
      named_barrier_sync(kBarPFull, 256);
      // Tile i landed before warpgroup 0 computed S from it; the wait (already
      // complete, so immediate) gives this warpgroup its own acquire.
      mbar_wait(full0 + 8 * st, (i >> 1) & 1);
      fence_proxy_async();
      rescale_and_pv(o, s_alpha[r0], s_alpha[r0 + 8], dp, cur + 4 * kColBlockBytes);  // O[:, 256:512]
      if (tile + 1 < te) named_barrier_arrive(kBarPFree, 256);
      mbar_arrive(empty0 + 8 * st);
    }
  }

  // ---- epilogue: O / l (or the normalized partial and its lse) ----
  named_barrier_sync(kBarEpilogue, 256);
  const float i0 = 1.f / s_l[r0], i1 = 1.f / s_l[r0 + 8];
  const int64_t row0 = int64_t(t) * p.H + head0 + r0, row1 = row0 + 8;
  const int cbase = wg * 256 + 2 * q4;
  if (p.num_splits > 1) {
    float* po = p.part_o + int64_t(split) * p.T * p.H * kDv;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = cbase + 8 * j;
      *reinterpret_cast<float2*>(po + row0 * kDv + col) = make_float2(o[4 * j] * i0, o[4 * j + 1] * i0);
      *reinterpret_cast<float2*>(po + row1 * kDv + col) = make_float2(o[4 * j + 2] * i1, o[4 * j + 3] * i1);
    }
    if (tid < kRows) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = s_m[tid] + log2f(s_l[tid]);
  } else {
    auto* out = static_cast<__nv_bfloat16*>(p.out);
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = cbase + 8 * j;
      *reinterpret_cast<__nv_bfloat162*>(out + row0 * kDv + col) =
          __floats2bfloat162_rn(o[4 * j] * i0, o[4 * j + 1] * i0);
      *reinterpret_cast<__nv_bfloat162*>(out + row1 * kDv + col) =
          __floats2bfloat162_rn(o[4 * j + 2] * i1, o[4 * j + 3] * i1);
    }
  }
}

}  // namespace

void launch_ws(const MlaArgs& a, cudaStream_t stream) {
  const int64_t blocks = int64_t(a.T) * (a.H / kRows) * a.num_splits;
  if (blocks == 0) return;
  allow_dynamic_smem(mla_ws_kernel, kSmemBytes);
  launch_pdl(mla_ws_kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla
