// GPU sampling: see sampling.h for the contract. One 1024-thread block per
// row; the row (V = 129,280 floats = 517 KB) is streamed from L2/HBM once for
// greedy rows, and once more per filter pass otherwise (top-k and top-p are
// radix selections over the ordered float bits, 4 passes of 8 bits each).
#include <cassert>
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/sampling.h"

namespace sable::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// Order-preserving map of a float to uint32 (larger float, larger key). NaN
// maps to 0, below every number.
__device__ __forceinline__ uint32_t order_key(float f) {
  if (f != f) return 0u;
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// a better than b: larger value, ties toward lower index; index < 0 = none.
__device__ __forceinline__ bool arg_better(float av, int ai, float bv, int bi) {
  if (ai < 0) return false;
  if (bi < 0) return true;
  return av > bv || (av == bv && ai < bi);
}

struct ArgScratch {
  float v[kWarps];
  int i[kWarps];
  int result;
};

// Block-wide argmax of (v, i) pairs; every thread gets the index (or -1).
__device__ int block_argmax(float v, int i, ArgScratch& s) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (arg_better(ov, oi, v, i)) { v = ov; i = oi; }
  }
  __syncthreads();
  if (lane == 0) { s.v[warp] = v; s.i[warp] = i; }
  __syncthreads();
  if (warp == 0) {
    v = s.v[lane];
    i = s.i[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, i, o);
      if (arg_better(ov, oi, v, i)) { v = ov; i = oi; }
    }
    if (lane == 0) s.result = i;
  }
  __syncthreads();
  return s.result;
}

__device__ int row_argmax(const float* row, int V, ArgScratch& s) {
  float bv = 0.f;
  int bi = -1;
  for (int i = threadIdx.x; i < V; i += kThreads) {
    const float v = row[i];
    if (v != v) continue;
    if (arg_better(v, i, bv, bi)) { bv = v; bi = i; }
  }
  return block_argmax(bv, bi, s);
}

// Philox4x32-10 (Salmon et al., SC'11).
__device__ __forceinline__ uint4 philox4x32(uint4 c, uint2 k) {
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
    const uint32_t lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
    c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k.x += 0x9E3779B9u;
    k.y += 0xBB67AE85u;
  }
  return c;
}
// Uniform in (0, 1), 24 bits, never 0 or 1 (so the Gumbel transform is finite).
__device__ __forceinline__ float unit_open(uint32_t x) { return (float(x >> 8) + 0.5f) * (1.f / 16777216.f); }
__device__ __forceinline__ float gumbel(uint32_t x) { return -logf(-logf(unit_open(x))); }

struct SampleSmem {
  ArgScratch arg;
  float red[33];
  int hist[256];
  unsigned long long mass[256];
  uint32_t digit;
  unsigned long long above;
  int k_rem;
  int total;
};

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* logits, int V, SamplingParams p,
                                                          int32_t* out) {
  __shared__ SampleSmem sm;
  const int row = blockIdx.x;
  const float* l = logits + int64_t(row) * V;
  const float temp = p.temperature ? p.temperature[row] : 0.f;
  const int top_k = p.top_k ? p.top_k[row] : 0;
  if (!(temp > 0.f) || top_k == 1) {
    const int i = row_argmax(l, V, sm.arg);
    if (threadIdx.x == 0) out[row] = i < 0 ? 0 : i;
    return;
  }
  const float top_p = p.top_p ? p.top_p[row] : 1.f;
  const float min_p = p.min_p ? p.min_p[row] : 0.f;
  const float inv_t = 1.f / temp;

  // Max logit: x_i = (l_i - max) * inv_t <= 0.
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += kThreads) mx = fmaxf(mx, l[i]);  // fmaxf drops NaN
  {
    mx = warp_max(mx);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sm.red[threadIdx.x >> 5] = mx;
    __syncthreads();
    float t = (threadIdx.x & 31) < kWarps ? sm.red[threadIdx.x & 31] : -INFINITY;
    mx = warp_max(t);
  }
  const float log_min_p = min_p > 0.f ? logf(min_p) : -INFINITY;
  auto x_of = [&](float v) { return (v - mx) * inv_t; };
  auto kept0 = [&](float v) { return v == v && x_of(v) >= log_min_p; };

  // ---- top-k: radix-select the k-th largest key among min-p survivors ----
  uint32_t thr = 0;
  if (top_k > 0 && top_k < V) {
    uint32_t prefix = 0, mask = 0;
    if (threadIdx.x == 0) sm.k_rem = top_k;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int d = threadIdx.x; d < 256; d += kThreads) sm.hist[d] = 0;
      __syncthreads();
      for (int i = threadIdx.x; i < V; i += kThreads) {
        const float v = l[i];
        if (!kept0(v)) continue;
        const uint32_t key = order_key(v);
        if ((key & mask) == prefix) atomicAdd(&sm.hist[(key >> shift) & 255u], 1);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        int cum = 0, d = 255;
        if (shift == 24) {
          int tot = 0;
          for (int j = 0; j < 256; ++j) tot += sm.hist[j];
          sm.total = tot;
        }
        for (; d > 0; --d) {
          if (cum + sm.hist[d] >= sm.k_rem) break;
          cum += sm.hist[d];
        }
        sm.k_rem -= cum;
        sm.digit = uint32_t(d);
      }
      __syncthreads();
      if (shift == 24 && sm.total <= top_k) break;  // fewer survivors than k: top-k is a no-op
      prefix |= sm.digit << shift;
      mask |= 255u << shift;
      __syncthreads();
    }
    if (mask == 0xffffffffu) thr = prefix;
  }

  // ---- top-p: radix-select by probability mass (fixed point, 2^-32 units) ----
  if (top_p < 1.f) {
    uint32_t prefix = 0, mask = 0;
    unsigned long long target = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int d = threadIdx.x; d < 256; d += kThreads) sm.mass[d] = 0ull;
      __syncthreads();
      for (int i = threadIdx.x; i < V; i += kThreads) {
        const float v = l[i];
        if (!kept0(v)) continue;
        const uint32_t key = order_key(v);
        if (key < thr || (key & mask) != prefix) continue;
        const unsigned long long q = __float2ull_rn(expf(x_of(v)) * 4294967296.f);
        if (q) atomicAdd(&sm.mass[(key >> shift) & 255u], q);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        if (shift == 24) {
          unsigned long long z = 0;
          for (int j = 0; j < 256; ++j) z += sm.mass[j];
          target = (unsigned long long)(double(top_p) * double(z));
          if (target == 0) target = 1;
          sm.above = 0;
        }
        int d = 255;
        unsigned long long above = sm.above;
        for (; d > 0; --d) {
          if (above + sm.mass[d] >= target) break;
          above += sm.mass[d];
        }
        sm.above = above;
        sm.digit = uint32_t(d);
      }
      __syncthreads();
      prefix |= sm.digit << shift;
      mask |= 255u << shift;
    }
    thr = max(thr, prefix);
  }

  // ---- the draw: Gumbel-max over the survivors ----
  // With a draft d: the draw leaves d out (the residual distribution) and
  // the survivors' mass z is summed on the way, for d's acceptance.
  const uint2 key = p.seed ? make_uint2(uint32_t(p.seed[row]), uint32_t(p.seed[row] >> 32)) : make_uint2(0u, 0u);
  const uint64_t step = p.step ? uint64_t(p.step[row]) : 0ull;
  const int draft = p.draft && p.draft[row] >= 0 && p.draft[row] < V ? p.draft[row] : -1;
  auto survives = [&](float v) { return kept0(v) && order_key(v) >= thr; };
  float bv = 0.f, z = 0.f;
  int bi = -1;
  for (int g = threadIdx.x; g * 4 < V; g += kThreads) {
    const uint4 r = philox4x32(make_uint4(uint32_t(g), uint32_t(step), uint32_t(step >> 32), 0x5AB1Eu), key);
    const uint32_t rr[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int i = g * 4 + j;
      if (i >= V) break;
      const float v = l[i];
      if (!survives(v)) continue;
      if (draft >= 0) z += expf(x_of(v));
      if (i == draft) continue;
      const float s = x_of(v) + gumbel(rr[j]);
      if (arg_better(s, i, bv, bi)) { bv = s; bi = i; }
    }
  }
  const int i = block_argmax(bv, bi, sm.arg);
  if (draft >= 0) z = block_sum(z, sm.red);
  if (threadIdx.x == 0) {
    int t = i < 0 ? 0 : i;
    if (draft >= 0) {
      // Accept d with probability p(d) = exp(x_d) / z: a uniform from a
      // counter the Gumbel draws never use (4th word).
      const float pd = survives(l[draft]) ? expf(x_of(l[draft])) : 0.f;
      const uint4 r = philox4x32(make_uint4(0xFFFFFFFFu, uint32_t(step), uint32_t(step >> 32), 0xACCE7u), key);
      if (unit_open(r.x) * z < pd) t = draft;
    }
    out[row] = t;
  }
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int V, int32_t* out) {
  __shared__ ArgScratch s;
  const int i = row_argmax(logits + int64_t(blockIdx.x) * V, V, s);
  if (threadIdx.x == 0) out[blockIdx.x] = i < 0 ? 0 : i;
}

__device__ __forceinline__ bool penalties_on(const PenaltyParams& p, int row) {
  return (p.repetition && p.repetition[row] != 1.f) || (p.presence && p.presence[row] != 0.f) ||
         (p.frequency && p.frequency[row] != 0.f);
}

// Pass 1: count[id] = 2 * (occurrences in the output) + (seen in the prompt).
__global__ void penalty_count_kernel(int V, PenaltyParams p, int32_t* counts) {
  const int row = blockIdx.x;
  if (!penalties_on(p, row)) return;
  int32_t* c = counts + int64_t(row) * V;
  if (p.prompt_ids)
    for (int j = p.prompt_offsets[row] + threadIdx.x; j < p.prompt_offsets[row + 1]; j += blockDim.x) {
      const int id = p.prompt_ids[j];
      if (id >= 0 && id < V) atomicOr(&c[id], 1);
    }
  if (p.output_ids)
    for (int j = p.output_offsets[row] + threadIdx.x; j < p.output_offsets[row + 1]; j += blockDim.x) {
      const int id = p.output_ids[j];
      if (id >= 0 && id < V) atomicAdd(&c[id], 2);
    }
}

// Pass 2: the first occurrence to reach a token (atomicExch) applies its
// penalties once and clears the count, leaving the table at zero.
__global__ void penalty_apply_kernel(float* logits, int V, PenaltyParams p, int32_t* counts) {
  const int row = blockIdx.x;
  if (!penalties_on(p, row)) return;
  int32_t* c = counts + int64_t(row) * V;
  float* l = logits + int64_t(row) * V;
  const float rep = p.repetition ? p.repetition[row] : 1.f;
  const float pres = p.presence ? p.presence[row] : 0.f;
  const float freq = p.frequency ? p.frequency[row] : 0.f;
  auto apply = [&](int id) {
    if (id < 0 || id >= V) return;
    const int v = atomicExch(&c[id], 0);
    if (v == 0) return;
    float x = l[id];
    if (rep != 1.f) x = x > 0.f ? x / rep : x * rep;
    const int occ = v >> 1;
    if (occ > 0) x -= freq * float(occ) + pres;
    l[id] = x;
  };
  if (p.prompt_ids)
    for (int j = p.prompt_offsets[row] + threadIdx.x; j < p.prompt_offsets[row + 1]; j += blockDim.x)
      apply(p.prompt_ids[j]);
  if (p.output_ids)
    for (int j = p.output_offsets[row] + threadIdx.x; j < p.output_offsets[row + 1]; j += blockDim.x)
      apply(p.output_ids[j]);
}

}  // namespace

SamplingWorkspace::SamplingWorkspace(Allocator& alloc, int max_rows, int vocab, cudaStream_t stream)
    : counts_(Tensor::empty(DType::I32, {max_rows, vocab}, alloc)), max_rows_(max_rows), vocab_(vocab) {
  SABLE_CUDA_CHECK(cudaMemsetAsync(counts_.data(), 0, counts_.nbytes(), stream));
}

void apply_penalties(Tensor& logits, const PenaltyParams& p, SamplingWorkspace& ws, cudaStream_t stream) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  if (logits.dtype() != DType::F32 || N > ws.max_rows() || V != ws.vocab())
    throw std::runtime_error("CUDA apply_penalties: logits must be F32 [N <= max_rows, vocab]");
  if (N == 0 || (!p.repetition && !p.presence && !p.frequency)) return;
  penalty_count_kernel<<<unsigned(N), 256, 0, stream>>>(int(V), p, ws.counts());
  SABLE_CUDA_LAUNCH_CHECK();
  penalty_apply_kernel<<<unsigned(N), 256, 0, stream>>>(logits.ptr<float>(), int(V), p, ws.counts());
  SABLE_CUDA_LAUNCH_CHECK();
}

void argmax(const Tensor& logits, Tensor& out, cudaStream_t stream) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  if (logits.dtype() != DType::F32 || out.dtype() != DType::I32 || out.numel() != N)
    throw std::runtime_error("CUDA argmax: logits F32 [N, V], out I32 [N]");
  if (N == 0) return;
  argmax_kernel<<<unsigned(N), kThreads, 0, stream>>>(logits.ptr<float>(), int(V), out.ptr<int32_t>());
  SABLE_CUDA_LAUNCH_CHECK();
}

void sample(const Tensor& logits, const SamplingParams& p, Tensor& out, cudaStream_t stream) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  if (logits.dtype() != DType::F32 || out.dtype() != DType::I32 || out.numel() != N)
    throw std::runtime_error("CUDA sample: logits F32 [N, V], out I32 [N]");
  if (N == 0) return;
  sample_kernel<<<unsigned(N), kThreads, 0, stream>>>(logits.ptr<float>(), int(V), p, out.ptr<int32_t>());
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
