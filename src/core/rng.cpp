#include "core/rng.h"

#include <cmath>

namespace sable {

float Rng::normal() {
  float u1 = uniform(), u2 = uniform();
  if (u1 < 1e-7f) u1 = 1e-7f;
  return std::sqrt(-2.f * std::log(u1)) * std::cos(6.28318530718f * u2);
}

}  // namespace sable
