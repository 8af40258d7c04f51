#include "engine/sampler_reference.h"

#include <algorithm>
#include <cmath>

namespace sable {

int32_t reference_draw(const std::vector<float>& raw, const SamplingParams& p, double u) {
  // x as the sampler scales it: by the reciprocal of the temperature, in float.
  std::vector<double> x(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) x[i] = double(raw[i] * (1.f / p.temperature));
  std::vector<int32_t> ids;
  for (size_t i = 0; i < raw.size(); ++i)
    if (x[i] == x[i] && x[i] != -INFINITY) ids.push_back(int32_t(i));
  if (ids.empty()) return 0;
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return x[size_t(a)] > x[size_t(b)] || (x[size_t(a)] == x[size_t(b)] && a < b);
  });
  if (p.top_k > 0 && size_t(p.top_k) < ids.size()) ids.resize(size_t(p.top_k));
  std::vector<double> prob(ids.size());
  double sum = 0;
  for (size_t i = 0; i < ids.size(); ++i) sum += prob[i] = std::exp(x[size_t(ids[i])] - x[size_t(ids[0])]);
  for (double& q : prob) q /= sum;
  size_t keep = ids.size();
  while (p.min_p > 0 && keep > 1 && prob[keep - 1] < double(p.min_p) * prob[0]) --keep;
  if (p.top_p < 1.f) {
    double cum = 0;
    size_t k = 0;
    while (k < keep && !((cum += prob[k++]) >= double(p.top_p))) {
    }
    keep = k;
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += prob[i];
  double cum = 0;
  for (size_t i = 0; i < keep; ++i)
    if (u * mass < (cum += prob[i])) return ids[i];
  return ids[keep - 1];
}

}  // namespace sable
