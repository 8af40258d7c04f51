#include <cassert>

#include "backend/cpu/ops.h"
#include "backend/cpu/silu.h"
#include "core/thread_pool.h"

namespace sable::cpu {

void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out) {
  assert(gate.numel() == up.numel() && gate.numel() == out.numel());
  const float* g = gate.ptr<float>();
  const float* u = up.ptr<float>();
  float* o = out.ptr<float>();
  // Elementwise (one exp each): split across the pool once it is worth a wake-up.
  ThreadPool::global().parallel_for(gate.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = silu_times(g[i], u[i]);
  });
}

}  // namespace sable::cpu
