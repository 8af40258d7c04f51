// The routed experts of a MoE layer as two grouped GEMMs over tokens sorted
// by expert (no per-expert launches, no host synchronization):
//   1. a stable counting sort of the (token, k) pairs by expert: each pair's
//      sorted position p, the token of each p, its routing weight, and the
//      tile list {expert, p_begin, count}. Few pairs (decode): one CTA per
//      expert, counting in shared memory (moe_fill_kernel); many (prefill):
//      three passes over chunks of pairs (moe_chunk_*);
//   2. [FP8] quantize x per token per 128 channels (the wgmma kernel: then
//      gather the rows and their scales in expert order; bf16: gather x);
//   3. gate+up grouped GEMM over the fused interleaved [E, 2I, H] weight, with
//      silu(gate) * up in the epilogue -> h [P, I] (P = T * top_k);
//   4. [FP8] quantize h;
//   5. down grouped GEMM, scaled by the routing weight -> y [P, H];
//   6. out[t] = sum_k y[pos(t, k)] in k order (deterministic).
// Grids are sized from T alone (an upper bound on tiles), so the sequence can
// be captured in a CUDA graph.
// Under expert parallelism a pair's id is -1 when another rank holds its
// expert: the sort leaves it out (pair_pos -1, which step 6 skips), and the
// sorted positions past the rank's pairs take token 0 with weight 0, so the
// gathers over all T * top_k positions read real rows.
#include <cuda_bf16.h>

#include <algorithm>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/expert_tiles.cuh"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {

namespace {

// Pairs up to which the sort is one CTA per expert, each counting all
// experts itself in shared memory (pairs x E shared atomics in all; at decode
// a few thousand); above, the chunked sort (moe_chunk_*).
constexpr int64_t kFillMaxPairs = 4096;

// Expert e's tiles j = j0, j0 + dj, ... of bn pairs each ({e, first sorted
// position, count}; the last one partial), at tile index tbase + j, and
// their group {tbase, nt} for the wgmma kernel's CTA order.
__device__ __forceinline__ void write_expert_tiles(int* __restrict__ tiles, int* __restrict__ tile_groups, int e,
                                                   int base, int tbase, int n, int nt, int bn, int j0, int dj) {
  for (int j = j0; j < nt; j += dj) {
    int* t = tiles + 3 * (tbase + j);
    t[0] = e;
    t[1] = base + j * bn;
    t[2] = min(bn, n - j * bn);
    if (tile_groups) {
      tile_groups[2 * (tbase + j)] = tbase;
      tile_groups[2 * (tbase + j) + 1] = nt;
    }
  }
}

// One CTA (256 threads) per expert; [E] ints of dynamic shared memory.
__global__ void moe_fill_kernel(const int* __restrict__ ids, const float* __restrict__ wts, int64_t pairs, int top_k,
                                int E, int bn, int* __restrict__ sorted_token, float* __restrict__ sorted_weight,
                                int* __restrict__ pair_pos, int* __restrict__ tiles, int* __restrict__ num_tiles,
                                int* __restrict__ tile_groups) {
  pdl_begin();
  const int e = blockIdx.x;
  extern __shared__ int counts[];
  for (int x = threadIdx.x; x < E; x += blockDim.x) counts[x] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < pairs; i += blockDim.x) {
    const int x = ids[i];
    if (x >= 0 && x < E) atomicAdd(&counts[x], 1);
  }
  __syncthreads();
  __shared__ int s_warp[8];
  __shared__ int s_base[2];
  // Offsets of this expert's rows and tiles: sums over the experts before it.
  int off = 0, toff = 0;
  for (int x = threadIdx.x; x < e; x += blockDim.x) {
    off += counts[x];
    toff += (counts[x] + bn - 1) / bn;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    off += __shfl_xor_sync(0xffffffffu, off, o);
    toff += __shfl_xor_sync(0xffffffffu, toff, o);
  }
  __shared__ int s_off[8], s_toff[8];
  if (lane == 0) { s_off[warp] = off; s_toff[warp] = toff; }
  __syncthreads();
  if (threadIdx.x == 0) {
    int a = 0, b = 0;
    for (int w = 0; w < 8; ++w) { a += s_off[w]; b += s_toff[w]; }
    s_base[0] = a;
    s_base[1] = b;
  }
  __syncthreads();
  const int base = s_base[0], tbase = s_base[1];
  const int n = counts[e];
  // Stable compaction of the pairs routed to e, 256 at a time.
  int running = 0;
  for (int64_t start = 0; start < pairs; start += blockDim.x) {
    const int64_t i = start + threadIdx.x;
    const bool hit = i < pairs && ids[i] == e;
    const unsigned mask = __ballot_sync(0xffffffffu, hit);
    if (lane == 0) s_warp[warp] = __popc(mask);
    __syncthreads();
    int before = running;
    for (int w = 0; w < warp; ++w) before += s_warp[w];
    int total = 0;
    for (int w = 0; w < 8; ++w) total += s_warp[w];
    if (hit) {
      const int p = base + before + __popc(mask & ((1u << lane) - 1u));
      sorted_token[p] = int(i / top_k);
      sorted_weight[p] = wts[i];
      pair_pos[i] = p;
    } else if (e == 0 && i < pairs && (ids[i] < 0 || ids[i] >= E)) {
      pair_pos[i] = -1;  // another expert-parallel rank's expert
    }
    running += total;
    __syncthreads();
  }
  const int nt = (n + bn - 1) / bn;
  write_expert_tiles(tiles, tile_groups, e, base, tbase, n, nt, bn, int(threadIdx.x), int(blockDim.x));
  if (e == E - 1) {
    if (threadIdx.x == 0) *num_tiles = tbase + nt;
    for (int64_t p = base + n + threadIdx.x; p < pairs; p += blockDim.x) {  // pairs left out (-1 ids)
      sorted_token[p] = 0;
      sorted_weight[p] = 0.f;
    }
  }
}

// The sort for many pairs (prefill: 32,768 at 4,096 tokens, top-8), where
// moe_fill_kernel's CTA per expert, each scanning every pair, costs ~80 us
// (H200) and grows with the pairs. Three passes over chunks of kSortChunk
// pairs, the same result (stable: an expert's pairs in pair order):
//   1. per chunk, each expert's count (chunk_counts[c][E]) and each pair's
//      rank among its chunk's pairs of the same expert (in pair_pos);
//   2. one CTA: per expert, its base (a scan over experts) plus the counts of
//      the chunks before (in place), and the tile list;
//   3. per chunk, each pair to its place.
constexpr int kSortChunk = 256;

__global__ void moe_chunk_count_kernel(const int* __restrict__ ids, int64_t pairs, int E,
                                       int* __restrict__ chunk_counts, int* __restrict__ rank) {
  pdl_begin();
  extern __shared__ int s_sort[];  // [E] counts, [kSortChunk] experts
  int* s_cnt = s_sort;
  int* s_id = s_sort + E;
  for (int x = threadIdx.x; x < E; x += blockDim.x) s_cnt[x] = 0;
  const int64_t i0 = int64_t(blockIdx.x) * kSortChunk;
  const int j = threadIdx.x;
  const int e = i0 + j < pairs ? ids[i0 + j] : -1;
  s_id[j] = e;
  __syncthreads();
  if (e >= 0 && e < E) {
    int r = 0;
    for (int u = 0; u < j; ++u) r += s_id[u] == e;
    rank[i0 + j] = r;
    atomicAdd(&s_cnt[e], 1);
  }
  __syncthreads();
  for (int x = threadIdx.x; x < E; x += blockDim.x) chunk_counts[int64_t(blockIdx.x) * E + x] = s_cnt[x];
}

// One CTA; thread x takes experts [x per, x per + per) (per = 1 up to 1,024
// experts). Chunk counts are loaded in batches of 16 (independent of the
// stores between them), so that a pass over the chunks costs chunks / 16 L2
// round trips, not chunks. counts: [E] scratch for the experts' totals.
__global__ void moe_chunk_scan_kernel(int* __restrict__ chunk_counts, int chunks, int E, int per, int bn,
                                      int* __restrict__ counts, int* __restrict__ tiles, int* __restrict__ num_tiles,
                                      int* __restrict__ tile_groups) {
  pdl_begin();
  constexpr int kBatch = 16;
  const int e0 = int(threadIdx.x) * per, e1 = min(E, e0 + per);
  int n_sum = 0, nt_sum = 0;  // this thread's experts together
  for (int e = e0; e < e1; ++e) {
    int n = 0;
    for (int c0 = 0; c0 < chunks; c0 += kBatch) {
      int v[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) v[u] = c0 + u < chunks ? chunk_counts[int64_t(c0 + u) * E + e] : 0;
#pragma unroll
      for (int u = 0; u < kBatch; ++u) n += v[u];
    }
    counts[e] = n;
    n_sum += n;
    nt_sum += (n + bn - 1) / bn;
  }
  // Exclusive scans of the threads' totals: within each warp by shuffles,
  // then over the warps' totals.
  __shared__ int s_n[32], s_nt[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int in = n_sum, it = nt_sum;
  for (int o = 1; o < 32; o <<= 1) {
    const int a = __shfl_up_sync(0xffffffffu, in, o), b = __shfl_up_sync(0xffffffffu, it, o);
    if (lane >= o) {
      in += a;
      it += b;
    }
  }
  if (lane == 31) {
    s_n[warp] = in;
    s_nt[warp] = it;
  }
  __syncthreads();
  int base = in - n_sum, tbase = it - nt_sum;
  for (int w = 0; w < warp; ++w) {
    base += s_n[w];
    tbase += s_nt[w];
  }
  for (int e = e0; e < e1; ++e) {
    const int n = counts[e], nt = (n + bn - 1) / bn;
    int run = base;
    for (int c0 = 0; c0 < chunks; c0 += kBatch) {
      int v[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) v[u] = c0 + u < chunks ? chunk_counts[int64_t(c0 + u) * E + e] : 0;
#pragma unroll
      for (int u = 0; u < kBatch; ++u)
        if (c0 + u < chunks) {
          chunk_counts[int64_t(c0 + u) * E + e] = run;
          run += v[u];
        }
    }
    write_expert_tiles(tiles, tile_groups, e, base, tbase, n, nt, bn, 0, 1);
    base += n;
    tbase += nt;
    if (e == E - 1) {
      num_tiles[0] = tbase;
      num_tiles[1] = base;  // pairs sorted: fewer than all when ids are -1
    }
  }
}

__global__ void moe_chunk_scatter_kernel(const int* __restrict__ ids, const float* __restrict__ wts, int64_t pairs,
                                         int top_k, int E, const int* __restrict__ chunk_off,
                                         const int* __restrict__ num_tiles, int* __restrict__ sorted_token,
                                         float* __restrict__ sorted_weight, int* __restrict__ pair_pos) {
  pdl_begin();
  const int64_t i = int64_t(blockIdx.x) * kSortChunk + threadIdx.x;
  if (i >= pairs) return;
  if (i >= num_tiles[1]) {  // a sorted position past the rank's pairs (-1 ids)
    sorted_token[i] = 0;
    sorted_weight[i] = 0.f;
  }
  const int e = ids[i];
  if (e < 0 || e >= E) {
    pair_pos[i] = -1;  // another expert-parallel rank's expert
    return;
  }
  const int p = chunk_off[int64_t(blockIdx.x) * E + e] + pair_pos[i];  // pair_pos holds the rank (pass 1)
  sorted_token[p] = int(i / top_k);
  sorted_weight[p] = wts[i];
  pair_pos[i] = p;
}

// out[t, :] = sum_k y[pair_pos[t*K + k], :] over the pairs sorted (pair_pos
// >= 0), 8 channels per thread.
__global__ void moe_reduce_kernel(const __nv_bfloat16* __restrict__ y, const int* __restrict__ pair_pos,
                                  int64_t T, int top_k, int64_t H, void* __restrict__ out,
                                  bool out_f32) {
  pdl_begin();
  const int64_t vecs = H / 8;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < T * vecs;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / vecs, c = (idx % vecs) * 8;
    float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int k = 0; k < top_k; ++k) {
      const int64_t p = pair_pos[t * top_k + k];
      if (p < 0) continue;
      const uint4 raw = *reinterpret_cast<const uint4*>(y + p * H + c);
      const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        acc[2 * i] += __low2float(h2[i]);
        acc[2 * i + 1] += __high2float(h2[i]);
      }
    }
    if (out_f32) {
      float4* o = reinterpret_cast<float4*>(static_cast<float*>(out) + t * H + c);
      o[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
      o[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    } else {
      uint4 r;
      __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&r);
#pragma unroll
      for (int i = 0; i < 4; ++i) h2[i] = __floats2bfloat162_rn(acc[2 * i], acc[2 * i + 1]);
      *reinterpret_cast<uint4*>(static_cast<__nv_bfloat16*>(out) + t * H + c) = r;
    }
  }
}

// The FP8 token scales of the gathered rows (group-major, as
// quantize_act_kernel writes them): dst[kb * ld_dst + p] = src[kb * ld_src +
// rows[p]] for p < P, kb < nkb.
__global__ void moe_gather_scales_kernel(const float* __restrict__ src, int64_t ld_src, const int* __restrict__ rows,
                                         int64_t P, int64_t nkb, float* __restrict__ dst, int64_t ld_dst) {
  pdl_begin();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < P * nkb; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t kb = i / P, p = i % P;
    dst[kb * ld_dst + p] = src[kb * ld_src + rows[p]];
  }
}

MoeKernel g_moe_kernel = MoeKernel::kAuto;

// Tokens per tile of the streaming kernel: 8 at every size it serves, both
// dtypes. A busy expert takes several tiles and its later tiles read the
// weights from L2, which costs less than the larger tiles' registers (the
// FP8 16-token ring variant spills at its 128-register bound; 32 fits one CTA
// per SM). H200 (records 2026-12-01-8b14ee8-moe-tiles-ab.md,
// 2026-12-01-dd43d42-moe-kwarps-ab.md, 2026-12-01-3b461df-moe-thresholds.md),
// whole MoE op: FP8 128 tokens 2,710 us against 3,386 with 16-token tiles,
// 256 tokens 2,995 against 5,826 with 32; bf16 128 tokens 4,949 against
// 5,262 with 16, 256 tokens 5,618 against 6,661 with 32.
// set_moe_bn or SABLE_MOE_BN: 8, 16, 32 or 64 forced (64: bf16 only), 0 the rule.
TuningValue g_moe_bn{"SABLE_MOE_BN", 0, [](int v) { return v == 0 || v == 8 || v == 16 || v == 32 || v == 64; }};

int moe_bn(bool fp8) {
  if (const int forced = g_moe_bn.get()) return forced == 64 && fp8 ? 32 : forced;
  return 8;
}

size_t a256(size_t v) { return (v + 255) & ~size_t(255); }

struct MoeScratch {
  size_t counts, num_tiles, sorted_token, sorted_weight, pair_pos, tiles, tile_groups, chunk_counts, xq, xs, h, hq, hs,
      y, total;
  int64_t max_tiles;
};

MoeScratch moe_scratch(int64_t T, int64_t K, int E, int64_t H, int64_t I, bool fp8, int bn) {
  MoeScratch s{};
  const int64_t P = T * K;
  s.max_tiles = (P < E ? P : E) + ceil_div(P, bn);
  size_t o = 0;
  s.counts = o; o += a256(size_t(E) * 4);
  s.num_tiles = o; o += 256;
  s.sorted_token = o; o += a256(size_t(P) * 4);
  s.sorted_weight = o; o += a256(size_t(P) * 4);
  s.pair_pos = o; o += a256(size_t(P) * 4);
  s.tiles = o; o += a256(size_t(s.max_tiles) * 12);
  s.tile_groups = o; o += a256(size_t(s.max_tiles) * 8);
  s.chunk_counts = o;
  o += a256(size_t(ceil_div(P, kSortChunk)) * size_t(E) * 4);
  if (fp8) {
    s.xq = o; o += a256(size_t(T * H));
    s.xs = o; o += a256(size_t(ceil_div(H, 128) * scale_ld(T)) * 4);
  }
  s.h = o; o += a256(size_t(P * I) * 2);
  if (fp8) {
    s.hq = o; o += a256(size_t(P * I));
    s.hs = o; o += a256(size_t(ceil_div(I, 128) * scale_ld(P)) * 4);
  }
  s.y = o; o += a256(size_t(P * H) * 2);
  s.total = o;
  return s;
}

}  // namespace

void set_moe_kernel(MoeKernel k) { g_moe_kernel = k; }
bool set_moe_bn(int bn) { return g_moe_bn.set(bn); }

MoeKernel moe_kernel_for(int64_t T, int64_t top_k, int E) {
  if (g_moe_kernel != MoeKernel::kAuto) return g_moe_kernel;
  if (batch_invariant()) return MoeKernel::kStream;
  // The grouped wgmma kernel from 8 expected tokens per routed expert (T >=
  // 256 for DeepSeek-V3), where it overtakes the streaming kernel. H200,
  // whole MoE op: bf16 256 tokens 5,594 us against 5,618 (streaming, 8-token
  // tiles), 384 tokens 5,609 against 6,939 (record
  // 2026-12-01-3b461df-moe-thresholds.md); FP8 with 256-row tiles and
  // trimmed token boxes 128 tokens 2,765 against 2,565, 192 2,789 against
  // 2,754, 256 2,825 against 2,996, 384 2,858 against 3,966 (record
  // 2026-12-03-81d34e0-moe-breakdown.md; FP8 took 512 before those tiles).
  return T * top_k >= 8 * int64_t(E) ? MoeKernel::kWgmma : MoeKernel::kStream;
}

namespace {
// Tokens per tile: the wgmma kernel's 128, or what the streaming kernel wants.
int moe_tile_tokens(int64_t T, int64_t top_k, int E, bool fp8, int64_t H, int64_t I) {
  const int64_t kq = fp8 ? 128 : 64;  // K granule of a stage
  if (moe_kernel_for(T, top_k, E) == MoeKernel::kWgmma && H % 128 == 0 && (2 * I) % 128 == 0 && H % kq == 0 &&
      I % kq == 0)
    return 128;
  return moe_bn(fp8);
}
}  // namespace

size_t moe_arena_bytes(int64_t T, int64_t top_k, int E, int64_t H, int64_t I, bool fp8) {
  // Either kernel's tiles (the testing knob may switch kernels after a reservation).
  return std::max(moe_scratch(T, top_k, E, H, I, fp8, moe_bn(fp8)).total,
                  moe_scratch(T, top_k, E, H, I, fp8, 128).total);
}

void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights,
                 const MoeExperts& w, Tensor& out, cudaStream_t stream) {
  SABLE_GEMM_REQUIRE(w.prepared != nullptr, "moe_experts: experts not prepared (prepare_experts)");
  const PreparedExperts& P = *static_cast<const PreparedExperts*>(w.prepared.get());
  const int64_t T = x.dim(0), H = P.H, I = P.I, K = topk_ids.dim(1);
  const int E = P.E;
  SABLE_GEMM_REQUIRE(x.dtype() == DType::BF16 && x.dim(1) == H, "moe_experts: x must be BF16 [T, H]");
  SABLE_GEMM_REQUIRE(topk_ids.dtype() == DType::I32 && topk_weights.dtype() == DType::F32 &&
                         topk_ids.dim(0) == T && topk_weights.dim(0) == T && topk_weights.dim(1) == K,
                     "moe_experts: topk_ids I32 [T, K], topk_weights F32 [T, K]");
  SABLE_GEMM_REQUIRE(out.dim(0) == T && out.dim(1) == H &&
                         (out.dtype() == DType::BF16 || out.dtype() == DType::F32),
                     "moe_experts: out must be BF16/F32 [T, H]");
  SABLE_GEMM_REQUIRE(H % 16 == 0 && I % 16 == 0, "moe_experts: H and I must be multiples of 16");
  if (T == 0) return;
  GemmWorkspace* ws = gemm_workspace(stream);
  // The kernel follows the expected pairs per expert: under expert
  // parallelism T * K pairs spread over all the router's experts, of which
  // this rank holds E.
  const int bn = moe_tile_tokens(T, K, std::max(E, w.routed_experts), P.fp8, H, I);
  const bool wgmma = bn == 128;
  const MoeScratch s = moe_scratch(T, K, E, H, I, P.fp8, bn);
  char* ar = gemm_arena(ws, s.total);
  int* counts = reinterpret_cast<int*>(ar + s.counts);
  int* num_tiles = reinterpret_cast<int*>(ar + s.num_tiles);
  int* sorted_token = reinterpret_cast<int*>(ar + s.sorted_token);
  float* sorted_weight = reinterpret_cast<float*>(ar + s.sorted_weight);
  int* pair_pos = reinterpret_cast<int*>(ar + s.pair_pos);
  int* tiles = reinterpret_cast<int*>(ar + s.tiles);
  int* tile_groups = wgmma ? reinterpret_cast<int*>(ar + s.tile_groups) : nullptr;
  const int64_t pairs = T * K;

  // Shared memory of the sort: [E] counts (+ a chunk's experts).
  SABLE_GEMM_REQUIRE(size_t(E + kSortChunk) * 4 <= 48 * 1024, "moe_experts: at most 12,032 experts");
  if (pairs <= kFillMaxPairs) {
    launch_pdl(moe_fill_kernel, unsigned(E), 256, size_t(E) * 4, stream, topk_ids.ptr<int>(), topk_weights.ptr<float>(),
               pairs, int(K), E, bn, sorted_token, sorted_weight, pair_pos, tiles, num_tiles, tile_groups);
    SABLE_LAUNCH_OK();
  } else {
    int* chunk_counts = reinterpret_cast<int*>(ar + s.chunk_counts);
    const int64_t chunks = ceil_div(pairs, int64_t(kSortChunk));
    launch_pdl(moe_chunk_count_kernel, unsigned(chunks), kSortChunk, size_t(E + kSortChunk) * 4, stream,
               topk_ids.ptr<int>(), pairs, E, chunk_counts, pair_pos);
    SABLE_LAUNCH_OK();
    const int threads = E < 1024 ? (E + 31) / 32 * 32 : 1024;
    launch_pdl(moe_chunk_scan_kernel, 1u, unsigned(threads), 0, stream, chunk_counts, int(chunks), E,
               int(ceil_div(int64_t(E), int64_t(threads))), bn, counts, tiles, num_tiles, tile_groups);
    SABLE_LAUNCH_OK();
    launch_pdl(moe_chunk_scatter_kernel, unsigned(chunks), kSortChunk, 0, stream, topk_ids.ptr<int>(),
               topk_weights.ptr<float>(), pairs, int(K), E, static_cast<const int*>(chunk_counts),
               static_cast<const int*>(num_tiles), sorted_token, sorted_weight, pair_pos);
    SABLE_LAUNCH_OK();
  }

  auto* h = reinterpret_cast<__nv_bfloat16*>(ar + s.h);
  auto* y = reinterpret_cast<__nv_bfloat16*>(ar + s.y);
  const int64_t nbI = ceil_div(I, 128), nbH = ceil_div(H, 128);
  const int64_t kbH = weight_scale_ld(H), kbI = weight_scale_ld(I);

  StreamGemmArgs g;
  g.fp8 = P.fp8;
  g.bn = bn;
  g.N = 2 * I;
  g.K = H;
  g.w = P.w13;
  g.w_gstride = P.w13_stride / (P.fp8 ? 1 : 2);
  g.w_kt = expert_k_tiles(H, P.fp8 ? 1 : 2);
  g.groups = E;
  g.glu = true;
  g.tiles = tiles;
  g.num_tiles = num_tiles;
  g.grid_tiles = int(s.max_tiles);
  g.x_index = sorted_token;
  g.tile_groups = tile_groups;
  g.out = h;
  g.ldo = I;
  g.T = pairs;
  g.ldx = H;
  if (P.fp8) {
    // FP8 activations: the tokens quantized in 1 x 128 blocks (scales
    // [H / 128][rows]), and the weights' 128 x 128 block scales.
    g.ws = P.s13;
    g.ws_ld = kbH;
    g.ws_gstride = 2 * nbI * kbH;
    g.ws_up = nbI * kbH;
    g.xs_st = 1;
  }
  if (wgmma) {
    // The wgmma kernel reads its tokens as contiguous rows (TMA): gather
    // them in expert order (FP8: rows and scales of the quantized tokens)
    // into y, which only the down projection writes, after gate/up has read them.
    g.x_index = nullptr;
    const Tensor index(sorted_token, DType::I32, {pairs}, Device::kCUDA);
    if (P.fp8) {
      // Quantize the T tokens, then gather the FP8 rows and their scales:
      // the same bytes as quantizing the gathered rows (each 128-channel
      // block is quantized on its own), with the bf16 reads and the divisions
      // done once per token instead of once per (token, expert) pair
      // (4,096 tokens, top-8: 412 us for the quantizing gather, H200).
      auto* tq = reinterpret_cast<uint8_t*>(ar + s.xq);
      auto* ts = reinterpret_cast<float*>(ar + s.xs);
      launch_quantize_act_fp8(x.ptr<__nv_bfloat16>(), T, H, H, tq, ts, scale_ld(T), stream);
      auto* xq = reinterpret_cast<uint8_t*>(y);
      auto* xs = reinterpret_cast<float*>(ar + s.y + a256(size_t(pairs * H)));
      const Tensor tqt(tq, DType::F8_E4M3, {T, H}, Device::kCUDA);
      Tensor xg(xq, DType::F8_E4M3, {pairs, H}, Device::kCUDA);
      gather_rows(tqt, index, xg, stream);
      const int64_t n = pairs * nbH;
      launch_pdl(moe_gather_scales_kernel, unsigned(ceil_div(n, 256) < 4096 ? ceil_div(n, 256) : 4096), 256, 0, stream,
                 static_cast<const float*>(ts), scale_ld(T), static_cast<const int*>(sorted_token), pairs, nbH, xs,
                 scale_ld(pairs));
      SABLE_LAUNCH_OK();
      g.x = xq;
      g.xs = xs;
      g.xs_sk = scale_ld(pairs);
    } else {
      Tensor xg(y, DType::BF16, {pairs, H}, Device::kCUDA);
      gather_rows(x, index, xg, stream);
      g.x = y;
    }
  } else if (P.fp8) {
    auto* xq = reinterpret_cast<uint8_t*>(ar + s.xq);
    auto* xs = reinterpret_cast<float*>(ar + s.xs);
    launch_quantize_act_fp8(x.ptr<__nv_bfloat16>(), T, H, H, xq, xs, scale_ld(T), stream);
    g.x = xq;
    g.xs = xs;
    g.xs_sk = scale_ld(T);
  } else {
    g.x = x.data();
  }
  if (wgmma) {
    SABLE_GEMM_REQUIRE(grouped_wgmma_supported(g), "moe_experts: shape not supported by the wgmma kernel");
    launch_grouped_wgmma(g, stream);
  } else {
    launch_stream_gemm(g, stream);
  }

  StreamGemmArgs d;
  d.fp8 = P.fp8;
  d.bn = bn;
  d.N = H;
  d.K = I;
  d.w = P.w2;
  d.w_gstride = P.w2_stride / (P.fp8 ? 1 : 2);
  d.w_kt = expert_k_tiles(I, P.fp8 ? 1 : 2);
  d.groups = E;
  d.tiles = tiles;
  d.num_tiles = num_tiles;
  d.grid_tiles = int(s.max_tiles);
  d.out = y;
  d.ldo = H;
  d.row_scale = sorted_weight;
  d.tile_groups = tile_groups;
  d.T = pairs;
  if (P.fp8) {
    auto* hq = reinterpret_cast<uint8_t*>(ar + s.hq);
    auto* hs = reinterpret_cast<float*>(ar + s.hs);
    launch_quantize_act_fp8(h, pairs, I, I, hq, hs, scale_ld(pairs), stream);
    d.x = hq;
    d.ldx = I;
    d.xs = hs;
    d.xs_sk = scale_ld(pairs);
    d.xs_st = 1;
    d.ws = P.s2;
    d.ws_ld = kbI;
    d.ws_gstride = nbH * kbI;
  } else {
    d.x = h;
    d.ldx = I;
  }
  if (wgmma) {
    SABLE_GEMM_REQUIRE(grouped_wgmma_supported(d), "moe_experts: shape not supported by the wgmma kernel");
    launch_grouped_wgmma(d, stream);
  } else {
    launch_stream_gemm(d, stream);
  }

  const int64_t work = T * (H / 8);
  launch_pdl(moe_reduce_kernel, unsigned(ceil_div(work, 256) < 8192 ? ceil_div(work, 256) : 8192), 256, 0, stream, y,
             pair_pos, T, int(K), H, out.data(), out.dtype() == DType::F32);
  SABLE_LAUNCH_OK();
}

}  // namespace sable::cuda
