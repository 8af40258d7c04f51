#include "common/fixtures.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "model/presets.h"

namespace sable::testing {

std::string fixture_dir(const std::string& name) { return std::string(SABLE_TEST_DATA) + "/fixtures/" + name; }

ModelConfig tiny_config_with_mtp() {
  auto c = preset_config("tiny");
  if (!c.is_ok()) throw std::runtime_error("the tiny preset: " + c.status().to_string());
  ModelConfig m = *c;
  m.num_nextn_predict_layers = 1;
  return m;
}

namespace {
template <typename T>
std::vector<T> to_vec(const Tensor& t) {
  return std::vector<T>(t.ptr<T>(), t.ptr<T>() + t.numel());
}
}  // namespace

std::vector<FixturePrompt> load_fixture_prompts(const std::string& name) {
  auto f = SafetensorsFile::open(fixture_dir(name) + "/expected.safetensors");
  if (!f.is_ok()) throw std::runtime_error(f.status().to_string());
  std::vector<FixturePrompt> out;
  for (int i = 0;; ++i) {
    const std::string p = "prompt" + std::to_string(i);
    const SafetensorsEntry* ids = (*f)->find(p + ".ids");
    if (!ids) break;
    FixturePrompt fp;
    fp.ids = to_vec<int32_t>((*f)->tensor(*ids));
    fp.logits = (*f)->tensor(*(*f)->find(p + ".logits"));
    fp.greedy = to_vec<int32_t>((*f)->tensor(*(*f)->find(p + ".greedy")));
    fp.greedy_margin = to_vec<float>((*f)->tensor(*(*f)->find(p + ".greedy_margin")));
    out.push_back(std::move(fp));
  }
  return out;
}

double max_rel_error(const float* a, const float* b, int64_t n) {
  double maxdiff = 0, maxref = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(a[i])) return INFINITY;
    maxdiff = std::max(maxdiff, double(std::fabs(a[i] - b[i])));
    maxref = std::max(maxref, double(std::fabs(b[i])));
  }
  return maxref > 0 ? maxdiff / maxref : maxdiff;
}

int greedy_compare_length(const std::vector<float>& margin) {
  int n = 0;
  while (n < int(margin.size()) && margin[size_t(n)] >= 0.01f) ++n;
  return n;
}

}  // namespace sable::testing
