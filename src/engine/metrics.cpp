#include "engine/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace sable {

void Histogram::observe(double v) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t i = size_t(std::lower_bound(buckets_.begin(), buckets_.end(), v) - buckets_.begin());
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  Snapshot s;
  s.buckets = buckets_;
  uint64_t cum = 0;
  for (uint64_t c : counts_) s.cumulative.push_back(cum += c);
  s.sum = sum_;
  s.count = count_;
  return s;
}

// Bucket bounds as vLLM's (so existing dashboards' quantiles line up).
EngineMetrics::EngineMetrics()
    : time_to_first_token({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                           7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}),
      inter_token_latency({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                           10.0, 20.0, 40.0, 80.0}),
      e2e_request_latency({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                           120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}),
      request_prompt_tokens({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
                             100000, 200000}),
      request_generation_tokens({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000,
                                 100000, 200000}),
      request_queue_time({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                          120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}) {}

std::string spec_decode_summary(const EngineMetrics& m) {
  const uint64_t drafts = m.spec_num_drafts.load(), drafted = m.spec_num_draft_tokens.load(),
                 accepted = m.spec_num_accepted_tokens.load();
  if (m.spec_positions <= 0 || drafts == 0 || drafted == 0) return {};
  std::string s = fmt::format(
      "SpecDecoding metrics: Draft acceptance rate: {:.1f}%, Mean acceptance length: {:.2f}, Accepted: {} tokens, "
      "Drafted: {} tokens, Per-position acceptance rate: ",
      100.0 * double(accepted) / double(drafted), 1.0 + double(accepted) / double(drafts), accepted, drafted);
  for (int j = 0; j < std::min(m.spec_positions, EngineMetrics::kMaxSpecPositions); ++j)
    s += fmt::format("{}{:.3f}", j ? ", " : "", double(m.spec_accepted_per_pos[size_t(j)].load()) / double(drafts));
  return s;
}

}  // namespace sable
