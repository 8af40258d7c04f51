#include <cassert>
#include <cmath>

#include "backend/cpu/ops.h"

namespace sable::cpu {

void rope_vector(float* v, int rope_dim, int32_t pos, const RopeParams& p) {
  const int half = rope_dim / 2;
  const float* inv_freq = p.inv_freq.ptr<float>();
  for (int i = 0; i < half; ++i) {
    // As the reference: the angle is formed in float32, cos/sin of it, both
    // scaled by the YaRN attention factor.
    float angle = float(pos) * inv_freq[i];
    float c = float(std::cos(double(angle))) * p.attention_factor;
    float s = float(std::sin(double(angle))) * p.attention_factor;
    // Interleaved: pair (2i, 2i+1) rotates by frequency i. Non-interleaved
    // (rotate_half): pair (i, i + half). The interleaved result keeps each
    // pair in place; the reference de-interleaves its output, but q and k
    // are permuted alike so every q.k product is the same.
    int a = p.interleaved ? 2 * i : i;
    int b = p.interleaved ? 2 * i + 1 : i + half;
    float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x1 * c + x0 * s;
  }
}

void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions, const RopeParams& p) {
  const int64_t T = x.dim(0), heads = x.dim(1), stride = x.dim(2);
  assert(offset + rope_dim <= stride);
  const int32_t* pos = positions.ptr<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads; ++h)
      rope_vector(x.ptr<float>() + (t * heads + h) * stride + offset, rope_dim, pos[t], p);
}

}  // namespace sable::cpu
