// MLA prefill in the expanded form, warp-specialized on wgmma (sm_90a):
// causal flash attention of one sequence's query rows over one chunk of
// up-projected keys at DeepSeek-V3's head dims (q/k 128 nope + 64 rope,
// v 128; BF16), merged into earlier chunks by log-sum-exp. The same contract
// and numerics as the mma.sync kernel in mla_expanded.cu (FlashAttention-2),
// scheduled as FlashAttention-3 does. One CTA = 128 query rows of one head:
//
//   warpgroup 2 (producer): one thread issues TMA copies (tensor maps,
//     tensor_map.h): Q once, then per 128-key tile K = [128 keys x 192]
//     (kv[key, h, 0:128] and k_pe[key]) and V = [128 keys x 128] (kv[key,
//     h, 128:256]) into a two-slot ring, K and V each with their own full /
//     empty mbarriers (K's slot frees as soon as S has read it);
//   warpgroups 0 and 1 (consumers): 64 query rows each (each owns its rows'
//     softmax state and O [64 x 128] f32 in registers; they share the K/V
//     tiles). Per tile j:
//       S(j + 1) = Q K(j + 1)^T   12 m64n128k16, both operands from smem
//       O += P(j) V(j)            8 m64n128k16, P from registers (the S
//                                 accumulators rounded to bf16 are wgmma's
//                                 A fragments as they lie)
//       softmax(j + 1) on CUDA cores while P V(j) runs on the tensor cores
//       wait P V(j), release V(j), rescale O by alpha(j + 1).
//     Ping-pong turns: a warpgroup issues its wgmmas only on its turn and
//     then passes the turn, so one's softmax runs under the other's GEMMs.
//
// Measured against the alternatives (H200, 4K-32K prompts, record
// bench/results/2026-12-02-2656d12-expanded-wgmma.md): with a cp.async producer
// (128 threads, ~20 instructions of address math per 16-byte copy) the
// consumers starved (333-397 TFLOP/s whatever the tile or schedule); with
// TMA, 64-key tiles in 4 slots 493-563, 128-key tiles without ping-pong
// 433-495, with it 544-629; then the softmax on raw scores (one FFMA and one
// ex2.approx per weight, the mask applied only on tiles that cross a row's
// limit) 624-726, against PyTorch SDPA's 573-604 at the same shapes.
//
// Shared memory: Q [128 x 192] 48 KB + 2 slots x (K 48 KB + V 32 KB) =
// 208 KB, one CTA per SM. Every tile is stored as column blocks of [rows x 64
// dims] (128 B per row, 16-byte chunks XOR-swizzled by row % 8: TMA's
// 128-byte swizzle, which is wgmma's canonical layout, K-major for Q and K,
// MN-major for V).
//
// Causality as in the mma kernel: row i sees key j iff j <= i + delta. Both
// warpgroups walk the tiles the CTA's last row sees (their turns must pair
// up; the diagonal's last tile is masked whole for warpgroup 0); tiles wholly
// visible to a warpgroup's first row skip the mask.
#include <cuda.h>
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_expanded_kernels.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"
#include "backend/cuda/tensor_map.h"
#include "backend/cuda/wgmma_ops.cuh"

namespace sable::cuda::mla_exp {
namespace {

constexpr int kRows = 128, kWgRows = 64, kThreads = 384;
constexpr int kKeys = 128, kStages = 2;
constexpr int kQBlk = kRows * 128;           // 16 KB: a [128 rows x 64 dims] column block of Q
constexpr int kQBytes = (kQk / 64) * kQBlk;  // 48 KB
constexpr int kKBlk = kKeys * 128;           // 16 KB: a [128 keys x 64 dims] column block of K or V
constexpr int kKBytes = (kQk / 64) * kKBlk;  // 48 KB: nope 2 blocks + rope 1
constexpr int kVBytes = (kDv / 64) * kKBlk;  // 32 KB
constexpr int kBarBytes = 4 * kStages * 8;   // fullK, fullV, emptyK, emptyV
constexpr int kSmemBytes = 1024 /* alignment slack */ + kQBytes + kStages * (kKBytes + kVBytes) + kBarBytes;
constexpr int kBarSched = 1;  // named barriers kBarSched + wg: the ping-pong turns
static_assert(kQk == 192 && kDv == 128, "the tiles and fragments are wired to these dims");
static_assert(kSmemBytes <= 227 * 1024, "shared memory");

// O[64 x 128] += P[64 x 16] V[16 x 128]: P from registers (the m64k16 A
// fragment: a0 row g keys 0-7, a1 row g + 8 keys 0-7, a2 row g keys 8-15, a3
// row g + 8 keys 8-15), V MN-major in smem (transposed B).
__device__ __forceinline__ void wgmma_pv_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" SABLE_WGMMA_D64_REGS
      "}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n"
      "}\n"
      : SABLE_WGMMA_D64_OUT(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(1));
}

// 2^x on the SFU, denormal results flushed to 0 (weights below 2^-126
// do not move a bf16 sum).
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// The producer's tensor maps (tensor_map.h): q [Tq, H, 192] in boxes of
// [128 rows x 1 head x 64 dims], kv [n, H, 256] in [128 keys x 1 x 64], k_pe
// [n, 64] in [128 keys x 64].
struct ExpTma {
  CUtensorMap q, kv, pe;
};

__global__ void __launch_bounds__(kThreads, 1)
    mla_expanded_ws_kernel(const __grid_constant__ ExpArgs p, const __grid_constant__ ExpTma tma) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms sit on 1024-byte boundaries of the shared window.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const uint32_t sQ = smem_u32(smem), sK0 = sQ + kQBytes, sV0 = sK0 + kStages * kKBytes;
  const uint32_t fullK0 = sV0 + kStages * kVBytes, fullV0 = fullK0 + 8 * kStages, emptyK0 = fullV0 + 8 * kStages,
                 emptyV0 = emptyK0 + 8 * kStages;

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
      mbar_init(fullK0 + 8 * s, 1);  // the producer's expect_tx, then the bytes
      mbar_init(fullV0 + 8 * s, 1);
      mbar_init(emptyK0 + 8 * s, 256);  // every consumer thread, once its wgmma reads are done
      mbar_init(emptyV0 + 8 * s, 256);
    }
    mbar_fence_init();
  }
  __syncthreads();  // the only CTA-wide barrier: the producer leaves early

  // The warpgroup index, provably warp-uniform (see mla_attention_ws.cu:
  // branching on tid >> 7 makes ptxas serialize every wgmma).
  const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
  if (wg == 2) {
    // ---- producer: one thread issues every copy ----
    setmaxnreg_dec<40>();
    if (tid == 256) {
      for (int j = 0; j < tiles; ++j) {
        const int st = j % kStages;
        const uint32_t phase = ((j / kStages) & 1) ^ 1;  // consumers are done with tile j - kStages
        const uint32_t sK = sK0 + st * kKBytes, sV = sV0 + st * kVBytes, fk = fullK0 + 8 * st, fv = fullV0 + 8 * st;
        const int key0 = j * kKeys;
        // Q travels with K of tile 0. Rows past Tq and keys past n land as zeros.
        mbar_wait(emptyK0 + 8 * st, phase);
        mbar_arrive_expect_tx(fk, kKBytes + (j == 0 ? kQBytes : 0));
        if (j == 0)
          for (int c = 0; c < kQk / 64; ++c) tma_load_3d(sQ + c * kQBlk, &tma.q, 64 * c, h, row0, fk);
        tma_load_3d(sK, &tma.kv, 0, h, key0, fk);
        tma_load_3d(sK + kKBlk, &tma.kv, 64, h, key0, fk);
        tma_load_2d(sK + 2 * kKBlk, &tma.pe, 0, key0, fk);
        mbar_wait(emptyV0 + 8 * st, phase);
        mbar_arrive_expect_tx(fv, kVBytes);
        tma_load_3d(sV, &tma.kv, kNope, h, key0, fv);
        tma_load_3d(sV + kKBlk, &tma.kv, kNope + 64, h, key0, fv);
      }
    }
    return;  // no barrier counts the producer from here on
  }

  // ---- consumers ----
  setmaxnreg_inc<232>();
  const int warp = (tid >> 5) & 3, lane = tid & 31, q4 = lane & 3;
  const int wrow0 = row0 + wg * kWgRows;                                               // this warpgroup's first row
  const int rg = wrow0 + warp * 16 + (lane >> 2);                                      // this thread's rows: rg, rg + 8
  const int lim0 = min(rg + p.delta, p.n - 1), lim1 = min(rg + 8 + p.delta, p.n - 1);  // last visible key
  const int first_lim = min(wrow0 + p.delta, p.n - 1);  // the warpgroup's first row's last key

  float o[64];  // O[64 x 128]: column 8 j + 2 q4 (+1) of rows rg (o[4j], o[4j+1]) and rg + 8 (o[4j+2..3])
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};  // running max (log2 domain), this thread's sums

  const uint64_t dq = kmajor_desc(sQ + wg * (kWgRows * 128));  // this warpgroup's 64 rows of each Q column block
  auto wait_k = [&](int j) { mbar_wait(fullK0 + 8 * (j % kStages), (j / kStages) & 1); };
  auto wait_v = [&](int j) { mbar_wait(fullV0 + 8 * (j % kStages), (j / kStages) & 1); };
  auto release_k = [&](int j) { mbar_arrive(emptyK0 + 8 * (j % kStages)); };
  auto release_v = [&](int j) { mbar_arrive(emptyV0 + 8 * (j % kStages)); };
  // Ping-pong turns (FlashAttention-3): warpgroup 1 hands warpgroup 0 the
  // first turn; each warpgroup takes tiles + 1 turns and passes each on,
  // except warpgroup 1's last (no one waits for it).
  auto turn_begin = [&] { named_barrier_sync(kBarSched + wg, 256); };
  auto turn_end = [&](bool last) {
    if (!(last && wg == 1)) named_barrier_arrive(kBarSched + (wg ^ 1), 256);
  };
  if (wg == 1) named_barrier_arrive(kBarSched, 256);

  // S[64 x 128] = Q K(j)^T over 192 dims, issued and committed.
  auto issue_s = [&](float(&s)[64], int j) {
    const uint64_t dk = kmajor_desc(sK0 + (j % kStages) * kKBytes);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kQk / 16; ++ks)
      WgmmaNt<128>::bf16(s, dq + (uint32_t((ks >> 2) * kQBlk + (ks & 3) * 32) >> 4),
                         dk + (uint32_t((ks >> 2) * kKBlk + (ks & 3) * 32) >> 4), ks > 0 ? 1 : 0);
    wgmma_commit();
  };
  // O += P V(j): 8 m64n128k16 over the tile's keys (descriptors from
  // pv_descs, computed before any wgmma is in flight: ptxas serializes
  // wgmmas when other instructions define their inputs inside a pipeline
  // stage), issued and committed.
  auto pv_descs = [&](int j, uint64_t(&dv)[kKeys / 16]) {
    const uint32_t sV = sV0 + (j % kStages) * kVBytes;
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) dv[kk] = mnmajor_desc(sV + kk * 2048, kKBlk);
  };
  auto issue_pv = [&](const uint32_t(&pa)[kKeys / 4], const uint64_t(&dv)[kKeys / 16]) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t a[4] = {pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3]};
      wgmma_pv_rs(o, a, dv[kk]);
    }
    wgmma_commit();
  };
  // Online softmax of S(j), in f32 and in place: s becomes the weights
  // 2^(s scale_log2 - max); returns the factors that rescale the rows' state
  // before tile j. Masks only where the tile crosses the warpgroup's first
  // row's limit or n.
  auto softmax = [&](float(&s)[64], int j, float& al0, float& al1) {
    const int key0 = j * kKeys;
    const bool masked = key0 + kKeys - 1 > first_lim;
    float mx0 = -INFINITY, mx1 = -INFINITY;
    // Raw scores: the max of s scale_log2 is the max of s times scale_log2 (> 0).
    if (masked) {
#pragma unroll
      for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = key0 + nt * 8 + q4 * 2 + e;
          if (key > lim0) s[4 * nt + e] = -INFINITY;
          if (key > lim1) s[4 * nt + 2 + e] = -INFINITY;
        }
    }
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      mx0 = fmaxf(mx0, fmaxf(s[4 * nt], s[4 * nt + 1]));
      mx1 = fmaxf(mx1, fmaxf(s[4 * nt + 2], s[4 * nt + 3]));
    }
    float al[2], ms[2];
    update_row_max(mx0 * p.scale_log2, mx1 * p.scale_log2, m_r, al, ms);
    al0 = al[0];
    al1 = al[1];
    const float sc = p.scale_log2, ms0 = ms[0], ms1 = ms[1];
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      s[4 * nt] = ex2(fmaf(s[4 * nt], sc, -ms0));
      s[4 * nt + 1] = ex2(fmaf(s[4 * nt + 1], sc, -ms0));
      s[4 * nt + 2] = ex2(fmaf(s[4 * nt + 2], sc, -ms1));
      s[4 * nt + 3] = ex2(fmaf(s[4 * nt + 3], sc, -ms1));
    }
  };
  // The weights rounded to bf16 as P V's A fragments (keys 8 nt.. are
  // k-step nt / 2's first (nt even) or second half), and the rows' running
  // sums, which add the rounded weights that P V multiplies. Runs when no
  // wgmma reads pa: ptxas serializes wgmmas when other instructions define
  // a wgmma's input registers while any wgmma is in flight.
  auto pack = [&](const float(&s)[64], uint32_t(&pa)[kKeys / 4], float al0, float al1) {
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

  float s[64];
  uint32_t pa[kKeys / 4];
  float al0, al1;
  wait_k(0);
  turn_begin();
  issue_s(s, 0);
  turn_end(false);
  wgmma_wait0();
  wgmma_fence_operands(s);
  release_k(0);
  softmax(s, 0, al0, al1);  // O is still 0: its factors do not matter
  pack(s, pa, al0, al1);
  for (int j = 0; j + 1 < tiles; ++j) {
    uint64_t dv[kKeys / 16];
    pv_descs(j, dv);
    wait_k(j + 1);
    wait_v(j);
    turn_begin();
    issue_s(s, j + 1);  // queued ahead of P V(j): its softmax overlaps P V(j)
    issue_pv(pa, dv);
    turn_end(false);
    wgmma_wait<1>();  // S(j + 1)
    wgmma_fence_operands(s);
    release_k(j + 1);
    softmax(s, j + 1, al0, al1);
    wgmma_wait0();  // P V(j)
    wgmma_fence_operands(o);
    wgmma_fence_operands(pa);
    release_v(j);
    // O rescaled between P V(j) and P V(j + 1), when no wgmma holds it.
    scale_rows(o, al0, al1);
    pack(s, pa, al0, al1);
  }
  uint64_t dv[kKeys / 16];
  pv_descs(tiles - 1, dv);
  wait_v(tiles - 1);
  turn_begin();
  issue_pv(pa, dv);
  turn_end(true);
  wgmma_wait0();
  wgmma_fence_operands(o);
  wgmma_fence_operands(pa);
  release_v(tiles - 1);

  // ---- epilogue: normalize, merge with the stored chunk, write ----
  store_rows(p, h, rg, m_r, l_r, [&](int nt, int e) { return o[4 * nt + e]; });
}

}  // namespace

void launch_ws(const ExpArgs& a, cudaStream_t stream) {
  ExpTma tma{};
  if (a.n > 0) {  // n == 0: every CTA exits before reading
    const uint64_t H = uint64_t(a.H), n = uint64_t(a.n), Tq = uint64_t(a.Tq), kw = kNope + kDv;
    tma.q = tensor_map_bf16(a.q, {kQk, H, Tq}, {kQk * 2, H * kQk * 2}, {64, 1, kRows});
    tma.kv = tensor_map_bf16(a.kv, {kw, H, n}, {kw * 2, H * kw * 2}, {64, 1, kKeys});
    tma.pe = tensor_map_bf16(a.k_pe, {kRope, n}, {kRope * 2}, {64, kKeys});
  }
  allow_dynamic_smem(mla_expanded_ws_kernel, kSmemBytes);
  const dim3 grid((a.Tq + kRows - 1) / kRows, unsigned(a.H));
  mla_expanded_ws_kernel<<<grid, kThreads, kSmemBytes, stream>>>(a, tma);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla_exp
