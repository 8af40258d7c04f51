// sample_token's draw by its definition, the obvious way: every candidate
// sorted by probability (then id), top-k, min-p from the tail, the shortest
// top-p prefix, and a walk of the cumulative probability to u times the
// kept mass. O(V log V) a token: the peer the sampler's tests and its
// benchmark (bench/host_sampler.cpp) compare it with, not a serving path.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/request.h"

namespace sable {

// raw: the row's logits (NaN and -inf are never drawn); p.temperature > 0;
// u: a uniform in [0, 1), as sampler.cpp's row_uniform gives.
int32_t reference_draw(const std::vector<float>& raw, const SamplingParams& p, double u);

}  // namespace sable
