// GPU sampling: see sampling.h for the contract.
//
// Each row is cut into chunks of kChunk logits and every kernel runs one
// 256-thread block per (chunk, row), so that a row is read by many SMs at
// once: one block per row (the first version) was bound by one SM's load
// latency, ~127 dependent L2 round trips a thread per pass over the
// 129,280-entry vocabulary, for every pass. A kernel's blocks leave their
// partial (a max, an argmax, a histogram) in the scratch, and the row's
// last block to arrive (a counter) folds them: the row's max, a radix digit
// of the top-k / top-p threshold, or the token. The chunking depends on V
// only, and every fold is exact in any order (max, argmax with
// lowest-index ties, integer histograms, fixed-point masses), so a row's
// token does not depend on the batch it shares.
//
// Kernels, in order: row max (rows that draw); 4 top-k passes (8 bits each)
// and 4 top-p passes (rows with those filters); the draw (every row: greedy
// rows take the argmax, the others Gumbel-max over the survivors).
#include <cassert>
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/sampling.h"
#include "backend/cuda/sampling_common.cuh"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {
namespace {
using namespace sampling_detail;

// Knob "sampling-split" (SABLE_SAMPLING_SPLIT): 0 the one-block-a-row
// sampler; 1 (the default) the split kernels below up to kSplitMaxRows
// rows, one block a row beyond (H100, record 2026-12-06-h100-knobs-on:
// split 4.3x faster at 1 row, 1.3-1.6x at 64; at 256, 8 % slower for an
// argmax, 19 % faster with top-k and top-p); 2 always split (tests,
// benchmarks). Both samplers give every row the same token (exact folds),
// so the choice by row count keeps a row's token independent of its batch.
TuningValue g_split{"SABLE_SAMPLING_SPLIT", 1, [](int v) { return v >= 0 && v <= 2; }};
constexpr int64_t kSplitMaxRows = 64;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kGroups = 4;                      // groups of 4 consecutive logits a thread
constexpr int kChunk = kThreads * kGroups * 4;  // 4,096 logits a block

// ---- the scratch (sample_scratch_bytes): per row a state, a 256-bin count
// and mass histogram, and one partial per chunk ----
struct RowState {
  float mx;                   // the row's max logit (row_max_kernel)
  uint32_t thr;               // survivors have order_key >= thr (top-k, then top-p)
  uint32_t k_prefix, k_mask;  // top-k radix progress
  int k_rem;
  int k_off;                         // top-k keeps everything (fewer survivors than k)
  uint32_t p_prefix, p_mask;         // top-p radix progress
  unsigned long long target, above;  // top-p mass target and the mass above the digit
  unsigned int arrived;              // blocks of the current kernel done (the last resets it)
  uint32_t pad[3];
};
static_assert(sizeof(RowState) == 64, "RowState is 64 bytes");

struct Partial {
  float v;               // max, or the argmax's value
  int i;                 // the argmax's index (-1: none)
  unsigned long long z;  // the draft's mass (mass_q)
};

struct Scratch {
  RowState* state;           // [N]
  int* hist;                 // [N, 256]
  unsigned long long* mass;  // [N, 256]
  Partial* part;             // [N, S]
};

Scratch scratch_of(void* base, int64_t N, int64_t S) {
  auto* b = static_cast<char*>(base);
  Scratch s;
  s.state = reinterpret_cast<RowState*>(b);
  b += N * int64_t(sizeof(RowState));
  s.mass = reinterpret_cast<unsigned long long*>(b);
  b += N * 256 * int64_t(sizeof(unsigned long long));
  s.hist = reinterpret_cast<int*>(b);
  b += N * 256 * int64_t(sizeof(int));
  s.part = reinterpret_cast<Partial*>(b);
  return s;
}
int64_t chunks_of(int64_t V) { return (V + kChunk - 1) / kChunk; }

// A row's parameters and which stages it takes.
struct Row {
  float temp, top_p, min_p, inv_t;
  int top_k;
  bool greedy, top_k_on, top_p_on;
};
__device__ __forceinline__ Row row_of(const SamplingParams& p, int row, int V) {
  Row r;
  r.temp = p.temperature ? p.temperature[row] : 0.f;
  r.top_k = p.top_k ? p.top_k[row] : 0;
  r.top_p = p.top_p ? p.top_p[row] : 1.f;
  r.min_p = p.min_p ? p.min_p[row] : 0.f;
  r.greedy = !(r.temp > 0.f) || r.top_k == 1;
  r.inv_t = r.greedy ? 0.f : 1.f / r.temp;
  r.top_k_on = !r.greedy && r.top_k > 0 && r.top_k < V;
  r.top_p_on = !r.greedy && r.top_p < 1.f;
  return r;
}

// The block's chunk: thread t holds logits c0 + 4 (k kThreads + t) + j,
// k < kGroups, j < 4 (groups of 4 consecutive logits: one Philox draw
// each, and one 16-byte load when the row is 16-byte aligned: 1.5-1.7x
// faster at 64 and 256 rows on an H100 than 4-byte loads, record
// 2026-12-06-h100-knobs-on). All loads are issued before any is used;
// past the row: NaN.
struct Chunk {
  float v[kGroups][4];
  int c0;
  __device__ __forceinline__ int index(int k, int j) const { return c0 + 4 * (k * kThreads + int(threadIdx.x)) + j; }
};
__device__ __forceinline__ Chunk load_chunk(const float* l, int V, int chunk) {
  Chunk c;
  c.c0 = chunk * kChunk;
  const bool vec = (V & 3) == 0 && (reinterpret_cast<uintptr_t>(l) & 15) == 0;
#pragma unroll
  for (int k = 0; k < kGroups; ++k) {
    const int i0 = c.index(k, 0);
    if (vec && i0 < V) {  // V % 4 == 0: the whole group is in the row
      const float4 q = __ldg(reinterpret_cast<const float4*>(l + i0));
      c.v[k][0] = q.x;
      c.v[k][1] = q.y;
      c.v[k][2] = q.z;
      c.v[k][3] = q.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) c.v[k][j] = i0 + j < V ? __ldg(l + i0 + j) : __int_as_float(0x7fffffff);
    }
  }
  return c;
}

// Called by every thread after the block's partial is written: true in the
// row's last block to arrive, which then sees every other block's writes.
__device__ bool arrive_last(RowState& st, int S) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last = atomicAdd(&st.arrived, 1u) == unsigned(S - 1);
    if (last) st.arrived = 0;  // every block of the row has arrived: ready for the next kernel
  }
  __syncthreads();
  if (last) __threadfence();
  return last;
}

// min-p (and NaN): x = (v - max) / T >= log(min_p).
struct Keep {
  float mx, inv_t, log_min_p;
  __device__ __forceinline__ float x(float v) const { return (v - mx) * inv_t; }
  __device__ __forceinline__ bool operator()(float v) const { return v == v && x(v) >= log_min_p; }
};
__device__ __forceinline__ Keep keep_of(const Row& r, const RowState& st) {
  return Keep{st.mx, r.inv_t, r.min_p > 0.f ? logf(r.min_p) : -INFINITY};
}

__global__ void __launch_bounds__(kThreads)
    row_max_kernel(const float* logits, int V, int S, SamplingParams p, Scratch s) {
  __shared__ float red[33];
  const int chunk = blockIdx.x, row = blockIdx.y;
  if (row_of(p, row, V).greedy) return;
  const Chunk c = load_chunk(logits + int64_t(row) * V, V, chunk);
  float m = -INFINITY;
#pragma unroll
  for (int k = 0; k < kGroups; ++k)
#pragma unroll
    for (int j = 0; j < 4; ++j) m = fmaxf(m, c.v[k][j]);  // fmaxf drops NaN
  m = block_max(m, red);
  Partial* part = s.part + int64_t(row) * S;
  if (threadIdx.x == 0) part[chunk].v = m;
  if (!arrive_last(s.state[row], S)) return;
  if (threadIdx.x < 32) {
    float t = -INFINITY;
    for (int q = int(threadIdx.x); q < S; q += 32) t = fmaxf(t, __ldcg(&part[q].v));
    t = warp_max(t);
    if (threadIdx.x == 0) s.state[row].mx = t;
  }
}

// The row's histogram over 256 digits ((key >> shift) & 255) of what
// take(v, key) gives each logit of the chunk (0: nothing): the block's bins
// in shared memory, added into the row's global bins g. True in the row's
// last block, whose hist then holds the row's totals; g is cleared for the
// next pass.
template <typename T, typename Take>
__device__ bool row_histogram(const Chunk& c, int shift, Take take, T* hist, T* g, RowState& st, int S) {
  for (int d = threadIdx.x; d < 256; d += kThreads) hist[d] = T(0);
  __syncthreads();
#pragma unroll
  for (int k = 0; k < kGroups; ++k)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float v = c.v[k][j];
      const uint32_t key = order_key(v);
      const T x = take(v, key);
      if (x) atomicAdd(&hist[(key >> shift) & 255u], x);
    }
  __syncthreads();
  for (int d = threadIdx.x; d < 256; d += kThreads)
    if (hist[d]) atomicAdd(&g[d], hist[d]);
  if (!arrive_last(st, S)) return false;
  for (int d = threadIdx.x; d < 256; d += kThreads) {
    hist[d] = __ldcg(&g[d]);
    g[d] = T(0);
  }
  __syncthreads();
  return true;
}

// One 8-bit digit of the top-k threshold: the k-th largest key among the
// min-p survivors, most significant digit first (shift 24, 16, 8, 0).
__global__ void __launch_bounds__(kThreads)
    top_k_pass_kernel(const float* logits, int V, int S, SamplingParams p, Scratch s, int shift) {
  __shared__ int hist[256];
  const int chunk = blockIdx.x, row = blockIdx.y;
  const Row r = row_of(p, row, V);
  if (!r.top_k_on) return;
  RowState& st = s.state[row];
  if (st.k_off) return;  // decided by the first pass: the same for every block of the row
  const uint32_t prefix = st.k_prefix, mask = st.k_mask;
  const Keep keep = keep_of(r, st);
  const Chunk c = load_chunk(logits + int64_t(row) * V, V, chunk);
  auto take = [&](float v, uint32_t key) { return keep(v) && (key & mask) == prefix ? 1 : 0; };
  if (!row_histogram(c, shift, take, hist, s.hist + int64_t(row) * 256, st, S)) return;
  if (threadIdx.x != 0) return;
  int k_rem = shift == 24 ? r.top_k : st.k_rem;
  if (shift == 24) {
    int total = 0;
    for (int d = 0; d < 256; ++d) total += hist[d];
    if (total <= r.top_k) {  // fewer survivors than k: top-k is a no-op
      st.k_off = 1;
      return;
    }
  }
  int cum = 0, d = 255;
  for (; d > 0; --d) {
    if (cum + hist[d] >= k_rem) break;
    cum += hist[d];
  }
  st.k_rem = k_rem - cum;
  st.k_prefix = prefix | (uint32_t(d) << shift);
  st.k_mask = mask | (255u << shift);
  if (shift == 0) st.thr = st.k_prefix;
}

// One 8-bit digit of the top-p threshold: the smallest key whose survivors
// at or above it hold top_p of the mass (fixed point, 2^-32 units, so that
// the sums are exact in any order).
__global__ void __launch_bounds__(kThreads)
    top_p_pass_kernel(const float* logits, int V, int S, SamplingParams p, Scratch s, int shift) {
  __shared__ unsigned long long mass[256];
  const int chunk = blockIdx.x, row = blockIdx.y;
  const Row r = row_of(p, row, V);
  if (!r.top_p_on) return;
  RowState& st = s.state[row];
  const uint32_t thr = st.thr, prefix = st.p_prefix, mask = st.p_mask;
  const Keep keep = keep_of(r, st);
  const Chunk c = load_chunk(logits + int64_t(row) * V, V, chunk);
  auto take = [&](float v, uint32_t key) -> unsigned long long {
    if (!keep(v) || key < thr || (key & mask) != prefix) return 0ull;
    return mass_q(keep.x(v));
  };
  if (!row_histogram(c, shift, take, mass, s.mass + int64_t(row) * 256, st, S)) return;
  if (threadIdx.x != 0) return;
  unsigned long long target = st.target, above = st.above;
  if (shift == 24) {
    unsigned long long z = 0;
    for (int d = 0; d < 256; ++d) z += mass[d];
    target = (unsigned long long)(double(r.top_p) * double(z));
    if (target == 0) target = 1;
    above = 0;
    st.target = target;
  }
  int d = 255;
  for (; d > 0; --d) {
    if (above + mass[d] >= target) break;
    above += mass[d];
  }
  st.above = above;
  st.p_prefix = prefix | (uint32_t(d) << shift);
  st.p_mask = mask | (255u << shift);
  if (shift == 0) st.thr = max(thr, st.p_prefix);
}

// The token: greedy rows the argmax; the others Gumbel-max over the
// survivors (min-p, key >= thr). With a draft d the draw leaves d out (the
// residual distribution) and the survivors' mass z is summed, for d's
// acceptance.
__global__ void __launch_bounds__(kThreads)
    draw_kernel(const float* logits, int V, int S, SamplingParams p, Scratch s, int32_t* out) {
  __shared__ ArgScratch<kWarps> arg;
  __shared__ unsigned long long zsum;
  const int chunk = blockIdx.x, row = blockIdx.y;
  const Row r = row_of(p, row, V);
  const float* l = logits + int64_t(row) * V;
  RowState& st = s.state[row];
  const Chunk c = load_chunk(l, V, chunk);
  float bv = 0.f;
  unsigned long long z = 0;  // fixed point (mass_q): exact in any order and any chunking
  int bi = -1;
  int draft = -1;
  if (r.greedy) {
#pragma unroll
    for (int k = 0; k < kGroups; ++k)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float v = c.v[k][j];
        if (v == v && arg_better(v, c.index(k, j), bv, bi)) {
          bv = v;
          bi = c.index(k, j);
        }
      }
  } else {
    const Keep keep = keep_of(r, st);
    const uint32_t thr = st.thr;
    const uint2 key = p.seed ? make_uint2(uint32_t(p.seed[row]), uint32_t(p.seed[row] >> 32)) : make_uint2(0u, 0u);
    const uint64_t step = p.step ? uint64_t(p.step[row]) : 0ull;
    draft = p.draft && p.draft[row] >= 0 && p.draft[row] < V ? p.draft[row] : -1;
#pragma unroll
    for (int k = 0; k < kGroups; ++k) {
      const int g = c.index(k, 0) / 4;
      if (g * 4 >= V) break;
      const uint4 rr4 = philox4x32(make_uint4(uint32_t(g), uint32_t(step), uint32_t(step >> 32), 0x5AB1Eu), key);
      const uint32_t rr[4] = {rr4.x, rr4.y, rr4.z, rr4.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float v = c.v[k][j];
        if (!keep(v) || order_key(v) < thr) continue;
        const int i = c.index(k, j);
        if (draft >= 0) z += mass_q(keep.x(v));
        if (i == draft) continue;
        const float sc = keep.x(v) + gumbel(rr[j]);
        if (arg_better(sc, i, bv, bi)) {
          bv = sc;
          bi = i;
        }
      }
    }
  }
  block_argmax(bv, bi, arg);
  if (draft >= 0) z = block_sum_q(z, zsum);
  Partial* part = s.part + int64_t(row) * S;
  if (threadIdx.x == 0) part[chunk] = Partial{bv, bi, z};
  if (!arrive_last(st, S)) return;
  if (threadIdx.x >= 32) return;
  // The fold, in chunk order: lane q takes chunks q, q + 32, ...
  bv = 0.f;
  bi = -1;
  z = 0;
  for (int q = int(threadIdx.x); q < S; q += 32) {
    const float v = __ldcg(&part[q].v);
    const int i = __ldcg(&part[q].i);
    if (arg_better(v, i, bv, bi)) {
      bv = v;
      bi = i;
    }
    z += __ldcg(&part[q].z);
  }
  warp_argmax(bv, bi);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) z += __shfl_xor_sync(0xffffffffu, z, o);
  if (threadIdx.x != 0) return;
  int t = bi < 0 ? 0 : bi;
  if (draft >= 0) {
    const Keep keep = keep_of(r, st);
    const float vd = l[draft];
    const unsigned long long qd = keep(vd) && order_key(vd) >= st.thr ? mass_q(keep.x(vd)) : 0ull;
    const uint2 key = p.seed ? make_uint2(uint32_t(p.seed[row]), uint32_t(p.seed[row] >> 32)) : make_uint2(0u, 0u);
    if (accept_draft(key, p.step ? uint64_t(p.step[row]) : 0ull, qd, z)) t = draft;
  }
  out[row] = t;
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

bool set_sampling_split(int on) { return g_split.set(on); }
int sampling_split() { return g_split.get(); }

bool sample_uses_scratch(int64_t N) {
  const int split = g_split.get();
  return split == 2 || (split == 1 && N <= kSplitMaxRows);
}

int64_t sample_scratch_bytes(int64_t N, int64_t V) {
  return N * (int64_t(sizeof(RowState)) + 256 * int64_t(sizeof(unsigned long long) + sizeof(int)) +
              chunks_of(V) * int64_t(sizeof(Partial)));
}

void sample(const Tensor& logits, const SamplingParams& p, Tensor& scratch, Tensor& out, cudaStream_t stream) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  if (logits.dtype() != DType::F32 || out.dtype() != DType::I32 || out.numel() != N)
    throw std::runtime_error("CUDA sample: logits F32 [N, V], out I32 [N]");
  if (N == 0) return;
  if (!sample_uses_scratch(N)) return sample_one_block_per_row(logits, p, out, stream);
  if (scratch.nbytes() < size_t(sample_scratch_bytes(N, V)))
    throw std::runtime_error("CUDA sample: scratch smaller than sample_scratch_bytes(N, V)");
  if (N > 65535 || V > INT_MAX - kChunk) throw std::runtime_error("CUDA sample: more than 65,535 rows or 2^31 logits");
  const int64_t S = chunks_of(V);
  const Scratch s = scratch_of(scratch.data(), N, S);
  // The states (arrival counters, radix progress) start at zero; the
  // histograms are left at zero by the pass that read them, after this
  // clear (the scratch comes from the caching allocator).
  const bool filters = p.any_top_k || p.any_top_p;
  const size_t clear =
      size_t(N) * (sizeof(RowState) + (filters ? 256 * (sizeof(unsigned long long) + sizeof(int)) : 0));
  SABLE_CUDA_CHECK(cudaMemsetAsync(scratch.data(), 0, clear, stream));
  const dim3 grid{unsigned(S), unsigned(N)};
  const float* l = logits.ptr<float>();
  const bool random = p.temperature && p.any_random;
  if (random) {
    row_max_kernel<<<grid, kThreads, 0, stream>>>(l, int(V), int(S), p, s);
    SABLE_CUDA_LAUNCH_CHECK();
    if (p.top_k && p.any_top_k)
      for (int shift = 24; shift >= 0; shift -= 8) {
        top_k_pass_kernel<<<grid, kThreads, 0, stream>>>(l, int(V), int(S), p, s, shift);
        SABLE_CUDA_LAUNCH_CHECK();
      }
    if (p.top_p && p.any_top_p)
      for (int shift = 24; shift >= 0; shift -= 8) {
        top_p_pass_kernel<<<grid, kThreads, 0, stream>>>(l, int(V), int(S), p, s, shift);
        SABLE_CUDA_LAUNCH_CHECK();
      }
  }
  SamplingParams q = p;
  if (!random) q.temperature = nullptr;  // every row greedy: the draw kernel reads no parameter
  draw_kernel<<<grid, kThreads, 0, stream>>>(l, int(V), int(S), q, s, out.ptr<int32_t>());
  SABLE_CUDA_LAUNCH_CHECK();
}

void argmax(const Tensor& logits, Tensor& scratch, Tensor& out, cudaStream_t stream) {
  sample(logits, SamplingParams{}, scratch, out, stream);
}

}  // namespace sable::cuda
