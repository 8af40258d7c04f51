// GPU sampling, one 1024-thread block a row: the first sampler, which
// sample() takes beyond 64 rows (faster there than the split sampler of
// sampling.cu for greedy and temperature draws) and for every row count
// under knob sampling-split=0. A row of V = 129,280 floats is streamed by
// one SM once for greedy rows and once more per filter pass (top-k and
// top-p are radix selections over the ordered float bits, 4 passes of 8
// bits each), bound by that SM's load latency.
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/sampling.h"
#include "backend/cuda/sampling_common.cuh"

namespace sable::cuda {
namespace {
using namespace sampling_detail;

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

__device__ int row_argmax(const float* row, int V, ArgScratch<kWarps>& s) {
  float bv = 0.f;
  int bi = -1;
  for (int i = threadIdx.x; i < V; i += kThreads) {
    const float v = row[i];
    if (v != v) continue;
    if (arg_better(v, i, bv, bi)) {
      bv = v;
      bi = i;
    }
  }
  block_argmax(bv, bi, s);
  return bi;
}

struct SampleSmem {
  ArgScratch<kWarps> arg;
  float red[33];
  int hist[256];
  unsigned long long mass[256];
  uint32_t digit;
  unsigned long long above;
  int k_rem;
  int total;
  unsigned long long zq;  // a draft's acceptance mass
};

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* logits, int V, SamplingParams p, int32_t* out) {
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
        const unsigned long long q = mass_q(x_of(v));
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
  float bv = 0.f;
  unsigned long long z = 0;  // fixed point (mass_q): the same sum in any order
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
      if (draft >= 0) z += mass_q(x_of(v));
      if (i == draft) continue;
      const float s = x_of(v) + gumbel(rr[j]);
      if (arg_better(s, i, bv, bi)) {
        bv = s;
        bi = i;
      }
    }
  }
  block_argmax(bv, bi, sm.arg);
  if (draft >= 0) z = block_sum_q(z, sm.zq);
  if (threadIdx.x == 0) {
    int t = bi < 0 ? 0 : bi;
    if (draft >= 0 && accept_draft(key, step, survives(l[draft]) ? mass_q(x_of(l[draft])) : 0ull, z)) t = draft;
    out[row] = t;
  }
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int V, int32_t* out) {
  __shared__ ArgScratch<kWarps> s;
  const int i = row_argmax(logits + int64_t(blockIdx.x) * V, V, s);
  if (threadIdx.x == 0) out[blockIdx.x] = i < 0 ? 0 : i;
}

}  // namespace

void sample_one_block_per_row(const Tensor& logits, const SamplingParams& p, Tensor& out, cudaStream_t stream) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  if (p.temperature && p.any_random) {
    sample_kernel<<<unsigned(N), kThreads, 0, stream>>>(logits.ptr<float>(), int(V), p, out.ptr<int32_t>());
  } else {
    argmax_kernel<<<unsigned(N), kThreads, 0, stream>>>(logits.ptr<float>(), int(V), out.ptr<int32_t>());
  }
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
