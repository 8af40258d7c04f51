// Engine metrics with vLLM's meaning, rendered by the server as Prometheus
// text under vLLM's names (vllm:num_requests_running, ...). Counters and
// histograms are updated by the engine thread and read by the HTTP threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sable {

class Histogram {
 public:
  explicit Histogram(std::vector<double> buckets) : buckets_(std::move(buckets)), counts_(buckets_.size() + 1, 0) {}
  void observe(double v);
  struct Snapshot {
    std::vector<double> buckets;      // upper bounds (le), +Inf implied
    std::vector<uint64_t> cumulative; // per bucket, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> buckets_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct EngineGauges {
  int num_requests_running = 0;
  int num_requests_waiting = 0;
  int num_requests_swapped = 0;
  double kv_cache_usage = 0;  // fraction of blocks in use, [0, 1]
  int num_kv_blocks = 0;
  int num_free_kv_blocks = 0;
};

struct EngineMetrics {
  EngineMetrics();
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> generation_tokens{0};
  std::atomic<uint64_t> prefix_cache_queries{0};  // prompt tokens looked up
  std::atomic<uint64_t> prefix_cache_hits{0};     // prompt tokens found cached
  std::atomic<uint64_t> num_preemptions{0};
  std::atomic<uint64_t> steps{0};
  // Finished requests by reason ("stop", "length", "abort", "error").
  std::atomic<uint64_t> success_stop{0}, success_length{0}, success_abort{0}, success_error{0};
  // Speculative decoding (vLLM's vllm:spec_decode_*): sequences' steps that
  // verified drafts, the drafts, and the accepted ones in all and by
  // position (accepted_per_pos[j]: the (j+1)-th draft of a step accepted).
  static constexpr int kMaxSpecPositions = 16;
  int spec_positions = 0;  // num_speculative_tokens; 0: off (the metrics are not exposed)
  std::atomic<uint64_t> spec_num_drafts{0}, spec_num_draft_tokens{0}, spec_num_accepted_tokens{0};
  std::array<std::atomic<uint64_t>, kMaxSpecPositions> spec_accepted_per_pos{};
  Histogram time_to_first_token;  // seconds
  Histogram inter_token_latency;  // seconds
  Histogram e2e_request_latency;  // seconds
  Histogram request_prompt_tokens;
  Histogram request_generation_tokens;
  Histogram request_queue_time;   // seconds
};

// vLLM's speculative-decoding log line from the counters so far:
// "SpecDecoding metrics: Draft acceptance rate: 41.2%, Mean acceptance
// length: 2.24, Accepted: 120 tokens, Drafted: 291 tokens, Per-position
// acceptance rate: 0.620, 0.410, 0.210"; empty when off or nothing drafted.
std::string spec_decode_summary(const EngineMetrics& m);

}  // namespace sable
