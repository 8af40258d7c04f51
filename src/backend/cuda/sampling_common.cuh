// Device helpers shared by the GPU samplers (sampling.cu: rows split over
// blocks; sampling_rows.cu: one block a row): the float order, the argmax
// order, and the Philox-Gumbel draw. Included by .cu files only.
#pragma once

#include <cstdint>

namespace sable::cuda::sampling_detail {

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

__device__ __forceinline__ void warp_argmax(float& v, int& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (arg_better(ov, oi, v, i)) {
      v = ov;
      i = oi;
    }
  }
}

// Per-warp slots of block_argmax.
template <int kWarps>
struct ArgScratch {
  float v[kWarps];
  int i[kWarps];
};

// Block-wide argmax of (v, i) pairs over kWarps full warps; every thread
// gets the pair (i = -1: none). Each warp folds the per-warp slots itself,
// so no barrier follows; the leading one lets a caller reuse s.
template <int kWarps>
__device__ __forceinline__ void block_argmax(float& v, int& i, ArgScratch<kWarps>& s) {
  static_assert(kWarps >= 1 && kWarps <= 32, "one slot a lane");
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  warp_argmax(v, i);
  __syncthreads();
  if (lane == 0) {
    s.v[warp] = v;
    s.i[warp] = i;
  }
  __syncthreads();
  v = lane < kWarps ? s.v[lane] : 0.f;
  i = lane < kWarps ? s.i[lane] : -1;
  warp_argmax(v, i);
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
// Uniform in (0, 1), 23 bits, never 0 or 1 (so the Gumbel transform is
// finite): (k + 1/2) / 2^23 for k < 2^23 is exact in a float. With 24 bits,
// k = 2^24 - 1 rounded to 1.0f, whose Gumbel noise is +inf: one draw in 2^24
// per logit won whatever its probability (0.8 % of draws over DeepSeek-V3's
// 129,280 logits; CudaSampling.DistributionAcrossChunks).
__device__ __forceinline__ float unit_open(uint32_t x) { return (float(x >> 9) + 0.5f) * (1.f / 8388608.f); }
__device__ __forceinline__ float gumbel(uint32_t x) { return -logf(-logf(unit_open(x))); }

// A probability weight exp(x), x <= 0, in fixed point (2^-32 units), so
// that sums of them are exact in any order: the top-p masses, and a draft's
// acceptance mass, which both samplers and any chunking then agree on.
__device__ __forceinline__ unsigned long long mass_q(float x) { return __float2ull_rn(expf(x) * 4294967296.f); }

// The block's sum of fixed-point masses, exact in any order; every thread
// gets it. s: a word of shared memory.
__device__ __forceinline__ unsigned long long block_sum_q(unsigned long long z, unsigned long long& s) {
  if (threadIdx.x == 0) s = 0;
  __syncthreads();
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) z += __shfl_xor_sync(0xffffffffu, z, o);
  if ((threadIdx.x & 31) == 0 && z) atomicAdd(&s, z);
  __syncthreads();
  return s;
}

// A draft is accepted with probability p(d) = q_d / z (fixed-point masses):
// a uniform from a counter the Gumbel draws never use (4th word).
__device__ __forceinline__ bool accept_draft(uint2 key, uint64_t step, unsigned long long q_d, unsigned long long z) {
  const uint4 u = philox4x32(make_uint4(0xFFFFFFFFu, uint32_t(step), uint32_t(step >> 32), 0xACCE7u), key);
  return double(unit_open(u.x)) * double(z) < double(q_d);
}

}  // namespace sable::cuda::sampling_detail
