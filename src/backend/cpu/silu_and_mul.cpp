#include <cassert>
#include <cmath>

#include "backend/cpu/ops.h"

namespace sable::cpu {

void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out) {
  assert(gate.numel() == up.numel() && gate.numel() == out.numel());
  const float* g = gate.ptr<float>();
  const float* u = up.ptr<float>();
  float* o = out.ptr<float>();
  for (int64_t i = 0, n = gate.numel(); i < n; ++i) o[i] = g[i] / (1.f + std::exp(-g[i])) * u[i];
}

}  // namespace sable::cpu
