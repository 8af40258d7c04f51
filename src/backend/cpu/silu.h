// SiLU(g) * u, the one formula silu_and_mul and the routed experts share.
#pragma once

#include <cmath>

namespace sable::cpu {

inline float silu_times(float g, float u) { return g / (1.f + std::exp(-g)) * u; }

}  // namespace sable::cpu
