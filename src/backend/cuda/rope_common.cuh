// The rotation of one (x_a, x_b) pair, shared by rope.cu and mla_write_kv.cu
// so that q and k rotate identically. As the reference (cpu/rope.cpp): the
// angle pos * inv_freq[i] is formed in float32, then cos and sin of it (the
// accurate sincosf, not the fast intrinsic: angles reach 1e5 radians at long
// context), both scaled by the YaRN attention factor.
#pragma once

#include <cuda_runtime.h>

namespace sable::cuda {

struct RopeArgs {
  const float* inv_freq;  // [rope_dim / 2]
  float attention_factor;
  bool interleaved;       // pairs (2i, 2i+1); else (i, i + half)
};

// Indices of pair i within a rope_dim vector.
__device__ __forceinline__ void rope_pair(int i, int rope_dim, bool interleaved, int& a, int& b) {
  a = interleaved ? 2 * i : i;
  b = interleaved ? 2 * i + 1 : i + rope_dim / 2;
}

__device__ __forceinline__ void rope_rotate(float& x0, float& x1, int32_t pos, int i, const RopeArgs& r) {
  const float angle = float(pos) * r.inv_freq[i];
  float s, c;
  sincosf(angle, &s, &c);
  c *= r.attention_factor;
  s *= r.attention_factor;
  const float a = x0, b = x1;
  x0 = a * c - b * s;
  x1 = b * c + a * s;
}

}  // namespace sable::cuda
