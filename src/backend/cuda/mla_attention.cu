// Paged MLA attention: the dispatcher, the generic CUDA-core kernel (any
// latent width, value width, head count and cache dtype: the tiny test
// models, FP8 caches, and a second opinion for the tensor-core kernel), and
// the split-K combine.
//
// Split-K: a batch with fewer (token, head-block) units than SMs splits each
// token's keys into num_splits contiguous ranges; every split writes its
// normalized partial output and log2-sum-exp, and the combine weights each
// partial by 2^(lse_s - max lse). The range of each split is computed on the
// device from the token's actual length, so a CUDA graph captured at one
// max_seq_len stays right at another.
#include <algorithm>
#include <cassert>
#include <cmath>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/device_info.h"
#include "backend/cuda/knobs.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/tuning_value.h"
#include "backend/mla_splits.h"

namespace sable::cuda {
namespace {

using mla::MlaArgs;

constexpr int kGenThreads = 128;
constexpr int kGenMaxDv = 8 * kGenThreads;  // o[8] per thread


// One block per (token, head, split); 128 keys per step, one key per thread
// for the scores, then every thread accumulates its value dims over them.
template <typename TQ, typename TC, typename TO>
__global__ void __launch_bounds__(kGenThreads) mla_generic_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ int64_t gsm[];
  int64_t* srow = gsm;                                          // [128] cache rows of the current keys
  float* sp = reinterpret_cast<float*>(srow + kGenThreads);     // [128] their weights
  float* scratch = sp + kGenThreads;                            // [33]
  float* sq = scratch + 33;                                     // [L] query, pre-scaled (log2 domain)

  int idx = blockIdx.x;
  const int split = idx % p.num_splits;
  idx /= p.num_splits;
  const int h = idx % p.H;
  const int t = p.T - 1 - idx / p.H;
  const int n = p.positions[t] + 1;
  const int chunk = (n + p.num_splits - 1) / p.num_splits;
  const int kb = split * chunk, ke = min(n, kb + chunk);
  const int64_t row = int64_t(t) * p.H + h;
  if (kb >= ke) {
    if (threadIdx.x == 0) p.part_lse[int64_t(split) * p.T * p.H + row] = -INFINITY;
    return;
  }
  const TQ* q = static_cast<const TQ*>(p.q) + row * p.L;
  const TC* cache = static_cast<const TC*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[t]) * p.max_blocks;
  for (int i = threadIdx.x; i < p.L; i += kGenThreads) sq[i] = to_f32(q[i]) * p.scale_log2;

  float o[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float m = -INFINITY, l = 0.f;
  for (int c0 = kb; c0 < ke; c0 += kGenThreads) {
    const int key = c0 + threadIdx.x;
    float s = -INFINITY;
    __syncthreads();  // sq written / previous step's sp, srow consumed
    if (key < ke) {
      const int64_t r = int64_t(table[key / p.block_size]) * p.block_size + key % p.block_size;
      srow[threadIdx.x] = r;
      const TC* k = cache + r * p.L;
      float acc = 0.f;
      for (int i = 0; i < p.L; ++i) acc += sq[i] * to_f32(k[i]);
      s = acc;
    }
    const float mn = fmaxf(m, block_max(s, scratch));
    const float alpha = exp2f(m - mn);
    const float pr = key < ke ? exp2f(s - mn) : 0.f;
    sp[threadIdx.x] = pr;
    l = l * alpha + block_sum(pr, scratch);  // block_sum's barriers publish sp and srow
    m = mn;
    const int cnt = min(kGenThreads, ke - c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int d = threadIdx.x + j * kGenThreads;
      if (d >= p.Dv) break;
      float acc = o[j] * alpha;
      for (int kk = 0; kk < cnt; ++kk) acc += sp[kk] * to_f32(cache[srow[kk] * p.L + d]);
      o[j] = acc;
    }
  }
  const float inv = 1.f / l;
  if (p.num_splits == 1) {
    TO* out = static_cast<TO*>(p.out) + row * p.Dv;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int d = threadIdx.x + j * kGenThreads;
      if (d < p.Dv) out[d] = from_f32<TO>(o[j] * inv);
    }
  } else {
    float* po = p.part_o + (int64_t(split) * p.T * p.H + row) * p.Dv;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int d = threadIdx.x + j * kGenThreads;
      if (d < p.Dv) po[d] = o[j] * inv;
    }
    if (threadIdx.x == 0) p.part_lse[int64_t(split) * p.T * p.H + row] = m + log2f(l);
  }
}

// Floats before the groups' sums in the combine's shared memory: the S
// weights and S split indices, rounded up to 16 bytes.
__host__ __device__ constexpr int combine_sums_offset(int S) { return (2 * S + 3) / 4 * 4; }

// C blocks per (token, head) row, each over Dv / C of its value dims. G
// groups of threads (blockDim.x / G each) walk the splits g, g + G, ..., each
// thread owning 4 consecutive value dims (16-byte loads, 4 in flight); groups
// 1 .. G-1 then hand their sums to group 0 through shared memory, added in
// group order (the bits depend on S and G only, not on C). Why: one token's
// row has 16 heads under tensor parallelism 8, so batch 1 is 16 rows, and with
// one block of 128 threads a row each thread's walk over S partials is a chain
// of S / 4 L2 round trips on 16 SMs.
// Blocks of up to 1,024 threads (8 groups of 128): at most 64 registers (52
// now). Explicit batches of 8 partial loads in flight took 63 and were
// slower from 32 rows (record 2026-12-07-589e158-combine-lse-registers.md).
template <typename TO>
__global__ void __launch_bounds__(1024)
    mla_combine_kernel(const float* part_o, const float* part_lse, TO* out, int64_t rows, int S, int Dv, int G, int C) {
  pdl_begin();
  // [S] weights, then [S] indices of the non-empty splits in increasing order:
  // decode graphs are captured with the split count of the longest context,
  // so at short contexts most splits are empty, and a loop that tests each
  // split's weight before loading its partial issues one load at a time.
  // Then [G - 1][Dv] the groups' sums, from a 16-byte boundary (float4 stores).
  extern __shared__ __align__(16) float w[];
  int* live = reinterpret_cast<int*>(w + S);
  float* gsum = w + combine_sums_offset(S);
  __shared__ float s_total;
  __shared__ int s_live;
  const int64_t row = blockIdx.x / C;
  const int dc = Dv / C, d_begin = int(blockIdx.x % C) * dc, d_end = d_begin + dc;  // this block's dims
  if (threadIdx.x < 32) {
    // Up to 128 splits the lane's lse values are loaded once, all in flight,
    // and kept in registers for the second pass (the same values in the same
    // order as loading them twice).
    constexpr int kLseRegs = 4;
    float lr[kLseRegs];
#pragma unroll
    for (int k = 0; k < kLseRegs; ++k) {
      const int s = k * 32 + int(threadIdx.x);
      lr[k] = s < S ? part_lse[s * rows + row] : -INFINITY;
    }
    float mx = -INFINITY;
#pragma unroll
    for (int k = 0; k < kLseRegs; ++k) mx = fmaxf(mx, lr[k]);
    for (int s = kLseRegs * 32 + int(threadIdx.x); s < S; s += 32) mx = fmaxf(mx, part_lse[s * rows + row]);
    mx = warp_max(mx);
    float sum = 0.f;
    int base = 0;
    for (int s0 = 0; s0 < S; s0 += 32) {
      const int s = s0 + int(threadIdx.x);
      float lse = -INFINITY;
      if (s0 < kLseRegs * 32) {
#pragma unroll
        for (int k = 0; k < kLseRegs; ++k)
          if (s0 == k * 32) lse = lr[k];
      } else if (s < S) {
        lse = part_lse[s * rows + row];
      }
      const float ws = lse == -INFINITY ? 0.f : exp2f(lse - mx);
      if (s < S) w[s] = ws;
      sum += ws;
      const unsigned ballot = __ballot_sync(0xffffffffu, ws != 0.f);
      if (ws != 0.f) live[base + __popc(ballot & ((1u << threadIdx.x) - 1u))] = s;
      base += __popc(ballot);
    }
    sum = warp_sum(sum);
    if (threadIdx.x == 0) {
      s_total = sum;
      s_live = base;
    }
  }
  __syncthreads();
  const float inv = 1.f / s_total;
  const int nl = s_live;
  const int per = int(blockDim.x) / G, grp = int(threadIdx.x) / per, lt = int(threadIdx.x) % per;
  for (int d0 = d_begin; d0 < d_end; d0 += per * 4) {
    const int d = d0 + lt * 4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (d < d_end) {
#pragma unroll 4
      for (int i = grp; i < nl; i += G) {  // the empty splits' partials were never written
        const int s = live[i];
        const float ws = w[s];
        const float4 v = *reinterpret_cast<const float4*>(part_o + (s * rows + row) * Dv + d);
        acc.x += ws * v.x;
        acc.y += ws * v.y;
        acc.z += ws * v.z;
        acc.w += ws * v.w;
      }
    }
    if (G > 1) {
      if (grp > 0 && d < d_end) *reinterpret_cast<float4*>(gsum + (grp - 1) * dc + (d - d_begin)) = acc;
      __syncthreads();
      if (grp == 0 && d < d_end)
        for (int g = 1; g < G; ++g) {
          const float4 v = *reinterpret_cast<const float4*>(gsum + (g - 1) * dc + (d - d_begin));
          acc.x += v.x;
          acc.y += v.y;
          acc.z += v.z;
          acc.w += v.w;
        }
      __syncthreads();  // gsum is reused by the next d0
    }
    if (grp == 0 && d < d_end) {
      out[row * Dv + d] = from_f32<TO>(acc.x * inv);
      out[row * Dv + d + 1] = from_f32<TO>(acc.y * inv);
      out[row * Dv + d + 2] = from_f32<TO>(acc.z * inv);
      out[row * Dv + d + 3] = from_f32<TO>(acc.w * inv);
    }
  }
}

// Scalar version for value widths that are not a multiple of 4.
template <typename TO>
__global__ void mla_combine_scalar_kernel(const float* part_o, const float* part_lse, TO* out, int64_t rows, int S,
                                          int Dv) {
  pdl_begin();
  for (int d = threadIdx.x; d < Dv; d += blockDim.x) {
    const int64_t row = blockIdx.x;
    float mx = -INFINITY;
    for (int s = 0; s < S; ++s) mx = fmaxf(mx, part_lse[s * rows + row]);
    float acc = 0.f, sum = 0.f;
    for (int s = 0; s < S; ++s) {
      const float lse = part_lse[s * rows + row];
      if (lse == -INFINITY) continue;
      const float ws = exp2f(lse - mx);
      sum += ws;
      acc += ws * part_o[(s * rows + row) * Dv + d];
    }
    out[row * Dv + d] = from_f32<TO>(acc / sum);
  }
}

// The 16-head kernel's shape: DeepSeek-V3's latent, any multiple of 16
// heads, BF16 q and out, a BF16 or FP8 cache.
bool small_supported(const Tensor& q, const Tensor& cache, const Tensor& out, int v_dim) {
  return q.dim(2) == mla::kMmaL && v_dim == mla::kMmaDv && q.dim(1) % mla::kSmallHeads == 0 &&
         q.dtype() == DType::BF16 && (cache.dtype() == DType::BF16 || cache.dtype() == DType::F8_E4M3) &&
         out.dtype() == DType::BF16 && reinterpret_cast<uintptr_t>(q.data()) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(cache.data()) % 16 == 0 && reinterpret_cast<uintptr_t>(out.data()) % 16 == 0;
}

bool mma_supported(const Tensor& q, const Tensor& cache, const Tensor& out, int v_dim) {
  return q.dim(2) == mla::kMmaL && v_dim == mla::kMmaDv && q.dim(1) % mla::kMmaHeads == 0 && q.dtype() == DType::BF16 &&
         (cache.dtype() == DType::BF16 || cache.dtype() == DType::F8_E4M3) && out.dtype() == DType::BF16 &&
         reinterpret_cast<uintptr_t>(q.data()) % 16 == 0 && reinterpret_cast<uintptr_t>(cache.data()) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(out.data()) % 16 == 0;
}

// The least 64-key tiles per split, whatever num_splits (mla_block): 1.
// More lose at batch 1 (record 2026-12-02-d6fd43f-step-skip-and-mla-split-ab.md).
constexpr int kRuleSplitTiles = 1;

TuningValue g_graph_splits{"SABLE_MLA_GRAPH_SPLITS", 1, [](int v) { return v == 0 || v == 1; }};

// The split count of `kernel` for T tokens of H heads, at most max_seq_len /
// min_keys splits (backend/mla_splits.cpp has the shapes, the rule and how it
// was measured; the memory planner counts the partials from the same shapes).
// A graph's metadata bounds the contexts it serves (max_seq_len_bound): one
// count must then suit them all.
int auto_splits(MlaSplitKernel kernel, int64_t T, int64_t H, int max_seq_len, bool bound, int min_tiles,
                int ctas_per_sm = 0) {
  const MlaSplitShape s = mla_split_shape(kernel, T, H, sm_count(), min_tiles, ctas_per_sm);
  return mla_splits_by(s, max_seq_len, bound ? mla_graph_split_rule() : MlaSplitRule::kEager);
}
static_assert(mla::kMmaHeads == 64 && mla::kMmaKeys == 64 && mla::kSmallHeads == 16 && mla::kSmallKeys == 32,
              "mla_split_shape (backend/mla_splits.cpp) assumes these kernel shapes");

// set_mla_split_tiles or SABLE_MLA_SPLIT_TILES: 1..64 forced, 0 the rule.
TuningValue g_split_tiles{"SABLE_MLA_SPLIT_TILES", 0, [](int v) { return v >= 0 && v <= 64; }};

int min_split_tiles() {
  const int forced = g_split_tiles.get();
  return forced > 0 ? forced : kRuleSplitTiles;
}

// kAuto's 16-head kernel up to this many (token, 64-head block) units; 0 by
// default: it only wins at short contexts (measured with a BF16 cache). H200 (record
// 2026-12-04-6306b76-mla-small.md), kernel + combine under graphs, small vs ws:
// batch 1 x 512 keys 10.1 vs 12.9 us, 2 x 512 12.2 vs 13.1, 4 x 512 14.3 vs
// 14.0, 8 x 512 17.4 vs 15.8, but 1 x 4096 21.6 vs 19.8 and 8 x 4096 71 vs
// 34 (each key read from L2 by four times as many CTAs, and a CTA's tiles
// run one after another). A decode graph is captured at the longest context
// the server allows, so a context rule cannot pick per step; the FP8 step at
// context 512 moved by -4 / -25 / -13 / +11 us at batch 1 / 2 / 4 / 8, at
// 8,192 by +12 / +21 / +144 us at batch 1 / 2 / 4.
TuningValue g_small_units{"SABLE_MLA_SMALL_UNITS", 0, [](int v) { return v >= 0 && v <= 4096; }};

// kAuto's kernel for an FP8 cache at 64 heads: 1 the warp-specialized one
// (the CTA widens each e4m3 tile into one BF16 stage), 0 the wgmma one.
// H100, decode 64 x 4096: 201 vs 300 us; 1 x 512: 14.4 vs 16.9; the 4-layer
// FP8 step with an FP8 cache at context 4096 2-3 % faster at batch 32 and 64
// (record bench/results/2026-12-06-mla-fp8-ws.md).
TuningValue g_fp8_ws{"SABLE_MLA_FP8_WS", 1, [](int v) { return v == 0 || v == 1; }};

// Thread groups of the split-K combine (mla_combine_kernel): 1, one thread a
// 4-dim slice walks every split; 2, 4 or 8 groups walk every second, fourth
// or eighth split; 0, the default, by the split count and the rows: from 16
// splits 8 groups for at most 32 (token, head) rows (one or two tokens at 16
// heads), else 4; below 16 splits one (the old order and bits). H100 (records
// bench/results/2026-12-07-e8cc385-combine-default-and-cap64.md and
// 2026-12-07-a839f19-combine-blocks.md): four groups beat one at the rule's
// split counts, 1 x 4096 at 16 heads 11.9 vs 15.5 us; many rows and few
// splits lose with them (16 x 4096 at S 8: 49.7 vs 32.4). Eight beat four
// at 16 and 32 rows (1 x 4096 10.8 vs 11.7 with 4 blocks a row) and lose from
// 64 (4 x 4096 19.5 vs 18.6, 32 x 4096 51.1 vs 46.1).
constexpr int kCombineGroupsFromSplits = 16, kCombineEightGroupsRows = 32;
TuningValue g_combine_groups{"SABLE_MLA_COMBINE_GROUPS", 0,
                             [](int v) { return v == 0 || v == 1 || v == 2 || v == 4 || v == 8; }};

int combine_groups(int splits, int64_t rows) {
  const int g = g_combine_groups.get();
  if (g > 0) return g;
  if (splits < kCombineGroupsFromSplits) return 1;
  return rows <= kCombineEightGroupsRows ? 8 : 4;
}

// Blocks of the split-K combine a (token, head) row, each over 1 / C of the
// value dims: 1, 2 or 4; 0, the default, 4 for at most 64 rows, else 1. Few
// rows (16 at batch 1 under TP 8) then spread their partials' reads over more
// SMs: 1 x 4096 at 16 heads 10.8 vs 11.9 us (8 groups), 4 x 4096 18.6 vs
// 19.5 (4 groups); from 128 rows within +-0.5 us (record
// 2026-12-07-a839f19-combine-blocks.md). The bits do not depend on it.
constexpr int kCombineBlocksRows = 64;
TuningValue g_combine_blocks{"SABLE_MLA_COMBINE_BLOCKS", 0, [](int v) { return v == 0 || v == 1 || v == 2 || v == 4; }};

// The blocks a row for Dv value dims: a block's share must be whole 4-dim slices.
int combine_blocks(int v_dim, int64_t rows) {
  int c = g_combine_blocks.get();
  if (c == 0) c = rows <= kCombineBlocksRows ? 4 : 1;
  return v_dim % (4 * c) == 0 ? c : 1;
}

}  // namespace

bool set_mla_graph_splits(int mode) { return g_graph_splits.set(mode); }
MlaSplitRule mla_graph_split_rule() { return g_graph_splits.get() == 1 ? MlaSplitRule::kGraph : MlaSplitRule::kEager; }
bool set_mla_split_tiles(int tiles) { return g_split_tiles.set(tiles); }
bool set_mla_small_units(int units) { return g_small_units.set(units); }
bool set_mla_fp8_ws(int on) { return g_fp8_ws.set(on); }
int mla_fp8_ws() { return g_fp8_ws.get(); }
bool set_mla_combine_groups(int groups) { return g_combine_groups.set(groups); }
bool set_mla_combine_blocks(int blocks) { return g_combine_blocks.set(blocks); }
int mla_small_ctas_per_sm(bool fp8_cache) { return mla::small_ctas_per_sm(fp8_cache); }

MlaPlan mla_plan(MlaKernel kernel, int num_splits, const Tensor& q, const Tensor& cache, const AttentionMetadata& m,
                 int v_dim, const Tensor& out) {
  const int64_t T = q.dim(0), H = q.dim(1);
  const bool mma_ok = mma_supported(q, cache, out, v_dim);
  const bool small_ok = small_supported(q, cache, out, v_dim);
  const bool fp8_cache = cache.dtype() == DType::F8_E4M3;
  // wgmma: same results as mma.sync (tests), 1.36x faster prefill, equal decode (H200, 2026-11-30).
  // ws: the warp-specialized kernel (FP8 caches too, by mla-fp8-ws). small: few rows, or heads
  // not a multiple of 64; never chosen by row count in batch-invariant mode
  // (a row's kernel, and so its bits, would depend on the batch).
  if (kernel == MlaKernel::kAuto) {
    const int64_t units64 = T * (H / mla::kMmaHeads);
    if (small_ok && (!mma_ok || (!batch_invariant() && units64 <= g_small_units.get())))
      kernel = MlaKernel::kSmall;
    else
      kernel = !mma_ok ? MlaKernel::kGeneric : fp8_cache && g_fp8_ws.get() == 0 ? MlaKernel::kWgmma : MlaKernel::kWs;
  }
  const bool small = kernel == MlaKernel::kSmall;
  const bool mma = kernel == MlaKernel::kMma || kernel == MlaKernel::kWgmma || kernel == MlaKernel::kWs;
  if (mma && !mma_ok)
    throw std::runtime_error(
        "CUDA mla_attention: the tensor-core kernel needs L 576, v_dim 512, heads % 64, BF16 q/out, a BF16 or FP8 "
        "cache");
  if (small && !small_ok)
    throw std::runtime_error(
        "CUDA mla_attention: the 16-head kernel needs L 576, v_dim 512, heads % 16, BF16 q/out, a BF16 or FP8 "
        "cache");
  if (kernel == MlaKernel::kGeneric && v_dim > kGenMaxDv)
    throw std::runtime_error("CUDA mla_attention: v_dim too large for the generic kernel");
  if (T == 0) return {kernel, 1};

  // Batch-invariant mode: never split a row's keys (the split count would
  // depend on how many rows share the call, and so would the summation order).
  int S = num_splits;
  if (S <= 0) {
    const int len = std::max(1, m.max_seq_len);
    if (batch_invariant())
      S = 1;
    else
      S = auto_splits(small ? MlaSplitKernel::kSmall
                      : mma ? MlaSplitKernel::kTensorCore
                            : MlaSplitKernel::kGeneric,
                      T, H, len, m.max_seq_len_bound, min_split_tiles(),
                      // The 16-head kernel's slots are what it fits an SM (2 or 3), at
                      // most what the memory planner sized partials for.
                      small ? std::clamp(mla_small_ctas_per_sm(fp8_cache), 1, kMlaSmallMaxCtasPerSm) : 0);
  }
  return {kernel, S};
}

void mla_attention_with(MlaKernel kernel_choice, int num_splits, const Tensor& q, const Tensor& cache,
                        const AttentionMetadata& m, float softmax_scale, int v_dim, Tensor& out, Allocator& scratch,
                        cudaStream_t stream) {
  const int64_t T = q.dim(0), H = q.dim(1), L = q.dim(2);
  assert(cache.dim(2) == L && out.dim(0) == T && out.dim(1) == H && out.dim(2) == v_dim);
  if (T == 0) return;
  const MlaPlan plan = mla_plan(kernel_choice, num_splits, q, cache, m, v_dim, out);
  const MlaKernel kernel = plan.kernel;
  const int S = plan.splits;
  const bool small = kernel == MlaKernel::kSmall, fp8_cache = cache.dtype() == DType::F8_E4M3;
  const bool mma = kernel == MlaKernel::kMma || kernel == MlaKernel::kWgmma || kernel == MlaKernel::kWs;

  MlaArgs a{};
  a.q = q.data();
  a.cache = cache.data();
  a.out = out.data();
  a.positions = m.positions.ptr<int32_t>();
  a.token_seq = m.token_seq.ptr<int32_t>();
  a.block_tables = m.block_tables.ptr<int32_t>();
  a.T = int(T);
  a.H = int(H);
  a.L = int(L);
  a.Dv = v_dim;
  a.max_blocks = m.max_blocks;
  a.block_size = int(cache.dim(1));
  a.num_splits = S;
  a.min_split_tiles = min_split_tiles();
  a.scale_log2 = softmax_scale * 1.4426950408889634f;

  Tensor part_o, part_lse;
  if (S > 1) {
    part_o = Tensor::empty(DType::F32, {S, T, H, v_dim}, scratch);
    part_lse = Tensor::empty(DType::F32, {S, T, H}, scratch);
    a.part_o = part_o.ptr<float>();
    a.part_lse = part_lse.ptr<float>();
  }

  if (small) {
    mla::launch_small(a, fp8_cache, stream);
  } else if (mma) {
    if (kernel == MlaKernel::kWs)
      mla::launch_ws(a, fp8_cache, stream);
    else
      mla::launch_mma(a, kernel == MlaKernel::kWgmma, fp8_cache, stream);
  } else {
    const size_t smem = size_t(L) * 4 + kGenThreads * 4 + kGenThreads * 8 + 33 * 4;
    if (smem > 48 * 1024) throw std::runtime_error("CUDA mla_attention: latent too wide for the generic kernel");
    const unsigned blocks = unsigned(T * H * S);
    SABLE_DISPATCH_ACT("mla_attention", q.dtype(), TQ, {
      SABLE_DISPATCH_FLOAT("mla_attention", cache.dtype(), TC, {
        SABLE_DISPATCH_ACT("mla_attention", out.dtype(), TO, {
          launch_pdl(mla_generic_kernel<TQ, TC, TO>, blocks, kGenThreads, smem, stream, a);
          SABLE_CUDA_LAUNCH_CHECK();
        });
      });
    });
  }
  if (S > 1 && !skipped(kSkipCombine)) {
    SABLE_DISPATCH_ACT("mla_attention", out.dtype(), TO, {
      if (v_dim % 4 == 0) {
        const int G = combine_groups(S, T * H), C = combine_blocks(v_dim, T * H);
        const int per = std::min(128, std::max(32, (v_dim / C / 4 + 31) / 32 * 32));  // threads a group
        launch_pdl(mla_combine_kernel<TO>, unsigned(T * H * C), per * G,
                   (size_t(combine_sums_offset(S)) + size_t(G - 1) * (v_dim / C)) * 4, stream, part_o.ptr<float>(),
                   part_lse.ptr<float>(), out.ptr<TO>(), T * H, S, v_dim, G, C);
      } else
        launch_pdl(mla_combine_scalar_kernel<TO>, unsigned(T * H), 64, 0, stream, part_o.ptr<float>(),
                   part_lse.ptr<float>(), out.ptr<TO>(), T * H, S, v_dim);
      SABLE_CUDA_LAUNCH_CHECK();
    });
  }
}

void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float softmax_scale, int v_dim,
                   Tensor& out, Allocator& scratch, cudaStream_t stream) {
  mla_attention_with(MlaKernel::kAuto, 0, q, cache, m, softmax_scale, v_dim, out, scratch, stream);
}

namespace {
// Eight bytes a thread (n is a multiple of 8).
__global__ void widen_e4m3_kernel(const uint2* src, uint4* dst, int64_t chunks) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < chunks) dst[i] = mla::e4m3x8_to_bf16x8(src[i]);
}
}  // namespace

void mla_widen_e4m3(const uint8_t* src, uint16_t* dst, int64_t n, cudaStream_t stream) {
  assert(n % 8 == 0);
  const int64_t chunks = n / 8;
  if (chunks == 0) return;
  widen_e4m3_kernel<<<unsigned((chunks + 255) / 256), 256, 0, stream>>>(reinterpret_cast<const uint2*>(src),
                                                                        reinterpret_cast<uint4*>(dst), chunks);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
