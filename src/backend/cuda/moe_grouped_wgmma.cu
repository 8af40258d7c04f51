// The MoE experts' grouped GEMM for prefill-sized batches, on Hopper tensor
// cores (wgmma), bf16 or FP8 (DeepSeek-V3 block scaling):
//   out[p, n] = row_scale[p] * sum_k x[x_index[p], k] W[g][n, k]
// over the tiles of tokens sorted by expert that moe_experts builds (up to
// 128 tokens of one expert g per tile), with the gate/up SiLU product in the
// epilogue (glu). The weight-streaming kernel (gemm_stream.cu) reads each
// weight once and is the right kernel for a few tokens per expert; with
// ~128 tokens per expert (4096 tokens, top-8 of 256) it re-reads the tokens
// for every 64 weight rows and reached 12.6% of the GEMM rate (H200,
// bench/results/cuda-gemm-2026-11-30.md). Here a CTA computes a tile of
// weight rows x up to 128 tokens from shared memory, K in stages of 128
// bytes (64 bf16 / 128 fp8), A = weights, B = tokens, both K-major, and the
// accumulator goes through shared memory so that the stores are coalesced
// along n and the gate/up rows (interleaved by 16) meet. Two kernels,
// picked by set_grouped_wgmma_variant / SABLE_MOE_WGMMA_WS; the first stays
// as the tests' bitwise reference for the second, the default:
//   - moe_wgmma_kernel (moe_grouped_wgmma_ref.cu): 8 warps = 2 warpgroups of
//     64 weight rows that all load (cp.async, 4 stages, prefetch distance 2)
//     and compute, with one __syncthreads per stage; 128 x 128 tiles in the
//     128-byte swizzle, weights from natural rows or the prepared tiles.
//   - moe_wgmma_ws_kernel, warp-specialized: one producer thread issues TMA
//     copies into a 4-7 stage ring and two consumer warpgroups only run
//     wgmma, synchronized per stage by mbarriers (full: the stage's bytes
//     landed; empty: both consumers are done with it); one warpgroup's FP8
//     promotion overlaps the other's wgmma; setmaxnreg moves registers from
//     the producer warpgroup (40) to the consumers (232). The weights come
//     from the prepared experts' tiles (expert_tiles.cuh), whose 2 KB blocks
//     of 32 rows x 64 bytes are TMA boxes landing in the 64-byte swizzle;
//     the tokens as contiguous rows (moe_experts gathers them in expert
//     order first; FP8: the quantized tokens' rows) in 128-token boxes, then
//     16-token boxes for the rest (a short tile reads only its tokens), and
//     FP8 token scales by a plain bulk copy. The consumers run at the tile's
//     token count rounded up to 16 (wgmma m64nNk16/k32, N = 16 .. 128): an
//     expert's tokens rarely fill their last tile (4,096 tokens, top-8 of
//     256: 128 +- 11 per expert, 71 % of 128-token tiles' slots used, 95 %
//     at 16-token granularity). N % 256 == 0 (variants 2 and 3)
//     takes 256-row tiles: each consumer warpgroup owns 128 weight rows in
//     two accumulators, 85 bf16 / 170 FP8 FLOP per byte from L2 instead of
//     64 / 128. FP8's two accumulators share one block accumulator
//     (registers: acc[2] + blk + the stage's scales fit in 240, two blk
//     would not), the second's wgmma issued after the first's promotion
//     (FP8 4,096 tokens: 470 vs 416 TFLOP/s with 128-row tiles,
//     bench/results/2026-12-03-6dc1928-moe-fp8-256row.md). An expert with
//     more than one tile (4,096 tokens: about half of them, a full tile and
//     a short one) has its tiles paired: tiles 2j and 2j+1 run as two CTAs
//     of 128 weight rows (the halves of the 256-row block) over both tiles'
//     tokens, each consumer warpgroup taking half the tokens, so the weight
//     block is read from L2 once and the short tile costs no 256-row pass
//     (4,096 tokens bf16 9.35 -> 8.52 ms, FP8 6.30 -> 5.81;
//     bench/results/2026-12-03-1d18847-moe-paired-tiles.md). In gate/up a
//     pair of at most 160 tokens (4,096 tokens: nearly every expert with
//     two tiles) is one wide item instead: one CTA over the whole 256-row
//     block, each consumer warpgroup all 256 rows (four accumulators) x its
//     half of the tokens, so the tokens are read from L2 once per row block,
//     not once per half (the stage slots grow to 52 KB for its 160 token
//     rows; ncu gate/up FP8 2,689 -> 2,478 us, the op 5,342 -> 5,036 us FP8,
//     8,365 -> 7,956 bf16; record 2026-12-04-bb82c18-moe-wide-items-ab.md).
//     Same k order and promotion order as the first kernel, whatever the
//     tile shape: bitwise the same results.
//   - moe_wgmma_pst_kernel (variant 3, the default), for the down GEMM (no
//     gate/up product): the 256-row kernel made persistent, its epilogue
//     stored by TMA from a bf16 staging tile while the consumers go on to
//     the next item's main loop (moe_grouped_wgmma_pst.cu).
// History (H200, 4,096 tokens, whole MoE op): the first kernel 258 / 346
// TFLOP/s bf16 / FP8; the warp-specialized one with a 128-thread cp.async
// producer 323 / 387 (ef9b2a8); ncu of that one: bf16 L2-bound (85-91 % of
// L2 throughput), FP8 bound by nothing in particular: its producer threads
// waited for their own copies before signalling them (the proxy fence
// cp.async needs before wgmma reads), which capped the ring's depth. With
// one TMA thread producing (no lag), the tokens gathered in expert order
// and the consumers at the tiles' token width: 329 / 427
// (bench/results/2026-12-03-moe-tma.md). Two-CTA clusters multicasting the
// token box (each CTA loading half, to halve the L2 reads of tokens) ran
// slower, 235 / 300, mostly through the consumers' remote release at
// cluster scope; redone with CTA scope, it is neutral (multicast saves ~90
// of gate/up's ~2,730 us, coupling the rings costs ~130; record
// 2026-12-04-07f364c-moe-cluster-multicast-ab.md); not kept. 256-row FP8
// tiles: 427 -> 468; paired tiles and trimmed token boxes: bf16 339, FP8 497
// (8,192 tokens: bf16 413, 61 % of cuBLASLt). The persistent down GEMM: FP8
// 5,340 -> 5,197 us (555 TFLOP/s), bf16 equal
// (bench/results/2026-12-03-1bacd7a-moe-persistent-down.md).
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
#include "backend/cuda/moe_grouped_wgmma_ws.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"
#include "backend/cuda/tensor_map.h"

namespace sable::cuda {

namespace {

using namespace moe_wgmma;  // NOLINT: the shared tile shape and helpers (moe_grouped_wgmma.cuh)

template <bool kFp8, int kRows, int kN, bool kWide = false>
__device__ __forceinline__ void ws_consume(const StreamGemmArgs& a, const WsTile& t, int tok0) {
  constexpr int BM = ws_bm(kRows);
  constexpr int kAcc = kWide ? 4 : kRows / 64;
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  const bool paired = kRows == 128 && t.paired;
  float acc[kAcc][kN / 2];
  int st = 0;
  uint32_t ph = 0;
  ws_mainloop<kFp8, kRows, kN, ws_stages(kFp8, kRows), kWide, ws_slot_bytes(kRows)>(a, t, tok0, st, ph, acc);
  if (a.skip_epilogue) return;  // timing only (StreamGemmArgs::skip_epilogue)
  // The epilogue tile overwrites the stages: every consumer's wgmma reads
  // must be done (the producer's copies all landed before their full
  // signals, which both consumers have waited on).
  named_barrier_sync(1, kWsConsumers);
  float* sE = reinterpret_cast<float*>(t.smem);
  if constexpr (kWide) {  // sE [<= 160 tokens][256 rows]: row block rb, both warpgroups' tokens
    constexpr int kLd = ws_epi_ld(128);
#pragma unroll
    for (int h = 0; h < kAcc; ++h)
      acc_to_smem<kLd>(sE + tok0 * kLd, acc[h], h * 64 + (cw & 3) * 16 + (lane >> 2), lane);
    named_barrier_sync(1, kWsConsumers);
    store_tile<kWsConsumers, BM, kWsWideMax>(a, sE, ctid, t.p0, t.cnt, t.rb);
    return;
  }
  if constexpr (kRows == 128) {
    if (paired) {  // sE [256 tokens][128 rows]: the 128-row block 2 rb + half
      constexpr int kLd = ws_epi_ld(64);
#pragma unroll
      for (int h = 0; h < kAcc; ++h)
        acc_to_smem<kLd>(sE + tok0 * kLd, acc[h], h * 64 + (cw & 3) * 16 + (lane >> 2), lane);
      named_barrier_sync(1, kWsConsumers);
      store_tile<kWsConsumers, kRows, 2 * kBN>(a, sE, ctid, t.p0, t.cnt, 2 * t.rb + t.half);
      return;
    }
  }
#pragma unroll
  for (int h = 0; h < kAcc; ++h)
    acc_to_smem<ws_epi_ld(kRows)>(sE, acc[h], cwg * kRows + h * 64 + (cw & 3) * 16 + (lane >> 2), lane);
  named_barrier_sync(1, kWsConsumers);
  store_tile<kWsConsumers, BM>(a, sE, ctid, t.p0, t.cnt, t.rb);
}

// The warp-specialized kernel (see the top of the file), kRows weight rows
// per consumer warpgroup (64 or 128). Shared memory: [S slots of
// A (2 kRows rows x 128 B: 16 or 32 KB) + B (128 tokens x 128 B, or for
// kRows = 128 up to 160: ws_slot_bytes)][FP8: S x token scales][S full][S
// empty mbarriers]; the epilogue tile reuses the slots.
// Everything arrives by the TMA unit, issued by one producer thread:
//   - A, two halves of K, [2][BM rows][64 B] in the 64-byte swizzle: the
//     prepared experts' 4 KB tiles are two 2 KB blocks of 32 rows x 64 bytes
//     (expert_tiles.cuh), and `amap` reads one such block per box, 2 BM / 32
//     boxes a stage;
//   - B, the stage's 128 tokens x 128 B in the 128-byte swizzle, one box of
//     `bmap` over x's rows p0 .. p0 + 127 (the tokens in expert order:
//     moe_experts gathers them before gate/up; rows past the tile's tokens
//     belong to other tiles or lie outside x, zeros, and are never stored);
//   - FP8: the stage's token scales, a plain bulk copy of xs[kb][p0 & ~3 ..
//     + 131] (cut at the row's end): a tensor-map box cannot start at
//     token p0 unless p0 % 4 == 0 (16 bytes; the copy faults otherwise).
// Stage kb lives in slot kb % S, on pass n = kb / S over the ring. full[s]
// completes its phase n when the issuing thread has arrived with the
// stage's byte count and the bytes landed (consumers wait on parity n & 1);
// empty[s] completes phase n when all 8 consumer warps are done with it (the
// producer waits on parity (n & 1) ^ 1 before refilling: on the first pass
// that is the phase before the fresh barrier's phase 0, which counts as
// completed, so it does not block). Neither barrier can run two phases ahead
// of its waiter: each phase of one needs the other's previous phase.
template <bool kFp8, int kRows>
__global__ void __launch_bounds__(kWsThreads, 1)
    moe_wgmma_ws_kernel(const StreamGemmArgs a, const __grid_constant__ CUtensorMap amap,
                        const __grid_constant__ CUtensorMap bmap, const __grid_constant__ CUtensorMap bmap16) {
  static_assert(kRows == 64 || kRows == 128, "one or two m64 accumulators per consumer warpgroup");
  constexpr int S = ws_stages(kFp8, kRows);
  constexpr int BM = ws_bm(kRows);  // weight rows per CTA
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Aligned by pointer arithmetic on the __shared__ array (not through an
  // integer), so that the compiler keeps the address space: LDS/STS rather
  // than generic loads for the scales and the epilogue tile.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  WsItem w;
  // The whole CTA leaves before any barrier past the tiles, and as the
  // second half of a wide item (the first one's CTA takes it all).
  if (!ws_item<kRows>(a, int(blockIdx.x), int(a.N / BM), w, kRows == 128)) return;
  if (w.wide && w.half == 1) return;

  const int tid = threadIdx.x;
  const int KB = int(a.K * (kFp8 ? 1 : 2) / kRowBytes);
  constexpr int kSB = ws_slot_bytes(kRows);
  const WsRing r = ws_ring_init<kFp8, kRows, S, kSB>(smem);
  const uint32_t sbase = r.sbase, sscale = r.sscale, full0 = r.full0, empty0 = r.empty0;

  if (tid < kWsProducers) {
    setmaxnreg_dec<ws_producer_regs(kFp8, kRows)>();
    if (tid != 0) return;
    int st = 0;
    uint32_t ph = 0;  // parity of the pass over the ring at slot st
    ws_produce<kFp8, kRows, S, kSB>(a, &amap, &bmap, &bmap16, w, KB, sbase, sscale, full0, empty0, st, ph);
    return;  // no barrier counts the producer from here on
  }

  setmaxnreg_inc<ws_consumer_regs(kFp8, kRows)>();
  const WsTile t{smem, sbase, full0, empty0, w.g, w.rb, w.p0, w.cnt, KB, w.p0 & 3, w.paired, w.half};
  int tok0 = 0;
  if constexpr (kRows == 128) {
    if (w.wide) {
      ws_token_width<kWsWideMax / 2>(w, tok0,
                                     [&](auto n) { ws_consume<kFp8, kRows, decltype(n)::value, true>(a, t, tok0); });
      return;
    }
  }
  ws_token_width(w, tok0, [&](auto n) { ws_consume<kFp8, kRows, decltype(n)::value>(a, t, tok0); });
}

}  // namespace

bool grouped_wgmma_supported(const StreamGemmArgs& a) {
  return !a.out_f32 && a.bn == kBN && a.tile_groups != nullptr && a.N % kBM == 0 && a.K % (a.fp8 ? 128 : 64) == 0 &&
         a.ldx % 16 == 0 && a.ldo % 8 == 0 && (!a.fp8 || a.xs != nullptr) &&
         (a.w_kt == 0 || a.w_kt * kRowBytes == a.K * (a.fp8 ? 1 : 2));
}

namespace {
// 0: moe_wgmma_kernel; 1: the warp-specialized kernel, 128-row tiles; 2: the
// warp-specialized kernel with 256-row tiles where N % 256 == 0 (else as 1);
// 3: as 2, but GEMMs without the gate/up product (down) take the persistent
// kernel with TMA stores (moe_wgmma_pst_kernel); -1: the default (3); -2:
// read SABLE_MOE_WGMMA_WS (0-3 forces one) on first use.
int g_ws_variant = -2;
}  // namespace

void set_grouped_wgmma_variant(int v) { g_ws_variant = v; }

namespace moe_wgmma {
// The tensor maps of the warp-specialized kernels: the weights as rows of
// 64 bytes (2 KB blocks of 32 rows per box, 64-byte swizzle); the tokens
// x[T rows][K] as boxes of 128 tokens x 128 bytes (128-byte swizzle). Encoded per launch (a few microseconds on the
// host against a kernel of milliseconds); a captured graph keeps the parameters.
WsMaps ws_maps(const StreamGemmArgs& a) {
  const uint64_t esz = a.fp8 ? 1 : 2;
  WsMaps m;
  m.a = tensor_map_u8(a.w, {64, uint64_t(a.groups) * uint64_t(a.w_gstride) * esz / 64}, {64}, {64, 32},
                      CU_TENSOR_MAP_SWIZZLE_64B);
  m.b = tensor_map_u8(a.x, {uint64_t(a.K) * esz, uint64_t(a.T)}, {uint64_t(a.ldx) * esz}, {kRowBytes, kBN},
                      CU_TENSOR_MAP_SWIZZLE_128B);
  m.b16 = tensor_map_u8(a.x, {uint64_t(a.K) * esz, uint64_t(a.T)}, {uint64_t(a.ldx) * esz}, {kRowBytes, 16},
                        CU_TENSOR_MAP_SWIZZLE_128B);
  return m;
}
}  // namespace moe_wgmma

namespace {
template <bool kFp8, int kRows>
void launch_ws(const StreamGemmArgs& a, int64_t ctas, cudaStream_t stream) {
  const WsMaps m = ws_maps(a);
  auto k = moe_wgmma_ws_kernel<kFp8, kRows>;
  allow_dynamic_smem(k, ws_smem_bytes(kFp8, kRows));
  k<<<unsigned(ctas), kWsThreads, ws_smem_bytes(kFp8, kRows), stream>>>(a, m.a, m.b, m.b16);
  SABLE_LAUNCH_OK();
}
// What the warp-specialized kernel reads by TMA: the prepared experts' tiles
// (the weights), tokens as contiguous rows (no x_index) and FP8 scales
// token-contiguous (xs_st 1, rows 16-byte aligned: bulk copies).
bool ws_supported(const StreamGemmArgs& a) {
  const int64_t esz = a.fp8 ? 1 : 2;
  return a.w_kt > 0 && a.groups > 0 && (a.w_gstride * esz) % 2048 == 0 && a.x_index == nullptr &&
         (a.ldx * esz) % 16 == 0 &&
         (!a.fp8 || (a.xs_st == 1 && a.xs_sk % 4 == 0 && reinterpret_cast<uintptr_t>(a.xs) % 16 == 0));
}
}  // namespace

void launch_grouped_wgmma(const StreamGemmArgs& args, cudaStream_t stream) {
  if (g_ws_variant == -2) {
    const char* e = std::getenv("SABLE_MOE_WGMMA_WS");
    g_ws_variant = (e && *e >= '0' && *e <= '3') ? *e - '0' : -1;
  }
  int v = g_ws_variant < 0 ? 3 : g_ws_variant;
  if (!ws_supported(args)) v = 0;
  // Timing only: SABLE_MOE_WGMMA_NO_EPILOGUE=1 (StreamGemmArgs::skip_epilogue).
  static const bool no_epilogue = [] {
    const char* e = std::getenv("SABLE_MOE_WGMMA_NO_EPILOGUE");
    return e != nullptr && *e == '1';
  }();
  StreamGemmArgs a = args;
  a.skip_epilogue = a.skip_epilogue || (no_epilogue && v != 0);
  if (v >= 3 && !a.glu && a.N % ws_bm(128) == 0) {
    const int64_t items = int64_t(a.grid_tiles) * (a.N / ws_bm(128));
    launch_pst(a, items, stream);
    return;
  }
  if (v >= 2 && a.N % ws_bm(128) == 0) {
    const int64_t ctas = int64_t(a.grid_tiles) * (a.N / ws_bm(128));
    if (ctas > 0) {
      if (a.fp8)
        launch_ws<true, 128>(a, ctas, stream);
      else
        launch_ws<false, 128>(a, ctas, stream);
    }
    return;
  }
  const int64_t ctas = int64_t(a.grid_tiles) * (a.N / kBM);
  if (ctas == 0) return;
  if (v == 0)
    launch_ref(a, stream);
  else if (a.fp8)
    launch_ws<true, 64>(a, ctas, stream);
  else
    launch_ws<false, 64>(a, ctas, stream);
}

}  // namespace sable::cuda
