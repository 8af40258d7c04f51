#include <cassert>
#include <cmath>
#include <algorithm>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"

namespace sable::cpu {

void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                  const AttentionMetadata& m, Tensor& cache) {
  const int64_t T = kv.dim(0), L = kv.dim(1), kv_lora = norm_w.numel(), rope_dim = L - kv_lora;
  assert(cache.dim(2) == L);
  std::vector<float> w(static_cast<size_t>(kv_lora)), row(static_cast<size_t>(L));
  to_f32(norm_w.data(), norm_w.dtype(), kv_lora, w.data());
  const int32_t* slots = m.slot_mapping.ptr<int32_t>();
  const int32_t* pos = m.positions.ptr<int32_t>();
  for (int64_t t = 0; t < T; ++t) {
    const float* src = kv.ptr<float>() + t * L;
    double ss = 0;
    for (int64_t i = 0; i < kv_lora; ++i) ss += double(src[i]) * src[i];
    float inv = 1.f / std::sqrt(float(ss / double(kv_lora)) + eps);
    for (int64_t i = 0; i < kv_lora; ++i) row[size_t(i)] = w[size_t(i)] * (src[i] * inv);
    std::copy_n(src + kv_lora, rope_dim, row.data() + kv_lora);
    rope_vector(row.data() + kv_lora, int(rope_dim), pos[t], rope);
    const int64_t slot = slots[t];
    assert(slot >= 0 && slot < cache.dim(0) * cache.dim(1));
    from_f32(row.data(), cache.dtype(), L,
             cache.ptr<char>() + size_t(slot * L) * dtype_size(cache.dtype()));
  }
}

}  // namespace sable::cpu
