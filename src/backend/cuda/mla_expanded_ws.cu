// MLA prefill in the expanded form, warp-specialized on wgmma (sm_90a):
// causal flash attention of one sequence's query rows over one chunk of
// up-projected keys at DeepSeek-V3's head dims (q/k 128 nope + 64 rope,
// v 128; BF16), merged into earlier chunks by log-sum-exp. The same contract
// and numerics as the mma.sync kernel in mla_expanded.cu (FlashAttention-2),
// scheduled as FlashAttention-3 does:
//
//   warpgroup 2 (producer, 40 registers): cp.async of Q once and of each
//     64-key tile (K = [64 keys x 192] from kv[key, h, 0:128] and k_pe[key],
//     V = [64 keys x 128] from kv[key, h, 128:256]) into a four-stage ring;
//     cp.async.mbarrier.arrive completes full[s] when a thread's copies
//     land, so it only ever blocks on empty[s];
//   warpgroups 0 and 1 (consumers): 64 query rows each, independent of one
//     another (each owns its rows' softmax state and O [64 x 128] f32 in
//     registers; they share the K/V tiles). Per tile j:
//       S(j + 1) = Q K(j + 1)^T   12 m64n64k16, both operands from smem
//       O = O * alpha(j) + P(j) V(j)   4 m64n128k16, P from registers (the
//                                      S accumulators rounded to bf16 are
//                                      wgmma's A fragments as they lie)
//       softmax(j + 1) on CUDA cores while P V(j) runs on the tensor cores
//       wait P V(j), release stage j.
//     The two warpgroups drift apart on their own, so one's softmax also
//     fills the other's tensor-core gaps.
// Registers per consumer thread: O 64 + S 32 + P(j) 16 + P(j + 1) 16 (ptxas
// sizes warp-specialized code at the launch's average, 168 for 384 threads:
// a 128-key tile, 64 + 64 + 32 + 32, would not fit).
//
// Shared memory: Q [128 x 192] 48 KB + 4 stages x (K 24 KB + V 16 KB) =
// 208 KB, one CTA per SM. Every tile is stored as column blocks of [rows x 64
// dims] (128 B per row, 16-byte chunks XOR-swizzled by row % 8: wgmma's
// 128-byte-swizzle canonical layout, K-major for Q and K, MN-major for V).
//
// Causality as in the mma kernel: row i sees key j iff j <= i + delta. A
// warpgroup walks the tiles its last row sees; tiles wholly visible to its
// first row skip the mask; tiles past its rows' view (the diagonal's upper
// half) it only releases.
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_expanded_kernels.cuh"
#include "backend/cuda/mla_wgmma.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla_exp {
namespace {

constexpr int kRows = 128, kWgRows = 64, kKeys = 64, kStages = 4, kThreads = 384;
constexpr int kQBlk = kRows * 128;              // 16 KB: a [128 rows x 64 dims] column block of Q
constexpr int kKBlk = kKeys * 128;              // 8 KB: a [64 keys x 64 dims] column block of K or V
constexpr int kQBytes = (kQk / 64) * kQBlk;     // 48 KB
constexpr int kKBytes = (kQk / 64) * kKBlk;     // 24 KB
constexpr int kVBytes = (kDv / 64) * kKBlk;     // 16 KB
constexpr int kStageBytes = kKBytes + kVBytes;  // 40 KB
constexpr int kBarBytes = 2 * kStages * 8;      // full[kStages], empty[kStages]
constexpr int kSmemBytes = 1024 /* alignment slack */ + kQBytes + kStages * kStageBytes + kBarBytes;
static_assert(kQk == 192 && kDv == 128, "the loaders and fragments are wired to these dims");

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile of column
// blocks of `blk` bytes (64 dims = 8 chunks per block row).
__device__ __forceinline__ uint32_t swz(int row, int chunk, int blk) {
  return uint32_t((chunk >> 3) * blk + row * 128 + (((chunk ^ row) & 7) << 4));
}

#define SABLE_EXP_D64_REGS                                                                               \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
  "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, " \
  "%42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, " \
  "%62, %63 "
#define SABLE_EXP_D64_OUT(d)                                                                                  \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),  \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), \
      "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), \
      "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
      "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), \
      "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

// O[64 x 128] += P[64 x 16] V[16 x 128]: P from registers (the m64k16 A
// fragment: a0 row g keys 0-7, a1 row g + 8 keys 0-7, a2 row g keys 8-15, a3
// row g + 8 keys 8-15), V MN-major in smem (transposed B).
__device__ __forceinline__ void wgmma_pv_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" SABLE_EXP_D64_REGS
      "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n"
      "}\n"
      : SABLE_EXP_D64_OUT(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(1));
}

// O's rows rg (o[4 j], o[4 j + 1]) and rg + 8 (o[4 j + 2..3]) times their factors.
__device__ __forceinline__ void scale_rows64(float (&o)[64], float al0, float al1) {
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    o[4 * j] *= al0;
    o[4 * j + 1] *= al0;
    o[4 * j + 2] *= al1;
    o[4 * j + 3] *= al1;
  }
}

template <int N>
__device__ __forceinline__ void fence_regs(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

__global__ void __launch_bounds__(kThreads, 1) mla_expanded_ws_kernel(const ExpArgs p) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms sit on 1024-byte boundaries of the shared window.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const uint32_t sQ = smem_u32(smem), sKV = sQ + kQBytes;  // stage s: K at sKV + s * kStageBytes, V after K
  const uint32_t full0 = sKV + kStages * kStageBytes, empty0 = full0 + 8 * kStages;

  const int h = blockIdx.y;
  const int row0 = (gridDim.x - 1 - blockIdx.x) * kRows;  // last row blocks (most keys) first
  const int rows = min(kRows, p.Tq - row0);
  const int tid = threadIdx.x;
  const int kend = min(p.n, row0 + rows + p.delta);  // keys visible to the CTA's last row: [0, kend)
  if (kend <= 0) {  // no row of the block sees a key of this chunk (the whole CTA, before any barrier)
    if (!p.accumulate) {
      auto* out = static_cast<__nv_bfloat16*>(p.out) + (int64_t(row0) * p.H + h) * kDv;
      for (int c = tid; c < rows * (kDv / 8); c += kThreads)
        *reinterpret_cast<uint4*>(out + int64_t(c >> 4) * p.H * kDv + (c & 15) * 8) = make_uint4(0, 0, 0, 0);
      if (tid < rows) p.lse[int64_t(row0 + tid) * p.H + h] = -INFINITY;
    }
    return;
  }
  const int tiles = (kend + kKeys - 1) / kKeys;

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full0 + 8 * s, 128);   // the producer's threads, once their copies landed
      mbar_init(empty0 + 8 * s, 256);  // every consumer thread, once its wgmma reads are done
    }
    mbar_fence_init();
  }
  __syncthreads();  // the only CTA-wide barrier: the producer leaves early

  // The warpgroup index, provably warp-uniform (see mla_attention_ws.cu:
  // branching on tid >> 7 makes ptxas serialize every wgmma).
  const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
  if (wg == 2) {
    // ---- producer ----
    setmaxnreg_dec<40>();
    const int ptid = tid - 256;
    const auto* qg = static_cast<const __nv_bfloat16*>(p.q) + (int64_t(row0) * p.H + h) * kQk;
    // Q: 128 rows x 24 chunks, rows past Tq zero-filled; lands with tile 0.
#pragma unroll 4
    for (int it = 0; it < kRows * 24 / 128; ++it) {
      const int idx = ptid + it * 128, r = idx / 24, c = idx % 24;
      const bool ok = r < rows;
      cp_async16(sQ + swz(r, c, kQBlk), ok ? qg + int64_t(r) * p.H * kQk + c * 8 : qg, ok ? 16 : 0);
    }
    const auto* kvg = static_cast<const __nv_bfloat16*>(p.kv);
    const auto* peg = static_cast<const __nv_bfloat16*>(p.k_pe);
    for (int j = 0; j < tiles; ++j) {
      const int st = j % kStages;
      mbar_wait(empty0 + 8 * st, ((j / kStages) & 1) ^ 1);  // consumers are done with tile j - kStages
      const uint32_t sK = sKV + st * kStageBytes, sV = sK + kKBytes;
      const int key0 = j * kKeys;
      // kv rows: a warp per 512-byte key row (16 K_nope chunks, then 16 V
      // chunks). Keys past n are zero-filled: their p is 0, and 0 * garbage
      // could be NaN.
#pragma unroll 4
      for (int it = 0; it < kKeys * 32 / 128; ++it) {
        const int idx = ptid + it * 128, kk = idx >> 5, c = idx & 31;
        const bool ok = key0 + kk < p.n;
        const __nv_bfloat16* src = ok ? kvg + (int64_t(key0 + kk) * p.H + h) * (kNope + kDv) + c * 8 : kvg;
        cp_async16(c < 16 ? sK + swz(kk, c, kKBlk) : sV + swz(kk, c - 16, kKBlk), src, ok ? 16 : 0);
      }
      // k_pe rows: 8 chunks each, K's third column block.
#pragma unroll
      for (int it = 0; it < kKeys * 8 / 128; ++it) {
        const int idx = ptid + it * 128, kk = idx >> 3, c = idx & 7;
        const bool ok = key0 + kk < p.n;
        const __nv_bfloat16* src = ok ? peg + int64_t(key0 + kk) * kRope + c * 8 : peg;
        cp_async16(sK + swz(kk, 16 + c, kKBlk), src, ok ? 16 : 0);
      }
      cp_async_mbar_arrive(full0 + 8 * st);
    }
    cp_async_wait_all();  // leave no copy in flight behind an exited thread
    return;               // no barrier counts the producer from here on
  }

  // ---- consumers ----
  setmaxnreg_inc<232>();
  const int warp = (tid >> 5) & 3, lane = tid & 31, q4 = lane & 3;
  const int wrow0 = row0 + wg * kWgRows;  // this warpgroup's first row
  const int wrows = max(0, min(kWgRows, rows - wg * kWgRows));
  const int rg = wrow0 + warp * 16 + (lane >> 2);                                      // this thread's rows: rg, rg + 8
  const int lim0 = min(rg + p.delta, p.n - 1), lim1 = min(rg + 8 + p.delta, p.n - 1);  // last visible key
  const int first_lim = min(wrow0 + p.delta, p.n - 1);  // the warpgroup's first row's last key
  const int wkend = wrows > 0 ? min(p.n, wrow0 + wrows + p.delta) : 0;
  const int my_tiles = wkend > 0 ? (wkend + kKeys - 1) / kKeys : 0;

  float o[64];  // O[64 x 128]: column 8 j + 2 q4 (+1) of rows rg (o[4j], o[4j+1]) and rg + 8 (o[4j+2..3])
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};

  const uint64_t dq = kmajor_desc(sQ + wg * (kWgRows * 128));  // this warpgroup's 64 rows of each Q column block
  auto stage_of = [&](int j) { return sKV + (j % kStages) * kStageBytes; };
  auto wait_full = [&](int j) {
    mbar_wait(full0 + 8 * (j % kStages), (j / kStages) & 1);
    fence_proxy_async();  // the tile's cp.async writes, then wgmma's reads
  };
  auto release = [&](int j) { mbar_arrive(empty0 + 8 * (j % kStages)); };
  // S[64 x 64] = Q K(j)^T over 192 dims: 12 m64n64k16, issued and committed.
  auto issue_s = [&](float(&s)[32], int j) {
    const uint64_t dk = kmajor_desc(stage_of(j));
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kQk / 16; ++ks)
      mla::wg::wgmma_s(s, dq + (uint32_t((ks >> 2) * kQBlk + (ks & 3) * 32) >> 4),
                       dk + (uint32_t((ks >> 2) * kKBlk + (ks & 3) * 32) >> 4), ks > 0 ? 1 : 0);
    wgmma_commit();
  };
  // O += P V(j): 4 m64n128k16 over the tile's keys (descriptors from
  // pv_descs, computed before any wgmma is in flight: ptxas serializes
  // wgmmas when other instructions define their inputs inside a pipeline
  // stage), issued and committed.
  auto pv_descs = [&](int j, uint64_t(&dv)[4]) {
    const uint32_t sV = stage_of(j) + kKBytes;
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) dv[kk] = mnmajor_desc(sV + kk * 2048, kKBlk);
  };
  auto issue_pv = [&](const uint32_t(&pa)[16], const uint64_t(&dv)[4]) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t a[4] = {pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3]};
      wgmma_pv_rs(o, a, dv[kk]);
    }
    wgmma_commit();
  };
  // Online softmax of S(j) (log2 domain), in f32 and in place: s becomes
  // the weights 2^(s - max); returns the factors that rescale the rows' state
  // before tile j. Masks only where the tile crosses the warpgroup's first
  // row's limit or n.
  auto softmax = [&](float(&s)[32], int j, float& al0, float& al1) {
    const int key0 = j * kKeys;
    const bool masked = key0 + kKeys - 1 > first_lim;
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int key = key0 + nt * 8 + q4 * 2 + e;
        s[4 * nt + e] = masked && key > lim0 ? -INFINITY : s[4 * nt + e] * p.scale_log2;
        s[4 * nt + 2 + e] = masked && key > lim1 ? -INFINITY : s[4 * nt + 2 + e] * p.scale_log2;
        mx0 = fmaxf(mx0, s[4 * nt + e]);
        mx1 = fmaxf(mx1, s[4 * nt + 2 + e]);
      }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m_r[0], mx0), mn1 = fmaxf(m_r[1], mx1);
    // A row with no visible key so far keeps max -inf: subtract 0 instead
    // (its p are all 0 and its o and l are still 0), never -inf - -inf.
    const float ms0 = mn0 == -INFINITY ? 0.f : mn0, ms1 = mn1 == -INFINITY ? 0.f : mn1;
    al0 = exp2f(m_r[0] - ms0);
    al1 = exp2f(m_r[1] - ms1);
    m_r[0] = mn0;
    m_r[1] = mn1;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      s[4 * nt] = exp2f(s[4 * nt] - ms0);
      s[4 * nt + 1] = exp2f(s[4 * nt + 1] - ms0);
      s[4 * nt + 2] = exp2f(s[4 * nt + 2] - ms1);
      s[4 * nt + 3] = exp2f(s[4 * nt + 3] - ms1);
    }
  };
  // The weights rounded to bf16 as P V's A fragments (keys 8 nt.. are
  // k-step nt / 2's first (nt even) or second half), and the rows' running
  // sums, which add the rounded weights that P V multiplies. Runs when no
  // wgmma reads pa: ptxas serializes wgmmas when other instructions define
  // a wgmma's input registers while any wgmma is in flight.
  auto pack = [&](const float(&s)[32], uint32_t(&pa)[16], float al0, float al1) {
    float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      const __nv_bfloat162 v01 = __floats2bfloat162_rn(s[4 * nt], s[4 * nt + 1]);
      const __nv_bfloat162 v23 = __floats2bfloat162_rn(s[4 * nt + 2], s[4 * nt + 3]);
      ps0 += __low2float(v01) + __high2float(v01);
      ps1 += __low2float(v23) + __high2float(v23);
      pa[(nt >> 1) * 4 + (nt & 1) * 2] = *reinterpret_cast<const uint32_t*>(&v01);
      pa[(nt >> 1) * 4 + (nt & 1) * 2 + 1] = *reinterpret_cast<const uint32_t*>(&v23);
    }
    l_r[0] = l_r[0] * al0 + ps0;
    l_r[1] = l_r[1] * al1 + ps1;
  };

  if (my_tiles > 0) {
    float s[32];
    uint32_t pa[16];
    float al0, al1;
    wait_full(0);
    issue_s(s, 0);
    wgmma_wait0();
    wgmma_fence_operands(s);
    softmax(s, 0, al0, al1);  // O is still 0: its factors do not matter
    pack(s, pa, al0, al1);
    for (int j = 0; j + 1 < my_tiles; ++j) {
      uint64_t dv[4];
      pv_descs(j, dv);
      wait_full(j + 1);
      issue_s(s, j + 1);  // queued ahead of P V(j): its softmax overlaps P V(j)
      issue_pv(pa, dv);
      wgmma_wait<1>();  // S(j + 1)
      wgmma_fence_operands(s);
      softmax(s, j + 1, al0, al1);
      wgmma_wait0();  // P V(j)
      wgmma_fence_operands(o);
      fence_regs(pa);
      release(j);
      // O rescaled between P V(j) and P V(j + 1), when no wgmma holds it.
      scale_rows64(o, al0, al1);
      pack(s, pa, al0, al1);
    }
    uint64_t dv[4];
    pv_descs(my_tiles - 1, dv);
    issue_pv(pa, dv);
    wgmma_wait0();
    wgmma_fence_operands(o);
    fence_regs(pa);
    release(my_tiles - 1);
  }
  // Tiles past this warpgroup's rows' view (the CTA's other rows see them).
  for (int j = my_tiles; j < tiles; ++j) {
    mbar_wait(full0 + 8 * (j % kStages), (j / kStages) & 1);
    release(j);
  }

  // ---- epilogue: normalize, merge with the stored chunk, write ----
  store_rows(p, h, rg, m_r, l_r, [&](int nt, int e) { return o[4 * nt + e]; });
}

}  // namespace

void launch_ws(const ExpArgs& a, cudaStream_t stream) {
  allow_dynamic_smem(mla_expanded_ws_kernel, kSmemBytes);
  const dim3 grid((a.Tq + kRows - 1) / kRows, unsigned(a.H));
  mla_expanded_ws_kernel<<<grid, kThreads, kSmemBytes, stream>>>(a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla_exp
