// The persistent grouped wgmma kernel for the MoE GEMMs without the gate/up
// product (the down GEMM; variant 3 of set_grouped_wgmma_variant):
// the 256-row warp-specialized kernel of moe_grouped_wgmma.cu, made
// persistent, its epilogue stored by TMA from a staging tile. Shares the
// ring, main loop and work items of moe_grouped_wgmma_ws.cuh.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>

#include "backend/cuda/device_info.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/moe_grouped_wgmma_ws.cuh"
#include "backend/cuda/smem_optin.h"
#include "backend/cuda/tensor_map.h"

namespace sable::cuda {

namespace {

using namespace moe_wgmma;  // NOLINT: the shared tile shape, ring and items (moe_grouped_wgmma_ws.cuh)

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
// 128-byte swizzle][3 stages of 48 KB][FP8 scales][full][empty][the item's
// row scales, 1 KB]: the staging tile costs the ring one of its four stages.
constexpr int kPstStages = 3;
constexpr int kPstStaging = 64 * 1024;
constexpr int kPstRowScales = 2 * kBN;  // an item's row scales (up to 256 tokens) in shared memory
constexpr int pst_smem_bytes(bool fp8) {
  return 1024 + kPstStaging + kPstStages * (ws_stage_bytes(128) + (fp8 ? ws_scale_bytes(128) : 0) + 2 * 8) +
         kPstRowScales * 4;
}
static_assert(pst_smem_bytes(true) <= 227 * 1024, "staging and stages fit in shared memory");
static_assert(kPstRowScales == kWsConsumers, "one row scale per consumer thread");
static_assert(2 * kBN * 128 * 2 == kPstStaging, "a paired item's 256 tokens x 128 rows of bf16 fill the staging tile");

template <bool kFp8, int kN>
__device__ __forceinline__ void pst_consume(const StreamGemmArgs& a, const WsTile& t, int tok0, int& st, uint32_t& ph,
                                            uint8_t* stg, const CUtensorMap* ymap, float* rs_s) {
  constexpr int kAcc = 2;
  const int ctid = int(threadIdx.x) - kWsProducers, lane = ctid & 31, cw = ctid >> 5, cwg = cw >> 2;
  const float* rsc = a.row_scale ? a.row_scale + t.p0 : nullptr;
  // The item's row scales (routing weights), one per consumer thread (an
  // item has at most 256 tokens), loaded before the main loop so that the
  // epilogue reads them from shared memory rather than from L2 (FP8 op at
  // 4,096 tokens -27 us, bf16 -24; record 2026-12-04-3cbde8a-pst-row-scales-ab.md).
  const float rs_mine = rsc && ctid < t.cnt ? rsc[ctid] : 1.f;
  float acc[kAcc][kN / 2];
  ws_mainloop<kFp8, 128, kN, kPstStages>(a, t, tok0, st, ph, acc);
  if (a.skip_epilogue) return;                // timing only (StreamGemmArgs::skip_epilogue)
  const int ntok = t.paired ? 2 * kBN : kBN;  // tokens per column chunk
  // The previous item's stores have read the staging tile (and every
  // consumer has read the previous item's row scales: the barrier after its
  // staging writes).
  if (ctid == 0) bulk_wait_read0();
  rs_s[ctid] = rs_mine;
  named_barrier_sync(1, kWsConsumers);
  // acc[h][4 j + e]: weight row R + lane / 4 + 8 (e / 2), token tok0 + 8 j +
  // 2 (lane % 4) + e % 2 (R = 16 (warp % 4): the warp's rows of the
  // accumulator's 64), i.e. per 8-token block j two 8 x 8 fragments, rows R ..
  // R + 7 (lo) and R + 8 .. R + 15 (hi), in mma's layout. stmatrix .trans
  // stores a fragment's column (one token's 8 weight rows, 16 bytes) per
  // shared address: exactly a 16-byte group of the staging tile, so one
  // instruction writes blocks j, j + 1, lo and hi (no shuffles; the 8 tokens
  // of a fragment hit 8 distinct groups under the swizzle).
  const int rg = (cw & 3) * 2;              // the warp's lo group of 16 bytes (8 rows) in a chunk's 128 B
  const int mi = lane >> 3, mk = lane & 7;  // this lane's address: matrix mi, its column (token) mk
  const int mj = mi >> 1, mhi = mi & 1;
#pragma unroll
  for (int j = 0; j < kN / 8; j += 2) {
    float rs[2][2];  // tokens tok0 + 8 (j + u) + 2 (lane % 4) + {0, 1} (up to 1 past the item's tokens)
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      const int c = tok0 + (j + u) * 8 + (lane & 3) * 2;
      rs[u][0] = rs_s[c];
      rs[u][1] = rs_s[c + 1];
    }
#pragma unroll
    for (int h = 0; h < kAcc; ++h) {
      const int cc = t.paired ? h : 2 * cwg + h;
      uint32_t r[4];  // fragments lo j, hi j, lo j + 1, hi j + 1
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const float* v = acc[h] + 4 * (j + u);
        const __nv_bfloat162 lo = __floats2bfloat162_rn(v[0] * rs[u][0], v[1] * rs[u][1]);
        const __nv_bfloat162 hi = __floats2bfloat162_rn(v[2] * rs[u][0], v[3] * rs[u][1]);
        memcpy(&r[2 * u], &lo, 4);
        memcpy(&r[2 * u + 1], &hi, 4);
      }
      const int tok = tok0 + (j + mj) * 8 + mk;
      stsm_x4_t(smem_u32(stg) + uint32_t(cc * ntok * 128 + tok * 128 + ((((rg + mhi) ^ tok) & 7) << 4)), r[0], r[1],
                r[2], r[3]);
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

// Items are assigned statically (round-robin). Taking them dynamically (an
// atomic counter read by the producer, the item handed to the consumers
// through shared memory) was correct and slower: down 1,650 vs 1,495 us in
// ncu, the FP8 MoE op at 4,096 tokens 5,085 vs 4,949 us (26d32d2, record
// 2026-12-03-a0d5d0e-moe-dynamic-items-ab.md). Not measured why; a guess: the
// round-robin keeps the CTAs running at once on neighbouring row blocks of
// the same experts, and the producer's atomic sits before each item's loads.
template <bool kFp8>
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
  float* rs_s = reinterpret_cast<float*>(smem + (empty0 + 8 * S - sbase));  // [kPstRowScales], after the ring
  // Both roles walk the same items and the same ring positions.
  int st = 0;
  uint32_t ph = 0;
  WsItem w;
  if (tid < kWsProducers) {
    setmaxnreg_dec<ws_producer_regs(kFp8, kRows)>();
    if (tid != 0) return;
    for (int item = blockIdx.x; ws_item<kRows>(a, item, RB, w); item += gridDim.x)
      ws_produce<kFp8, kRows, S>(a, &amap, &bmap, &bmap16, w, KB, sbase, sscale, full0, empty0, st, ph);
    return;
  }
  setmaxnreg_inc<ws_consumer_regs(kFp8, kRows)>();
  auto consume = [&](const WsItem& w) {
    const WsTile t{smem, sbase, full0, empty0, w.g, w.rb, w.p0, w.cnt, KB, w.p0 & 3, w.paired, w.half};
    int tok0 = 0;
    ws_token_width(w, tok0,
                   [&](auto n) { pst_consume<kFp8, decltype(n)::value>(a, t, tok0, st, ph, stg, &ymap, rs_s); });
  };
  for (int item = blockIdx.x; ws_item<kRows>(a, item, RB, w); item += gridDim.x) consume(w);
  // The staging tile must outlive the last stores' reads of it.
  if (tid == kWsProducers) bulk_wait0();
}

int g_pst_max_ctas = 0;  // 0: one CTA per SM

// One CTA per SM (items are walked in order, so the CTAs running at once
// still share their experts' weight blocks), and the output y[T rows][N] as
// boxes of 16 tokens x 64 columns (128-byte swizzle) for its TMA stores.
template <bool kFp8>
void launch(const StreamGemmArgs& a, int64_t items, cudaStream_t stream) {
  const WsMaps m = ws_maps(a);
  const CUtensorMap ymap = tensor_map_bf16(a.out, {uint64_t(a.N), uint64_t(a.T)}, {uint64_t(a.ldo) * 2}, {64, 16});
  auto k = moe_wgmma_pst_kernel<kFp8>;
  allow_dynamic_smem(k, pst_smem_bytes(kFp8));
  const int64_t ctas = std::min<int64_t>(items, g_pst_max_ctas > 0 ? g_pst_max_ctas : sm_count());
  k<<<unsigned(ctas), kWsThreads, pst_smem_bytes(kFp8), stream>>>(a, m.a, m.b, m.b16, ymap);
  SABLE_LAUNCH_OK();
}

}  // namespace

void set_grouped_wgmma_max_ctas(int n) { g_pst_max_ctas = n; }

namespace moe_wgmma {

void launch_pst(const StreamGemmArgs& a, int64_t items, cudaStream_t stream) {
  if (items <= 0) return;
  if (a.fp8)
    launch<true>(a, items, stream);
  else
    launch<false>(a, items, stream);
}

}  // namespace moe_wgmma

}  // namespace sable::cuda
