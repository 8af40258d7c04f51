// Internal to the warp-specialized grouped wgmma kernels: moe_grouped_wgmma.cu
// (a CTA per (row block, tile), gate/up and, in variants 1-2, down) and
// moe_grouped_wgmma_pst.cu (persistent, the down GEMM): the warpgroup roles,
// the ring of stages, the main loop, the work items and the tensor maps
// they share.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>

#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/moe_grouped_wgmma.cuh"
#include "backend/cuda/sm90_async.cuh"

namespace sable::cuda::moe_wgmma {

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
// A wide item (256-row kernel, gate/up): an expert's two tiles of up to
// kWsWideMax tokens in all, over the whole 256-row block in one CTA (see
// ws_item). Its stage is the 256 rows' A tile and up to kWsWideMax token
// rows: 4 KB more than ws_stage_bytes(128), so the per-item kernel's slots
// are that much larger (the persistent down kernel keeps 48 KB: it has no
// wide items, whose 80 KB of bf16 output would not fit its staging tile).
constexpr int kWsWideMax = 160;
constexpr int ws_slot_bytes(int rows) {
  return rows == 128 ? ws_a_bytes(128) + kWsWideMax * kRowBytes : ws_stage_bytes(rows);
}
// As many stages as fit in the 227 KB an SM gives one CTA: 1 KB alignment
// slack, the stages (+ FP8 token scales), full and empty mbarriers. 32 KB
// stages (R = 64): 7 bf16, 6 FP8; 52 KB slots (R = 128): 4 (bf16 and FP8).
constexpr int ws_stages(bool fp8, int rows) { return rows == 128 ? 4 : fp8 ? 6 : 7; }
constexpr int ws_smem_bytes(bool fp8, int rows) {
  return 1024 + ws_stages(fp8, rows) * (ws_slot_bytes(rows) + (fp8 ? ws_scale_bytes(rows) : 0) + 2 * 8);
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
                  2 * kBN * ws_epi_ld(64) * 4 <= ws_stages(false, 128) * ws_stage_bytes(128) &&
                  kWsWideMax * ws_epi_ld(128) * 4 <= ws_stages(false, 128) * ws_slot_bytes(128),
              "epilogue tile reuses the stages (a paired tile: 256 tokens x 128 rows; a wide one: 160 x 256)");
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
// kWide: a wide item (kRows = 128): four accumulators over the A tile's
// 256 rows. kSBytes: the ring's slot size.
template <bool kFp8, int kRows, int kN, int S, bool kWide = false, int kSBytes = ws_stage_bytes(kRows)>
__device__ __forceinline__ void ws_mainloop(const StreamGemmArgs& a, const WsTile& t, int tok0, int& st, uint32_t& ph,
                                            float (&acc)[kWide ? 4 : kRows / 64][kN / 2]) {
  static_assert(!kWide || kRows == 128, "wide items are 256-row blocks");
  constexpr int BM = ws_bm(kRows);
  constexpr int kAcc = kWide ? 4 : kRows / 64;
  constexpr int kR = kN / 2;  // accumulators per thread of an m64nN wgmma
  using Mma = WgmmaNt<kN>;
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  // The stage's A tile: [2 K halves][a_rows][64 B], a_rows = BM, or 128 for
  // a paired tile (whose two warpgroups share it); B follows at a_rows x 128 B.
  // A wide item: the A tile's 256 rows, shared by both warpgroups.
  const bool paired = kRows == 128 && t.paired && !kWide;
  const int a_rows = paired ? kRows : BM;
  const uint32_t a_off = paired || kWide ? 0u : uint32_t(cwg * kRows * 64);
  const uint32_t b_off = uint32_t((a_rows + tok0) * kRowBytes);
  const uint64_t dhalf = uint64_t(a_rows * 64) >> 4;  // descriptor units of one K half
  // This warpgroup's first weight row (a wide item's scales: see below).
  const int wrow0 = t.rb * BM + (kWide ? 0 : paired ? t.half * kRows : cwg * kRows);
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
    // wrow0 / 256 (a wide item's four accumulators too: 64-row steps keep a
    // warp's rows gate or up); else block wrow0 / 128.
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

// A CTA's work item: (row block, tile) of an expert's group of tiles, tile
// fastest. Paired tiles (256-row kernel): tiles 2 j and 2 j + 1 of an expert
// (128 + up to 128 tokens) become two items of 128 weight rows each (half =
// i % 2 of the 256-row block rb) over all their tokens, so that the weight
// block is read from L2 once rather than once per tile, and a short second
// tile does not cost a whole 256-row pass. The item count is the same.
// allow_wide (the per-item kernel, gate/up): a pair of tiles of at most
// kWsWideMax tokens in all (4,096 tokens, top-8 of 256: nearly every expert
// with two tiles) is one wide item instead, half 0's CTA over the whole
// 256-row block and all the tokens (half 1's CTA has nothing to do): the
// tokens are read from L2 once per row block instead of once per half.
struct WsItem {
  int g, rb, p0, cnt;
  bool paired;
  int half;
  bool wide = false;
};
// Item `item` of the grid's RB x grid_tiles; false past the tiles the sort
// made (*num_tiles), which every later item is too.
template <int kRows>
__device__ __forceinline__ bool ws_item(const StreamGemmArgs& a, int item, int RB, WsItem& w, bool allow_wide = false) {
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
  w.wide = allow_wide && w.paired && a.glu && w.cnt <= kWsWideMax;
  return true;
}

// The producer thread's copies of one item's K stages into the S-slot ring
// at sbase (FP8 token scales at sscale), from ring position st / ph on.
template <bool kFp8, int kRows, int S, int kSBytes = ws_stage_bytes(kRows)>
__device__ __forceinline__ void ws_produce(const StreamGemmArgs& a, const CUtensorMap* amap, const CUtensorMap* bmap,
                                           const CUtensorMap* bmap16, const WsItem& w, int KB, uint32_t sbase,
                                           uint32_t sscale, uint32_t full0, uint32_t empty0, int& st, uint32_t& ph) {
  constexpr int BM = ws_bm(kRows);
  constexpr int kScaleFloats = ws_scale_floats(kRows);
  constexpr int kElem = kFp8 ? 1 : 2;
  const bool half_rows = w.paired && !w.wide;  // a paired item's A tile: its half of the 256 rows
  const int a_rows = half_rows ? kRows : BM;   // weight rows in a stage's A tile
  // 2 KB block b of the weights is amap row 32 b; the expert's row tile
  // rt, K tile kt, half c is block (g stride / 2 KB) + (rt KT + kt) 2 + c.
  // blk: this item's first row tile at stage kb, half 0.
  const int kt2 = int(a.w_kt) * 2;
  int blk = int(int64_t(w.g) * a.w_gstride * kElem / 2048) +
            (w.rb * (BM / 32) + (half_rows ? w.half * (kRows / 32) : 0)) * kt2;
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
template <bool kFp8, int kRows, int S, int kSBytes = ws_stage_bytes(kRows)>
__device__ __forceinline__ WsRing ws_ring_init(uint8_t* smem) {
  WsRing r;
  r.sbase = smem_u32(smem);
  r.sscale = r.sbase + uint32_t(S * kSBytes);
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

// body(integral_constant kW) for the least kW = 16, 32, .., kMaxN with
// 16 c <= kW (kMaxN past it: wider cannot occur), one instance per width
// (a switch clamped with std::min instantiated kMaxN once per case above it).
template <int kW, int kMaxN, typename F>
__device__ __forceinline__ void ws_width_dispatch(int c, F& body) {
  if constexpr (kW >= kMaxN) {
    body(std::integral_constant<int, kMaxN>{});
  } else {
    if (c <= kW / 16)
      body(std::integral_constant<int, kW>{});
    else
      ws_width_dispatch<kW + 16, kMaxN>(c, body);
  }
}

// The consumers' token range of an item: the tile's token width rounded up
// to 16 (a remainder tile of an expert's tokens costs the tensor core its
// tokens, not 128); a paired tile's tokens split between the warpgroups at a
// multiple of 16. Calls body(integral_constant kN) with tok0 set.
// kMaxN: the widest instance (a wide item's warpgroups take <= 80 tokens).
template <int kMaxN = 128, typename F>
__device__ __forceinline__ void ws_token_width(const WsItem& w, int& tok0, F&& body) {
  const int split = w.paired ? min(kBN, ((w.cnt + 1) / 2 + 15) & ~15) : w.cnt;
  const bool second = w.paired && int(threadIdx.x) >= kWsProducers + kWsConsumers / 2;  // warpgroup 1, paired
  tok0 = second ? split : 0;
  const int n = second ? w.cnt - split : split;
  ws_width_dispatch<16, kMaxN>((n + 15) >> 4, body);
}

// The tensor maps of the warp-specialized kernels' loads (moe_grouped_wgmma.cu).
struct WsMaps {
  CUtensorMap a{}, b{}, b16{};
};
WsMaps ws_maps(const StreamGemmArgs& a);

// The persistent kernel for GEMMs without the gate/up product, over `items`
// (row block, tile) items, round-robin over the CTAs (moe_grouped_wgmma_pst.cu).
void launch_pst(const StreamGemmArgs& a, int64_t items, cudaStream_t stream);

}  // namespace sable::cuda::moe_wgmma
