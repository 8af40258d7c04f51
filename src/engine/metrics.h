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
  Histogram time_to_first_token;  // seconds
  Histogram inter_token_latency;  // seconds
  Histogram e2e_request_latency;  // seconds
  Histogram request_prompt_tokens;
  Histogram request_generation_tokens;
  Histogram request_queue_time;   // seconds
};

}  // namespace sable
