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
//     bench/results/2026-12-03-1d18847-moe-paired-tiles.md). Same k order
//     and promotion order as the first kernel, whatever the tile shape:
//     bitwise the same results.
//   - moe_wgmma_pst_kernel (variant 3, the default), for the down GEMM (no
//     gate/up product): the 256-row kernel made persistent, its epilogue
//     stored by TMA from a bf16 staging tile while the consumers go on to
//     the next item's main loop (see the kernel).
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
// slower, 235 / 300: each stage then waits for both CTAs' consumers; not
// kept. 256-row FP8 tiles: 427 -> 468; paired tiles and trimmed token boxes:
// bf16 339, FP8 497 (8,192 tokens: bf16 413, 61 % of cuBLASLt). The
// persistent down GEMM: FP8 5,340 -> 5,197 us (555 TFLOP/s), bf16 equal
// (bench/results/2026-12-03-1bacd7a-moe-persistent-down.md).
// CTA order: an expert's tiles are neighbours in the tile list; CTA c is
// mapped to (row block, tile) of its expert with the tile fastest, so the
// CTAs that share a weight block run together (one DRAM read), and all row
// blocks of an expert run within a wave or two while its token rows sit in
// L2. Grids are sized from T alone, so the call can be captured in a graph.
#include <cuda_bf16.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/moe_grouped_wgmma.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"
#include "backend/cuda/tensor_map.h"

namespace sable::cuda {

namespace {

using namespace moe_wgmma;  // NOLINT: the shared tile shape and helpers (moe_grouped_wgmma.cuh)

// The warp-specialized kernel: warpgroup 0 produces, warpgroups 1-2 consume.
constexpr int kWsThreads = 384;
constexpr int kWsProducers = 128;  // the producer warpgroup (one thread issues the TMA copies)
constexpr int kWsConsumers = 256;
constexpr int kWsConsumerWarps = kWsConsumers / 32;  // empty-barrier arrivals per stage: one per consumer warp
// Weight rows per consumer warpgroup R: 64 (one m64 accumulator) or 128
// (two). The CTA tile is 2 R weight rows x 128 tokens; a stage is
// the A tile (2 R rows x 128 B) and the B tile (128 tokens x 128 B). A
// paired tile (R = 128) is R rows x 256 tokens: the same stage bytes.
constexpr int ws_bm(int rows) { return 2 * rows; }
constexpr int ws_a_bytes(int rows) { return ws_bm(rows) * kRowBytes; }
constexpr int ws_stage_bytes(int rows) { return ws_a_bytes(rows) + kBN * kRowBytes; }
constexpr int ws_epi_ld(int rows) { return ws_bm(rows) + 4; }  // floats per token in the epilogue tile
// FP8 token scales of a stage: the CTA's tokens (128, or 256 for a paired
// tile of the 256-row kernel) from the 16-byte boundary at or below its
// first token, so up to 3 more (see the producer).
constexpr int ws_scale_floats(int rows) { return (rows == 128 ? 2 * kBN : kBN) + 4; }
constexpr int ws_scale_bytes(int rows) { return ws_scale_floats(rows) * 4; }
// As many stages as fit in the 227 KB an SM gives one CTA: 1 KB alignment
// slack, the stages (+ FP8 token scales), full and empty mbarriers. 32 KB
// stages (R = 64): 7 bf16, 6 FP8; 48 KB stages (R = 128): 4 (bf16 and FP8).
constexpr int ws_stages(bool fp8, int rows) { return rows == 128 ? 4 : fp8 ? 6 : 7; }
constexpr int ws_smem_bytes(bool fp8, int rows) {
  return 1024 + ws_stages(fp8, rows) * (ws_stage_bytes(rows) + (fp8 ? ws_scale_bytes(rows) : 0) + 2 * 8);
}
// Registers per thread after setmaxnreg (the register file's 64 K over 384
// threads: 128 p + 256 c <= 65,536): FP8 with 256-row tiles holds two
// accumulators, one block accumulator and the stage's scales (224 floats
// at 128 tokens) and takes 240, leaving the producer warpgroup 24 (its one
// issuing thread needs ~20); else 232 and 40.
constexpr int ws_consumer_regs(bool fp8, int rows) { return fp8 && rows == 128 ? 240 : 232; }
constexpr int ws_producer_regs(bool fp8, int rows) { return fp8 && rows == 128 ? 24 : 40; }
static_assert(128 * ws_producer_regs(true, 128) + 256 * ws_consumer_regs(true, 128) <= 65536 &&
                  128 * ws_producer_regs(true, 64) + 256 * ws_consumer_regs(true, 64) <= 65536,
              "setmaxnreg stays inside the register file");
static_assert(ws_stage_bytes(64) == kStageBytes, "R = 64 is the first kernel's tile");
static_assert(ws_smem_bytes(false, 64) <= 227 * 1024 && ws_smem_bytes(true, 64) <= 227 * 1024 &&
                  ws_smem_bytes(false, 128) <= 227 * 1024 && ws_smem_bytes(true, 128) <= 227 * 1024,
              "stages fit in shared memory");
static_assert(kBN * ws_epi_ld(64) * 4 <= ws_stages(true, 64) * ws_stage_bytes(64) &&
                  kBN * ws_epi_ld(128) * 4 <= ws_stages(false, 128) * ws_stage_bytes(128) &&
                  2 * kBN * ws_epi_ld(64) * 4 <= ws_stages(false, 128) * ws_stage_bytes(128),
              "epilogue tile reuses the stages (a paired tile: 256 tokens x 128 rows)");
// What the consumer warpgroups take from the kernel's prologue.
struct WsTile {
  uint8_t* smem;
  uint32_t sbase, full0, empty0;
  int g, rb, p0, cnt, KB;
  int s0;  // FP8: the first token scale's offset in a stage's scale slot (p0 % 4)
  // Paired tile (256-row kernel): the CTA holds 128 weight rows (half `half`
  // of row block rb) and up to 256 tokens; warpgroup w takes tokens
  // [w ? split : 0, w ? cnt : split) (split: a multiple of 16, see the
  // kernel) and all 128 rows.
  bool paired;
  int half;
};

// The consumer warpgroups of moe_wgmma_ws_kernel at token width kN (16 ..
// 128; the B tile's kN rows from token tok0, tokens past cnt zero or
// unstored): warpgroup cwg = 0, 1 computes weight rows kRows cwg .. +kRows-1
// (a paired tile: both the CTA's 128 rows, tok0 = 0 or the split), accumulator
// h rows +64 h .. +63, then the epilogue.
// The main loop alone (ws_mainloop: S ring slots, the ring position st / ph
// carried from tile to tile by the persistent kernel) and ws_consume, the
// main loop and the epilogue through the f32 tile that reuses the stages.
template <bool kFp8, int kRows, int kN, int S>
__device__ __forceinline__ void ws_mainloop(const StreamGemmArgs& a, const WsTile& t, int tok0, int& st, uint32_t& ph,
                                            float (&acc)[kRows / 64][kN / 2]) {
  constexpr int BM = ws_bm(kRows);
  constexpr int kSBytes = ws_stage_bytes(kRows);
  constexpr int kAcc = kRows / 64;
  constexpr int kR = kN / 2;  // accumulators per thread of an m64nN wgmma
  using Mma = WgmmaNt<kN>;
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  // The stage's A tile: [2 K halves][a_rows][64 B], a_rows = BM, or 128 for
  // a paired tile (whose two warpgroups share it); B follows at a_rows x 128 B.
  const bool paired = kRows == 128 && t.paired;
  const int a_rows = paired ? kRows : BM;
  const uint32_t a_off = paired ? 0u : uint32_t(cwg * kRows * 64);
  const uint32_t b_off = uint32_t((a_rows + tok0) * kRowBytes);
  const uint64_t dhalf = uint64_t(a_rows * 64) >> 4;                      // descriptor units of one K half
  const int wrow0 = t.rb * BM + (paired ? t.half * kRows : cwg * kRows);  // this warpgroup's first weight row
  // A slot is free for the producer once this warp's wgmma reads (and FP8
  // scale reads) of it are done; the warp's lanes first agree on that.
  auto release = [&](int slot) {
    __syncwarp();
    if (lane == 0) mbar_arrive(t.empty0 + 8 * slot);
  };
#pragma unroll
  for (int h = 0; h < kAcc; ++h)
#pragma unroll
    for (int i = 0; i < kR; ++i) acc[h][i] = 0.f;
  if constexpr (kFp8) {
    // FP8 weight scale of this thread's rows (one 128-row block holds all
    // of them, whatever kAcc): under glu the warp's 16-row groups are gate
    // (even) or up (odd), an aligned 256 rows half of each, so natural block
    // wrow0 / 256; else block wrow0 / 128.
    const int64_t gbase = int64_t(t.g) * a.ws_gstride;
    const float* wscale = a.glu ? a.ws + gbase + ((cw & 1) ? a.ws_up : 0) + int64_t(wrow0 / 256) * a.ws_ld
                                : a.ws + gbase + int64_t(wrow0 / 128) * a.ws_ld;
    const float* sxs = reinterpret_cast<const float*>(t.smem + S * kSBytes);
    // One 128-wide K block's partial sums of one accumulator's 64 rows (the
    // first wgmma of a block overwrites them); with two accumulators (256-row
    // tiles) they take turns: registers allow acc[2] and one blk, not two.
    float blk[kR];
#pragma unroll
    for (int i = 0; i < kR; ++i) blk[i] = 0.f;
    float ws_next = t.KB > 0 ? wscale[0] : 0.f;  // loaded a stage ahead: off the promotion's path
    for (int kb = 0; kb < t.KB; ++kb) {
      const float ws = ws_next;
      if (kb + 1 < t.KB) ws_next = wscale[kb + 1];
      mbar_wait(t.full0 + 8 * st, ph);
      const uint32_t sa = t.sbase + uint32_t(st * kSBytes);
      const uint64_t da = kmajor_desc_sw64(sa + a_off), db = kmajor_desc(sa + b_off);
      // The stage's token scales (tokens 8 j + 2 (lane % 4) + {0, 1}) times
      // the weight scale, read while the tensor core runs the first batch.
      float s0[kN / 8], s1[kN / 8];
#pragma unroll
      for (int h = 0; h < kAcc; ++h) {
        wgmma_fence();
        // blk[64 rows x kN tokens] = A[rows 64 h .. +63 x 128 of K] B[kN x 128 of K]^T, +32 B per k32 (A: two
        // per 64-byte half, the halves a_rows x 64 B apart, accumulator h's rows 64 h x 64 B further).
#pragma unroll
        for (int ks = 0; ks < 4; ++ks)
          Mma::e4m3(blk, da + (ks >> 1) * dhalf + h * (64 * 64 >> 4) + 2 * (ks & 1), db + 2 * ks, ks);
        wgmma_commit();
        if (h == 0) {
          const float* sx = sxs + st * ws_scale_floats(kRows) + t.s0 + tok0 + (lane & 3) * 2;
#pragma unroll
          for (int j = 0; j < kN / 8; ++j) {
            s0[j] = ws * sx[j * 8];
            s1[j] = ws * sx[j * 8 + 1];
          }
        }
        wgmma_wait0();
        wgmma_fence_operands(blk);
        // The slot is free after the last accumulator's wgmma; acc[h] += blk
        // * (weight scale x token scale) while the other warpgroup's wgmma runs.
        if (h == kAcc - 1) release(st);
#pragma unroll
        for (int j = 0; j < kN / 8; ++j) {
          acc[h][4 * j] += blk[4 * j] * s0[j];
          acc[h][4 * j + 1] += blk[4 * j + 1] * s1[j];
          acc[h][4 * j + 2] += blk[4 * j + 2] * s0[j];
          acc[h][4 * j + 3] += blk[4 * j + 3] * s1[j];
        }
      }
      if (++st == S) {
        st = 0;
        ph ^= 1;
      }
    }
  } else {
    int prev = 0;
    for (int kb = 0; kb < t.KB; ++kb) {
      mbar_wait(t.full0 + 8 * st, ph);
      const uint32_t sa = t.sbase + uint32_t(st * kSBytes);
      const uint64_t db = kmajor_desc(sa + b_off);
      const uint64_t da = kmajor_desc_sw64(sa + a_off);
      wgmma_fence();
      // acc[h][64 rows x kN tokens] += A[rows 64 h .. +63 x 64 of K] B[kN x 64 of K]^T,
      // +32 B per k16 (A: two per 64-byte half, the halves a_rows x 64 B apart, accumulator h's rows
      // 64 h x 64 B further); each accumulator sees the k16 steps in the same order.
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
#pragma unroll
        for (int h = 0; h < kAcc; ++h)
          Mma::bf16(acc[h], da + (ks >> 1) * dhalf + h * (64 * 64 >> 4) + 2 * (ks & 1), db + 2 * ks, 1);
      wgmma_commit();
      wgmma_wait<1>();  // stage kb - 1's wgmma has completed: its slot is free
      if (kb > 0) release(prev);
      prev = st;
      if (++st == S) {
        st = 0;
        ph ^= 1;
      }
    }
    // The last stage's slot too: the persistent kernel's producer refills it
    // for the next item.
    wgmma_wait0();
    if (t.KB > 0) release(prev);
  }
  wgmma_wait0();
#pragma unroll
  for (int h = 0; h < kAcc; ++h) wgmma_fence_operands(acc[h]);
}

template <bool kFp8, int kRows, int kN>
__device__ __forceinline__ void ws_consume(const StreamGemmArgs& a, const WsTile& t, int tok0) {
  constexpr int BM = ws_bm(kRows);
  constexpr int kAcc = kRows / 64;
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  const bool paired = kRows == 128 && t.paired;
  float acc[kAcc][kN / 2];
  int st = 0;
  uint32_t ph = 0;
  ws_mainloop<kFp8, kRows, kN, ws_stages(kFp8, kRows)>(a, t, tok0, st, ph, acc);
  if (a.skip_epilogue) return;  // timing only (StreamGemmArgs::skip_epilogue)
  // The epilogue tile overwrites the stages: every consumer's wgmma reads
  // must be done (the producer's copies all landed before their full
  // signals, which both consumers have waited on).
  named_barrier_sync(1, kWsConsumers);
  float* sE = reinterpret_cast<float*>(t.smem);
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

// A CTA's work item: (row block, tile) of an expert's group of tiles, tile
// fastest. Paired tiles (256-row kernel): tiles 2 j and 2 j + 1 of an expert
// (128 + up to 128 tokens) become two items of 128 weight rows each (half =
// i % 2 of the 256-row block rb) over all their tokens, so that the weight
// block is read from L2 once rather than once per tile, and a short second
// tile does not cost a whole 256-row pass. The item count is the same.
struct WsItem {
  int g, rb, p0, cnt;
  bool paired;
  int half;
};
// Item `item` of the grid's RB x grid_tiles; false past the tiles the sort
// made (*num_tiles), which every later item is too.
template <int kRows>
__device__ __forceinline__ bool ws_item(const StreamGemmArgs& a, int item, int RB, WsItem& w) {
  const int q = item / RB;
  if (q >= *a.num_tiles) return false;
  const int t0 = a.tile_groups[2 * q], n_tiles = a.tile_groups[2 * q + 1];
  const int local = item - t0 * RB;
  const int i = local % n_tiles, tile = t0 + i;
  w.rb = local / n_tiles;
  w.g = a.tiles[3 * tile];
  w.p0 = a.tiles[3 * tile + 1];
  w.cnt = a.tiles[3 * tile + 2];
  w.paired = kRows == 128 && (i | 1) < n_tiles;
  w.half = i & 1;
  if (w.paired) {
    const int* tp = a.tiles + 3 * (t0 + (i & ~1));
    w.p0 = tp[1];
    w.cnt = tp[2] + tp[5];
  }
  return true;
}

// The producer thread's copies of one item's K stages into the S-slot ring
// at sbase (FP8 token scales at sscale), from ring position st / ph on.
template <bool kFp8, int kRows, int S>
__device__ __forceinline__ void ws_produce(const StreamGemmArgs& a, const CUtensorMap* amap, const CUtensorMap* bmap,
                                           const CUtensorMap* bmap16, const WsItem& w, int KB, uint32_t sbase,
                                           uint32_t sscale, uint32_t full0, uint32_t empty0, int& st, uint32_t& ph) {
  constexpr int BM = ws_bm(kRows);
  constexpr int kSBytes = ws_stage_bytes(kRows);
  constexpr int kScaleFloats = ws_scale_floats(kRows);
  constexpr int kElem = kFp8 ? 1 : 2;
  const int a_rows = w.paired ? kRows : BM;  // weight rows in a stage's A tile
  // 2 KB block b of the weights is amap row 32 b; the expert's row tile
  // rt, K tile kt, half c is block (g stride / 2 KB) + (rt KT + kt) 2 + c.
  // blk: this item's first row tile at stage kb, half 0.
  const int kt2 = int(a.w_kt) * 2;
  int blk = int(int64_t(w.g) * a.w_gstride * kElem / 2048) +
            (w.rb * (BM / 32) + (w.paired ? w.half * (kRows / 32) : 0)) * kt2;
  const uint32_t a_bytes = uint32_t(a_rows * kRowBytes), half_bytes = uint32_t(a_rows * 64);
  // Token rows of B: the item's tokens rounded up to 16 (128-row boxes, then
  // 16-row boxes of bmap16), not whole 128-row boxes: a short tile's CTA
  // reads only its tokens from L2.
  const int brows = (w.cnt + 15) & ~15;
  // FP8 token scales: from the 16-byte boundary below p0, 4 more than the
  // item's token capacity but not past the row (xs_sk floats, a multiple of
  // 4, >= p0 + cnt).
  const int sfirst = w.p0 & ~3;
  const uint32_t sbytes = kFp8 ? uint32_t(min((w.paired ? 2 * kBN : kBN) + 4, int(a.xs_sk) - sfirst)) * 4u : 0u;
  const uint32_t tx = a_bytes + uint32_t(brows * kRowBytes) + sbytes;
  for (int kb = 0; kb < KB; ++kb) {
    mbar_wait(empty0 + 8 * st, ph ^ 1);  // both consumers are done with the slot's previous stage
    const uint32_t sa = sbase + uint32_t(st * kSBytes), full = full0 + 8 * st;
    mbar_arrive_expect_tx(full, tx);
    for (int j = 0; j < a_rows / 32; ++j)
#pragma unroll
      for (int c = 0; c < 2; ++c) tma_load_2d(sa + c * half_bytes + j * 2048, amap, 0, 32 * (blk + j * kt2 + c), full);
    int r = 0;
    for (; r + kBN <= brows; r += kBN) tma_load_2d(sa + a_bytes + r * kRowBytes, bmap, kb * kRowBytes, w.p0 + r, full);
    for (; r < brows; r += 16) tma_load_2d(sa + a_bytes + r * kRowBytes, bmap16, kb * kRowBytes, w.p0 + r, full);
    if constexpr (kFp8)
      bulk_load(sscale + uint32_t(st * kScaleFloats * 4), a.xs + int64_t(kb) * a.xs_sk + sfirst, sbytes, full);
    blk += 2;
    if (++st == S) {
      st = 0;
      ph ^= 1;
    }
  }
}

// The ring in shared memory at smem (1024-byte aligned): [S stages][FP8: S
// x kScaleFloats token scales][S full][S empty mbarriers]. Thread 0
// initializes the barriers; the CTA-wide barrier here is the kernel's only
// one (the producer warpgroup's idle threads leave early).
struct WsRing {
  uint32_t sbase, sscale, full0, empty0;
};
template <bool kFp8, int kRows, int S>
__device__ __forceinline__ WsRing ws_ring_init(uint8_t* smem) {
  WsRing r;
  r.sbase = smem_u32(smem);
  r.sscale = r.sbase + uint32_t(S * ws_stage_bytes(kRows));
  r.full0 = r.sscale + uint32_t(kFp8 ? S * ws_scale_floats(kRows) * 4 : 0);
  r.empty0 = r.full0 + 8 * S;
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      mbar_init(r.full0 + 8 * s, 1);
      mbar_init(r.empty0 + 8 * s, kWsConsumerWarps);
    }
    mbar_fence_init();
  }
  __syncthreads();
  return r;
}

// The consumers' token range of an item: the tile's token width rounded up
// to 16 (a remainder tile of an expert's tokens costs the tensor core its
// tokens, not 128); a paired tile's tokens split between the warpgroups at a
// multiple of 16. Calls body(integral_constant kN) with tok0 set.
template <typename F>
__device__ __forceinline__ void ws_token_width(const WsItem& w, int& tok0, F&& body) {
  const int split = w.paired ? min(kBN, ((w.cnt + 1) / 2 + 15) & ~15) : w.cnt;
  const bool second = w.paired && int(threadIdx.x) >= kWsProducers + kWsConsumers / 2;  // warpgroup 1, paired
  tok0 = second ? split : 0;
  const int n = second ? w.cnt - split : split;
  switch ((n + 15) >> 4) {
    case 1:
      body(std::integral_constant<int, 16>{});
      break;
    case 2:
      body(std::integral_constant<int, 32>{});
      break;
    case 3:
      body(std::integral_constant<int, 48>{});
      break;
    case 4:
      body(std::integral_constant<int, 64>{});
      break;
    case 5:
      body(std::integral_constant<int, 80>{});
      break;
    case 6:
      body(std::integral_constant<int, 96>{});
      break;
    case 7:
      body(std::integral_constant<int, 112>{});
      break;
    default:
      body(std::integral_constant<int, 128>{});
      break;
  }
}

// The warp-specialized kernel (see the top of the file), kRows weight rows
// per consumer warpgroup (64 or 128). Shared memory: [S stages of
// A (2 kRows rows x 128 B: 16 or 32 KB) + B 16 KB][FP8: S x 132 token
// scales][S full][S empty mbarriers]; the epilogue tile reuses the stages.
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
  if (!ws_item<kRows>(a, int(blockIdx.x), int(a.N / BM), w)) return;  // the whole CTA, before any barrier

  const int tid = threadIdx.x;
  const int KB = int(a.K * (kFp8 ? 1 : 2) / kRowBytes);
  const WsRing r = ws_ring_init<kFp8, kRows, S>(smem);
  const uint32_t sbase = r.sbase, sscale = r.sscale, full0 = r.full0, empty0 = r.empty0;

  if (tid < kWsProducers) {
    setmaxnreg_dec<ws_producer_regs(kFp8, kRows)>();
    if (tid != 0) return;
    int st = 0;
    uint32_t ph = 0;  // parity of the pass over the ring at slot st
    ws_produce<kFp8, kRows, S>(a, &amap, &bmap, &bmap16, w, KB, sbase, sscale, full0, empty0, st, ph);
    return;  // no barrier counts the producer from here on
  }

  setmaxnreg_inc<ws_consumer_regs(kFp8, kRows)>();
  const WsTile t{smem, sbase, full0, empty0, w.g, w.rb, w.p0, w.cnt, KB, w.p0 & 3, w.paired, w.half};
  int tok0 = 0;
  ws_token_width(w, tok0, [&](auto n) { ws_consume<kFp8, kRows, decltype(n)::value>(a, t, tok0); });
}

// The persistent form of the 256-row kernel for GEMMs without the gate/up
// product (the down GEMM, whose epilogue took 29 % (FP8) / 21 % (bf16) of it
// with the tensor cores idle: record 2026-12-03-81d34e0-moe-breakdown.md).
// One CTA per SM walks the items blockIdx.x, + gridDim.x, ...; the producer
// runs ahead into the next item while the consumers finish one, and the
// consumers do not store the output themselves: they round and scale their
// accumulators into a bf16 staging tile (the same f32 operations as
// store_tile: the same bits), and one thread stores it with TMA (`ymap`:
// boxes of 16 tokens x 64 columns in the 128-byte swizzle), then goes on to
// the next item's main loop at once; the stores drain behind it, and only
// the next epilogue waits for them to have read the staging tile. A tile's
// last cnt % 16 tokens are stored by the consumers from the staging tile: a
// 16-token box there would write rows of the next tile's tokens.
// Shared memory: [staging 64 KB: 4 (2 for a paired item) column chunks of
// 64 weight rows x 128 (256) tokens x 128 B, each token's 128 B in the
// 128-byte swizzle][3 stages of 48 KB][FP8 scales][full][empty]: the
// staging tile costs the ring one of its four stages.
constexpr int kPstStages = 3;
constexpr int kPstStaging = 64 * 1024;
constexpr int pst_smem_bytes(bool fp8, bool dynamic) {
  return 1024 + kPstStaging +
         kPstStages *
             (ws_stage_bytes(128) + (fp8 ? ws_scale_bytes(128) : 0) + 2 * 8 + (dynamic ? int(sizeof(WsItem)) : 0));
}
static_assert(pst_smem_bytes(true, true) <= 227 * 1024, "staging and stages fit in shared memory");
static_assert(2 * kBN * 128 * 2 == kPstStaging, "a paired item's 256 tokens x 128 rows of bf16 fill the staging tile");

// Byte offset in the staging tile of weight row r (0..63) of column chunk
// cc, token tok (chunks of ntok tokens x 128 B): the 16-byte group r / 8 is
// swizzled with tok % 8, as TMA's 128-byte swizzle reads it.
__device__ __forceinline__ uint32_t pst_offset(int cc, int ntok, int tok, int r) {
  return uint32_t(cc * ntok * 128 + tok * 128 + ((((r >> 3) ^ tok) & 7) << 4) + (r & 7) * 2);
}

template <bool kFp8, int kN>
__device__ __forceinline__ void pst_consume(const StreamGemmArgs& a, const WsTile& t, int tok0, int& st, uint32_t& ph,
                                            uint8_t* stg, const CUtensorMap* ymap) {
  constexpr int kAcc = 2;
  float acc[kAcc][kN / 2];
  ws_mainloop<kFp8, 128, kN, kPstStages>(a, t, tok0, st, ph, acc);
  if (a.skip_epilogue) return;  // timing only (StreamGemmArgs::skip_epilogue)
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  const int ntok = t.paired ? 2 * kBN : kBN;  // tokens per column chunk
  // The previous item's stores have read the staging tile.
  if (ctid == 0) bulk_wait_read0();
  named_barrier_sync(1, kWsConsumers);
  // acc[h][4 j + e]: weight row r0 + 8 (e / 2), token c + e % 2 (acc_to_smem's
  // layout). Lanes L and L ^ 4 hold rows r0 and r0 ^ 1 of the same tokens;
  // each sends the other the token that the other stores, so that every
  // store is two neighbouring rows of one token (4 bytes; the 32 lanes of a
  // store hit 32 banks under the swizzle).
  const int r0 = (cw & 3) * 16 + (lane >> 2);
  const bool odd = (lane & 4) != 0;
  const float* rsc = a.row_scale ? a.row_scale + t.p0 : nullptr;
#pragma unroll
  for (int j = 0; j < kN / 8; ++j) {
    const int c = tok0 + j * 8 + (lane & 3) * 2;
    const float rs0 = rsc && c < t.cnt ? rsc[c] : 1.f, rs1 = rsc && c + 1 < t.cnt ? rsc[c + 1] : 1.f;
#pragma unroll
    for (int h = 0; h < kAcc; ++h) {
      const int cc = t.paired ? h : 2 * cwg + h;
      const __nv_bfloat16 v00 = __float2bfloat16_rn(acc[h][4 * j] * rs0),
                          v01 = __float2bfloat16_rn(acc[h][4 * j + 1] * rs1),
                          v10 = __float2bfloat16_rn(acc[h][4 * j + 2] * rs0),
                          v11 = __float2bfloat16_rn(acc[h][4 * j + 3] * rs1);
      const __nv_bfloat162 send = odd ? __halves2bfloat162(v00, v10) : __halves2bfloat162(v01, v11);
      uint32_t su;
      memcpy(&su, &send, 4);
      const uint32_t ru = __shfl_xor_sync(0xffffffffu, su, 4);
      __nv_bfloat162 recv;
      memcpy(&recv, &ru, 4);
      // Even lane: token c, rows r0, r0 + 1 and r0 + 8, r0 + 9; odd lane:
      // token c + 1, rows r0 - 1, r0 and r0 + 7, r0 + 8.
      const __nv_bfloat162 lo = odd ? __halves2bfloat162(recv.x, v01) : __halves2bfloat162(v00, recv.x);
      const __nv_bfloat162 hi = odd ? __halves2bfloat162(recv.y, v11) : __halves2bfloat162(v10, recv.y);
      const int tok = odd ? c + 1 : c, r = odd ? r0 - 1 : r0;
      *reinterpret_cast<__nv_bfloat162*>(stg + pst_offset(cc, ntok, tok, r)) = lo;
      *reinterpret_cast<__nv_bfloat162*>(stg + pst_offset(cc, ntok, tok, r + 8)) = hi;
    }
  }
  fence_proxy_async();  // the staging writes, visible to the TMA unit's reads
  named_barrier_sync(1, kWsConsumers);
  const int chunks = t.paired ? 2 : 4;
  const int col0 = t.paired ? (2 * t.rb + t.half) * 128 : t.rb * 256;
  const int full = t.cnt & ~15;
  if (ctid == 0) {
    const uint32_t s0 = smem_u32(stg);
    for (int r = 0; r < full; r += 16)
      for (int cc = 0; cc < chunks; ++cc)
        tma_store_2d(ymap, s0 + uint32_t(cc * ntok * 128 + r * 128), col0 + cc * 64, t.p0 + r);
    bulk_commit();
  }
  // The last cnt % 16 tokens: 16-byte pieces from the staging tile.
  auto* out = static_cast<__nv_bfloat16*>(a.out);
  const int pieces = chunks * 8;
  for (int it = ctid; it < (t.cnt - full) * pieces; it += kWsConsumers) {
    const int tok = full + it / pieces, cc = (it % pieces) / 8, c16 = it % 8;
    const uint4 v = *reinterpret_cast<const uint4*>(stg + cc * ntok * 128 + tok * 128 + (((c16 ^ tok) & 7) << 4));
    *reinterpret_cast<uint4*>(out + int64_t(t.p0 + tok) * a.ldo + col0 + cc * 64 + c16 * 8) = v;
  }
}

// kDynamic (variant 4, an experiment): the producer thread takes items from
// a.item_counter (atomicAdd) instead of the round-robin, so that CTAs whose
// items ran short take more, as the hardware's CTA scheduling did for the
// non-persistent kernel; it hands each item to the consumers through a
// shared-memory slot per ring stage, written before the item's first stage
// is signalled full (the mbarrier's release / acquire order it), and a
// count-0 item, signalled without bytes, ends the CTA.
template <bool kFp8, bool kDynamic>
__global__ void __launch_bounds__(kWsThreads, 1)
    moe_wgmma_pst_kernel(const StreamGemmArgs a, const __grid_constant__ CUtensorMap amap,
                         const __grid_constant__ CUtensorMap bmap, const __grid_constant__ CUtensorMap bmap16,
                         const __grid_constant__ CUtensorMap ymap) {
  constexpr int kRows = 128, S = kPstStages;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* stg = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  uint8_t* smem = stg + kPstStaging;  // the ring, 1024-byte aligned
  const int RB = int(a.N / ws_bm(kRows));
  const int tid = threadIdx.x;
  const int KB = int(a.K * (kFp8 ? 1 : 2) / kRowBytes);
  const WsRing r = ws_ring_init<kFp8, kRows, S>(smem);
  const uint32_t sbase = r.sbase, sscale = r.sscale, full0 = r.full0, empty0 = r.empty0;
  // Both roles walk the same items and the same ring positions.
  int st = 0;
  uint32_t ph = 0;
  WsItem w;
  WsItem* sitem = reinterpret_cast<WsItem*>(smem + (empty0 + 8 * S - sbase));  // kDynamic: S slots
  if (tid < kWsProducers) {
    setmaxnreg_dec<ws_producer_regs(kFp8, kRows)>();
    if (tid != 0) return;
    if constexpr (kDynamic) {
      for (;;) {
        const bool ok = ws_item<kRows>(a, atomicAdd(a.item_counter, 1), RB, w);
        mbar_wait(empty0 + 8 * st, ph ^ 1);  // the slot (and its item slot) is free
        if (!ok) {
          sitem[st] = WsItem{0, 0, 0, 0, false, 0};
          mbar_arrive(full0 + 8 * st);  // no bytes: the phase completes on this arrival
          return;
        }
        sitem[st] = w;
        ws_produce<kFp8, kRows, S>(a, &amap, &bmap, &bmap16, w, KB, sbase, sscale, full0, empty0, st, ph);
      }
    } else {
      for (int item = blockIdx.x; ws_item<kRows>(a, item, RB, w); item += gridDim.x)
        ws_produce<kFp8, kRows, S>(a, &amap, &bmap, &bmap16, w, KB, sbase, sscale, full0, empty0, st, ph);
    }
    return;
  }
  setmaxnreg_inc<ws_consumer_regs(kFp8, kRows)>();
  auto consume = [&](const WsItem& w) {
    const WsTile t{smem, sbase, full0, empty0, w.g, w.rb, w.p0, w.cnt, KB, w.p0 & 3, w.paired, w.half};
    int tok0 = 0;
    ws_token_width(w, tok0, [&](auto n) { pst_consume<kFp8, decltype(n)::value>(a, t, tok0, st, ph, stg, &ymap); });
  };
  if constexpr (kDynamic) {
    for (;;) {
      mbar_wait(full0 + 8 * st, ph);  // the item's first stage (or the end) is signalled
      w = sitem[st];
      if (w.cnt == 0) break;
      consume(w);
    }
  } else {
    for (int item = blockIdx.x; ws_item<kRows>(a, item, RB, w); item += gridDim.x) consume(w);
  }
  // The staging tile must outlive the last stores' reads of it.
  if (tid == kWsProducers) bulk_wait0();
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
// kernel with TMA stores (moe_wgmma_pst_kernel); 4: as 3, the persistent
// kernel's items taken dynamically (where the args have an item counter);
// -1: the default (3); -2: read SABLE_MOE_WGMMA_WS (0-4 forces one) on first
// use.
int g_ws_variant = -2;
}  // namespace

void set_grouped_wgmma_variant(int v) { g_ws_variant = v; }

namespace {
int g_pst_max_ctas = 0;  // 0: one CTA per SM
}  // namespace

void set_grouped_wgmma_max_ctas(int n) { g_pst_max_ctas = n; }

namespace {
// The tensor maps of the warp-specialized kernel: the weights as rows of
// 64 bytes (2 KB blocks of 32 rows per box, 64-byte swizzle); the tokens
// x[T rows][K] as boxes of 128 tokens x 128 bytes (128-byte swizzle). Encoded per launch (a few microseconds on the
// host against a kernel of milliseconds); a captured graph keeps the parameters.
struct WsMaps {
  CUtensorMap a{}, b{}, b16{};
};
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
template <bool kFp8, int kRows>
void launch_ws(const StreamGemmArgs& a, int64_t ctas, cudaStream_t stream) {
  const WsMaps m = ws_maps(a);
  auto k = moe_wgmma_ws_kernel<kFp8, kRows>;
  allow_dynamic_smem(k, ws_smem_bytes(kFp8, kRows));
  k<<<unsigned(ctas), kWsThreads, ws_smem_bytes(kFp8, kRows), stream>>>(a, m.a, m.b, m.b16);
  SABLE_LAUNCH_OK();
}
// The persistent kernel: one CTA per SM (items are walked in order, so the
// CTAs running at once still share their experts' weight blocks), and the
// output y[T rows][N] as boxes of 16 tokens x 64 columns (128-byte swizzle)
// for its TMA stores.
template <bool kFp8, bool kDynamic>
void launch_pst(const StreamGemmArgs& a, int64_t items, cudaStream_t stream) {
  const WsMaps m = ws_maps(a);
  const CUtensorMap ymap = tensor_map_bf16(a.out, {uint64_t(a.N), uint64_t(a.T)}, {uint64_t(a.ldo) * 2}, {64, 16});
  auto k = moe_wgmma_pst_kernel<kFp8, kDynamic>;
  allow_dynamic_smem(k, pst_smem_bytes(kFp8, kDynamic));
  const int64_t ctas = std::min<int64_t>(items, g_pst_max_ctas > 0 ? g_pst_max_ctas : sm_count());
  k<<<unsigned(ctas), kWsThreads, pst_smem_bytes(kFp8, kDynamic), stream>>>(a, m.a, m.b, m.b16, ymap);
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
    g_ws_variant = (e && *e >= '0' && *e <= '4') ? *e - '0' : -1;
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
    const bool dynamic = v == 4 && a.item_counter != nullptr;
    if (items > 0) {
      if (dynamic) SABLE_CUDA_CHECK(cudaMemsetAsync(a.item_counter, 0, sizeof(int), stream));
      if (a.fp8)
        dynamic ? launch_pst<true, true>(a, items, stream) : launch_pst<true, false>(a, items, stream);
      else
        dynamic ? launch_pst<false, true>(a, items, stream) : launch_pst<false, false>(a, items, stream);
    }
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
