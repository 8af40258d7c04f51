// The MoE experts' grouped GEMM for prefill-sized batches, on Hopper tensor
// cores (wgmma), bf16 or FP8 (DeepSeek-V3 block scaling):
//   out[p, n] = row_scale[p] * sum_k x[x_index[p], k] W[g][n, k]
// over the tiles of tokens sorted by expert that moe_experts builds (up to
// 128 tokens of one expert g per tile), with the gate/up SiLU product in the
// epilogue (glu). The weight-streaming kernel (gemm_stream.cu) reads each
// weight once and is the right kernel for a few tokens per expert; with
// ~128 tokens per expert (4096 tokens, top-8 of 256) it re-reads the tokens
// for every 64 weight rows and reached 12.6% of the GEMM rate (H200,
// bench/results/cuda-gemm-2026-11-30.md). Here a CTA computes a 128-row x
// 128-token tile from shared memory, K in stages of one 128-byte swizzled
// row (64 bf16 / 128 fp8), wgmma m64n128 (A = weights, B = tokens, both
// K-major in the 128-byte-swizzle layout; the weights come from natural rows
// or the prepared experts' 4 KB tiles, expert_tiles.cuh, one 16-byte chunk
// per copy either way), and the accumulator goes through
// shared memory so that the stores are coalesced along n and the gate/up
// rows (interleaved by 16) meet. Two kernels, picked by
// set_grouped_wgmma_variant / SABLE_MOE_WGMMA_WS; the first stays as the
// tests' bitwise reference for the second, the default (H200, 4096 tokens,
// whole MoE op: bf16 258 -> 323 TFLOP/s, FP8 346 -> 387; ef9b2a8):
//   - moe_wgmma_kernel (moe_grouped_wgmma_ref.cu): 8 warps = 2 warpgroups of 64 weight rows that all
//     load (cp.async, 4 stages, prefetch distance 2) and compute, with one
//     __syncthreads per stage. Loads and MMAs overlap poorly, both
//     warpgroups run in lockstep, and FP8 waits for each stage's wgmma
//     before promoting, so the tensor core idles during the promotion
//     (36% / 27% of cuBLASLt's bf16 / FP8 rate at 4096 tokens).
//   - moe_wgmma_ws_kernel, warp-specialized: a producer warpgroup issues the
//     cp.async copies into a 6-7 stage ring and two consumer warpgroups only
//     run wgmma, synchronized per stage by mbarriers (full: data landed;
//     empty: both consumers are done with it). The consumers never wait on
//     their own copies, and they are not in lockstep: one warpgroup's FP8
//     promotion overlaps the other's wgmma. setmaxnreg moves registers from
//     the producer (40) to the consumers (232). Same tile, CTA mapping,
//     k order and promotion order as the first kernel: bitwise the same
//     results.
//   - the same kernel with 256-row tiles (bf16, N % 256 == 0; variant 2):
//     each consumer warpgroup owns 128 weight rows, two m64n128k16 wgmmas
//     per k16 step into two accumulators. With 128 x 128 tiles a CTA needs
//     a byte from L2 per 64 bf16 FLOP, ~4.3 TB/s at the 277 TFLOP/s the
//     kernel reached at 4096 tokens, near L2's limit; 256 x 128 raises that
//     to 85 FLOP/B. 48 KB stages leave room for a 4-stage ring. Every
//     output is the same wgmma k16 sequence as in the 128-row kernels:
//     bitwise the same results. FP8 keeps 128 rows: its per-m64 block
//     accumulator would not fit twice in the consumers' registers. With
//     four stages a producer lag of one stage (a landed stage is signalled
//     one issue later instead of two) measured faster (329 vs 297 TFLOP/s).
// CTA order: an expert's tiles are neighbours in the tile list; CTA c is
// mapped to (row block, tile) of its expert with the tile fastest, so the
// CTAs that share a weight block run together (one DRAM read), and all row
// blocks of an expert run within a wave or two while its token rows sit in
// L2. Grids are sized from T alone, so the call can be captured in a graph.
#include <cuda_bf16.h>

#include <cstdlib>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/moe_grouped_wgmma.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {

namespace {

using namespace moe_wgmma;  // NOLINT: the shared tile shape and helpers (moe_grouped_wgmma.cuh)

// The warp-specialized kernel: warpgroup 0 produces, warpgroups 1-2 consume.
constexpr int kWsThreads = 384;
constexpr int kWsProducers = 128;  // full-barrier arrivals per stage: every producer thread
constexpr int kWsConsumers = 256;
constexpr int kWsConsumerWarps = kWsConsumers / 32;  // empty-barrier arrivals per stage: one per consumer warp
// Stages a producer thread keeps in flight before it waits for the oldest
// and signals it full. The copying thread itself waits for its copies to
// land, so that its proxy fence can order them before the consumers' wgmma
// reads (see the producer); a landed stage thus reaches the consumers L
// issues later, and in the steady state (producer waiting for free slots)
// the consumers run about S - L - 2 (bf16) / S - L - 1 (FP8) signalled
// stages ahead of it. L <= S - 2 keeps the ring deadlock-free: bf16 frees a
// stage only once the next stage's wgmma is issued.
constexpr int kWsLag = 2;
// Weight rows per consumer warpgroup R: 64 (one m64 accumulator) or, bf16
// only, 128 (two). The CTA tile is 2 R weight rows x 128 tokens; a stage is
// the A tile (2 R rows x 128 B) and the B tile (128 tokens x 128 B).
constexpr int ws_bm(int rows) { return 2 * rows; }
constexpr int ws_a_bytes(int rows) { return ws_bm(rows) * kRowBytes; }
constexpr int ws_stage_bytes(int rows) { return ws_a_bytes(rows) + kBN * kRowBytes; }
constexpr int ws_epi_ld(int rows) { return ws_bm(rows) + 4; }  // floats per token in the epilogue tile
// As many stages as fit in the 227 KB an SM gives one CTA: 1 KB alignment
// slack, the stages (+ FP8 token scales), full and empty mbarriers. 32 KB
// stages (R = 64): 7 bf16, 6 FP8; 48 KB stages (R = 128): 4.
constexpr int ws_stages(bool fp8, int rows) { return rows == 128 ? 4 : fp8 ? 6 : 7; }
constexpr int ws_smem_bytes(bool fp8, int rows) {
  return 1024 + ws_stages(fp8, rows) * (ws_stage_bytes(rows) + (fp8 ? kScaleBytes : 0) + 2 * 8);
}
static_assert(ws_stage_bytes(64) == kStageBytes, "R = 64 is the first kernel's tile");
static_assert(ws_smem_bytes(false, 64) <= 227 * 1024 && ws_smem_bytes(true, 64) <= 227 * 1024 &&
                  ws_smem_bytes(false, 128) <= 227 * 1024,
              "stages fit in shared memory");
static_assert(kBN * ws_epi_ld(64) * 4 <= ws_stages(true, 64) * ws_stage_bytes(64) &&
                  kBN * ws_epi_ld(128) * 4 <= ws_stages(false, 128) * ws_stage_bytes(128),
              "epilogue tile reuses the stages");
static_assert(kWsLag <= ws_stages(true, 64) - 2 && kWsLag <= ws_stages(false, 64) - 2 &&
                  kWsLag <= ws_stages(false, 128) - 2,
              "lag must leave the ring live");
// The warp-specialized kernel (see the top of the file), kRows weight rows
// per consumer warpgroup (64, or 128 for bf16). Shared memory: [S stages of
// A (2 kRows rows x 128 B: 16 or 32 KB) + B 16 KB][FP8: S x 128 token
// scales][S full][S empty mbarriers]; the epilogue tile reuses the stages.
// Stage kb lives in slot kb % S, on pass n = kb / S over the ring. full[s]
// completes its phase n when all 128 producer threads have signalled stage
// kb landed (consumers wait on parity n & 1); empty[s] completes phase n when
// all 8 consumer warps are done with it (the producer waits on parity
// (n & 1) ^ 1 before refilling: on the first pass that is the phase before
// the fresh barrier's phase 0, which counts as completed, so it does not
// block). Neither barrier can run two phases ahead of its waiter: each phase
// of one needs the other's previous phase.
template <bool kFp8, int kRows, int kLag = kWsLag>
__global__ void __launch_bounds__(kWsThreads, 1) moe_wgmma_ws_kernel(const StreamGemmArgs a) {
  static_assert(kRows == 64 || (kRows == 128 && !kFp8), "FP8 needs a block accumulator per m64: 64 rows only");
  constexpr int S = ws_stages(kFp8, kRows);
  static_assert(kLag >= 1 && kLag <= S - 2, "lag must leave the ring live");
  constexpr int BM = ws_bm(kRows);                  // weight rows per CTA
  constexpr int kABytes = ws_a_bytes(kRows);        // A tile of a stage; B follows
  constexpr int kSBytes = ws_stage_bytes(kRows);    // one stage
  constexpr int kAcc = kRows / 64;                  // m64 accumulators per consumer warpgroup
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Aligned by pointer arithmetic on the __shared__ array (not through an
  // integer), so that the compiler keeps the address space: LDS/STS rather
  // than generic loads for the scales and the epilogue tile.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const int RB = int(a.N / BM);
  const int q = int(blockIdx.x) / RB;
  if (q >= *a.num_tiles) return;  // the whole CTA, before any barrier
  // (row block, tile) within the expert's group of tiles, tile fastest.
  const int t0 = a.tile_groups[2 * q], n_tiles = a.tile_groups[2 * q + 1];
  const int local = int(blockIdx.x) - t0 * RB;
  const int rb = local / n_tiles, tile = t0 + local % n_tiles;
  const int g = a.tiles[3 * tile], p0 = a.tiles[3 * tile + 1], cnt = a.tiles[3 * tile + 2];

  const int tid = threadIdx.x, lane = tid & 31;
  constexpr int kElem = kFp8 ? 1 : 2;  // bytes per element
  const int KB = int(a.K * kElem / kRowBytes);
  const uint32_t sbase = smem_u32(smem);
  const uint32_t sscale = sbase + uint32_t(S * kSBytes);
  const uint32_t full0 = sscale + uint32_t(kFp8 ? S * kScaleBytes : 0), empty0 = full0 + 8 * S;
  if (tid == 0) {
    for (int s = 0; s < S; ++s) {
      mbar_init(full0 + 8 * s, kWsProducers);
      mbar_init(empty0 + 8 * s, kWsConsumerWarps);
    }
    mbar_fence_init();
  }
  __syncthreads();  // the only CTA-wide barrier: the producer may leave early

  if (tid < kWsProducers) {
    // Producer: thread tid copies chunk tid % 8 of rows tid / 8 + 16 i of
    // both tiles (i < 8 for B, i < 2 kRows / 16 for A; 8 threads per
    // 128-byte row: coalesced). Those rows share row % 8, so their swizzled
    // offsets are 16 rows = 2 KB apart.
    setmaxnreg_dec<40>();
    // 40 registers: the sources advance by a stage rather than being
    // recomputed, and the row strides are 32-bit. Weight row r0 + 16 i is
    // at asrc + (i / 2) astep2 + (i % 2) astep1 in either layout.
    const int r0 = tid >> 3, ch = tid & 7;
    const uint32_t soff = swz128(r0, ch);
    const auto* wg = static_cast<const uint8_t*>(a.w) + int64_t(g) * a.w_gstride * kElem;
    const int64_t n0 = int64_t(rb) * BM + r0;
    const uint8_t* asrc = weight_chunk(a, wg, n0, ch, kElem);
    const uint32_t astep1 = uint32_t(weight_chunk(a, wg, n0 + 16, ch, kElem) - asrc);
    const uint32_t astep2 = uint32_t(weight_chunk(a, wg, n0 + 32, ch, kElem) - asrc);
    const uint32_t wstep = weight_stage_bytes(a);
    const auto* xsrc = static_cast<const uint8_t*>(a.x) + ch * 16;
    const uint32_t ldxb = uint32_t(a.ldx * kElem);
    int xrow[8];  // gathered token rows; rows past the tile's tokens are zero-filled (row 0, 0 bytes)
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int r = r0 + 16 * i;
      xrow[i] = r < cnt ? (a.x_index ? a.x_index[p0 + r] : p0 + r) : 0;
    }
    // FP8: thread tid fetches token tid's scale of each stage.
    const float* xs_src = nullptr;
    int xs_bytes = 0;
    if constexpr (kFp8) {
      const bool real = tid < cnt;
      const int64_t xr = real ? (a.x_index ? a.x_index[p0 + tid] : p0 + tid) : 0;
      xs_src = a.xs + xr * a.xs_st;
      xs_bytes = real ? 4 : 0;
    }
    int st = 0, sig = 0;  // slot being filled, oldest slot not yet signalled
    uint32_t ph = 0;      // parity of the pass over the ring at slot st
    for (int kb = 0; kb < KB; ++kb) {
      mbar_wait(empty0 + 8 * st, ph ^ 1);  // both consumers are done with the slot's previous stage
      const uint32_t sa = sbase + uint32_t(st * kSBytes) + soff, sb = sa + kABytes;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        // Opaque per stage: keeps the 8 row offsets from being hoisted out
        // of the loop as 64-bit values (16 registers, a spill at 40).
        uint32_t xr = uint32_t(xrow[i]);
        asm volatile("" : "+r"(xr));
        cp_async16(sa + i * 2048, asrc + (i >> 1) * astep2 + (i & 1) * astep1, 16);
        cp_async16(sb + i * 2048, xsrc + uint64_t(xr) * ldxb, r0 + 16 * i < cnt ? 16 : 0);
      }
      // kRows = 128: A rows r0 + 16 i for i = 8 .. 15 (the 32-row steps stay
      // 32-bit: at most 7 x 32 weight rows).
#pragma unroll
      for (int i = 8; i < BM / 16; ++i) cp_async16(sa + i * 2048, asrc + (i >> 1) * astep2 + (i & 1) * astep1, 16);
      if constexpr (kFp8) {
        cp_async4(sscale + uint32_t((st * kBN + tid) * 4), xs_src, xs_bytes);
        xs_src += a.xs_sk;
      }
      cp_async_commit();
      asrc += wstep;
      xsrc += kRowBytes;
      if (kb >= kLag) {
        // Stage kb - L has landed for this thread's copies. cp.async writes
        // through the generic proxy and wgmma reads through the async proxy:
        // the proxy fence between the landed writes and the release orders
        // them before the consumers' wgmma.
        cp_async_wait<kLag>();
        fence_proxy_async();
        mbar_arrive(full0 + 8 * sig);
        if (++sig == S) sig = 0;
      }
      if (++st == S) {
        st = 0;
        ph ^= 1;
      }
    }
    // The last min(L, KB) stages.
    cp_async_wait_all();
    fence_proxy_async();
    for (int kb = KB > kLag ? KB - kLag : 0; kb < KB; ++kb) {
      mbar_arrive(full0 + 8 * sig);
      if (++sig == S) sig = 0;
    }
    return;  // no barrier counts the producer from here on
  }

  // Consumers: warpgroup cwg = 0, 1 computes weight rows kRows cwg ..
  // +kRows-1, accumulator h rows +64 h .. +63.
  setmaxnreg_inc<232>();
  const int ctid = tid - kWsProducers, cw = ctid >> 5, cwg = cw >> 2;
  // A slot is free for the producer once this warp's wgmma reads (and FP8
  // scale reads) of it are done; the warp's lanes first agree on that.
  auto release = [&](int slot) {
    __syncwarp();
    if (lane == 0) mbar_arrive(empty0 + 8 * slot);
  };
  float acc[kAcc][64];
#pragma unroll
  for (int h = 0; h < kAcc; ++h)
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[h][i] = 0.f;
  int st = 0;
  uint32_t ph = 0;
  if constexpr (kFp8) {
    // FP8 weight scale of this thread's rows: the warp's 16-row group is gate
    // (even) or up (odd) under glu, both in natural row block rb / 2.
    const int64_t gbase = int64_t(g) * a.ws_gstride;
    const float* wscale = a.glu ? a.ws + gbase + ((cw & 1) ? a.ws_up : 0) + int64_t(rb / 2) * a.ws_ld
                                : a.ws + gbase + int64_t(rb) * a.ws_ld;
    const float* sxs = reinterpret_cast<const float*>(smem + S * kSBytes);
    float blk[64];  // one 128-wide K block's partial sums (the first wgmma of a block overwrites them)
#pragma unroll
    for (int i = 0; i < 64; ++i) blk[i] = 0.f;
    float ws_next = KB > 0 ? wscale[0] : 0.f;  // loaded a stage ahead: off the promotion's path
    for (int kb = 0; kb < KB; ++kb) {
      const float ws = ws_next;
      if (kb + 1 < KB) ws_next = wscale[kb + 1];
      mbar_wait(full0 + 8 * st, ph);
      const uint32_t sa = sbase + uint32_t(st * kSBytes);
      const uint64_t da = kmajor_desc(sa + uint32_t(cwg * (kABytes / 2))), db = kmajor_desc(sa + kABytes);
      wgmma_fence();
      // blk[64 rows x 128 tokens] = A[64 x 128 of K] B[128 x 128 of K]^T, +32 B per k32.
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_m64n128k32_e4m3(blk, da + 2 * ks, db + 2 * ks, ks);
      wgmma_commit();
      // The stage's token scales while the tensor core works (tokens
      // 8 j + 2 (lane % 4) + {0, 1}), times the weight scale as before.
      const float* sx = sxs + st * kBN + (lane & 3) * 2;
      float s0[16], s1[16];
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        s0[j] = ws * sx[j * 8];
        s1[j] = ws * sx[j * 8 + 1];
      }
      wgmma_wait0();
      wgmma_fence_operands(blk);
      release(st);
      // acc += blk * (weight scale x token scale); the other warpgroup's
      // wgmma runs meanwhile.
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        acc[0][4 * j] += blk[4 * j] * s0[j];
        acc[0][4 * j + 1] += blk[4 * j + 1] * s1[j];
        acc[0][4 * j + 2] += blk[4 * j + 2] * s0[j];
        acc[0][4 * j + 3] += blk[4 * j + 3] * s1[j];
      }
      if (++st == S) {
        st = 0;
        ph ^= 1;
      }
    }
  } else {
    int prev = 0;
    for (int kb = 0; kb < KB; ++kb) {
      mbar_wait(full0 + 8 * st, ph);
      const uint32_t sa = sbase + uint32_t(st * kSBytes);
      const uint32_t sa_wg = sa + uint32_t(cwg * (kABytes / 2));
      const uint64_t db = kmajor_desc(sa + kABytes);
      uint64_t da[kAcc];
#pragma unroll
      for (int h = 0; h < kAcc; ++h) da[h] = kmajor_desc(sa_wg + uint32_t(h * 64 * kRowBytes));
      wgmma_fence();
      // acc[h][64 rows x 128 tokens] += A[rows 64 h .. +63 x 64 of K] B[128 x 64 of K]^T,
      // +32 B per k16; each accumulator sees the k16 steps in the same order.
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
#pragma unroll
        for (int h = 0; h < kAcc; ++h) wgmma_m64n128k16(acc[h], da[h] + 2 * ks, db + 2 * ks, 1);
      wgmma_commit();
      wgmma_wait<1>();  // stage kb - 1's wgmma has completed: its slot is free
      if (kb > 0) release(prev);
      prev = st;
      if (++st == S) {
        st = 0;
        ph ^= 1;
      }
    }
  }
  wgmma_wait0();
#pragma unroll
  for (int h = 0; h < kAcc; ++h) wgmma_fence_operands(acc[h]);
  // The epilogue tile overwrites the stages: every consumer's wgmma reads
  // must be done (the producer's copies all landed before their full
  // signals, which both consumers have waited on).
  named_barrier_sync(1, kWsConsumers);
  float* sE = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int h = 0; h < kAcc; ++h)
    acc_to_smem<ws_epi_ld(kRows)>(sE, acc[h], cwg * kRows + h * 64 + (cw & 3) * 16 + (lane >> 2), lane);
  named_barrier_sync(1, kWsConsumers);
  store_tile<kWsConsumers, BM>(a, sE, ctid, p0, cnt, rb);
}

}  // namespace

bool grouped_wgmma_supported(const StreamGemmArgs& a) {
  return !a.out_f32 && a.bn == kBN && a.tile_groups != nullptr && a.N % kBM == 0 &&
         a.K % (a.fp8 ? 128 : 64) == 0 && a.ldx % 16 == 0 && a.ldo % 8 == 0 && (!a.fp8 || a.xs != nullptr) &&
         (a.w_kt == 0 || a.w_kt * kRowBytes == a.K * (a.fp8 ? 1 : 2));
}

namespace {
// 0: moe_wgmma_kernel; 1: the warp-specialized kernel, 128-row tiles; 2: the
// warp-specialized kernel with 256-row tiles for bf16 where N % 256 == 0
// (else as 1), with a producer lag of one stage (four 48 KB stages leave the
// consumers no slack at lag 2: H200, cb31c4b, 4,096 tokens: 297 -> 329
// TFLOP/s; FP8 at lag 1 measured no better, 377 vs 387, ef9b2a8); -1: the
// default (2); -2: read SABLE_MOE_WGMMA_WS (0-2 forces one) on first use.
int g_ws_variant = -2;
}  // namespace

void set_grouped_wgmma_variant(int v) { g_ws_variant = v; }

void launch_grouped_wgmma(const StreamGemmArgs& a, cudaStream_t stream) {
  if (g_ws_variant == -2) {
    const char* e = std::getenv("SABLE_MOE_WGMMA_WS");
    g_ws_variant = (e && *e >= '0' && *e <= '2') ? *e - '0' : -1;
  }
  const int v = g_ws_variant < 0 ? 2 : g_ws_variant;
  if (v == 2 && !a.fp8 && a.N % ws_bm(128) == 0) {
    const int64_t ctas = int64_t(a.grid_tiles) * (a.N / ws_bm(128));
    if (ctas == 0) return;
    allow_dynamic_smem(moe_wgmma_ws_kernel<false, 128, 1>, ws_smem_bytes(false, 128));
    moe_wgmma_ws_kernel<false, 128, 1><<<unsigned(ctas), kWsThreads, ws_smem_bytes(false, 128), stream>>>(a);
    SABLE_LAUNCH_OK();
    return;
  }
  const int64_t ctas = int64_t(a.grid_tiles) * (a.N / kBM);
  if (ctas == 0) return;
  if (v != 0) {
    auto k = a.fp8 ? moe_wgmma_ws_kernel<true, 64> : moe_wgmma_ws_kernel<false, 64>;
    allow_dynamic_smem(k, ws_smem_bytes(a.fp8, 64));
    k<<<unsigned(ctas), kWsThreads, ws_smem_bytes(a.fp8, 64), stream>>>(a);
    SABLE_LAUNCH_OK();
  } else {
    launch_ref(a, stream);
  }
}

}  // namespace sable::cuda
