// Engine settings, named after vLLM's flags.
#pragma once

#include <cstdint>
#include <optional>

#include "core/dtype.h"
#include "engine/speculative_config.h"

namespace sable {

struct EngineConfig {
  int block_size = 16;                 // --block-size
  int num_kv_blocks = 0;               // --num-kv-blocks (0: from the memory budget)
  int64_t kv_cache_memory = 0;         // --kv-cache-memory BYTES (CPU budget; 0: default)
  double gpu_memory_utilization = 0.9; // --gpu-memory-utilization (CUDA)
  int max_model_len = 0;               // --max-model-len (0: the model's max_position_embeddings)
  int max_num_seqs = 256;              // --max-num-seqs
  int max_num_batched_tokens = 8192;   // --max-num-batched-tokens (per step)
  bool enable_prefix_caching = true;   // --no-enable-prefix-caching turns it off
  bool enable_chunked_prefill = true;
  int max_waiting_requests = 0;        // --max-waiting-requests (0: unlimited)
  // --scheduling-policy priority: when blocks run out, the running sequence
  // of lowest priority (largest value, then latest arrival) is preempted
  // first, as vLLM's; fcfs (false): the newest admitted. Waiting sequences
  // are ordered by (priority, arrival) either way (under fcfs the server
  // admits only priority 0).
  bool priority_scheduling = false;
  std::optional<DType> kv_cache_dtype; // default: the backend's activation dtype (--kv-cache-dtype)
  uint64_t seed = 0;                   // default seed for requests without one
  bool enforce_eager = false;          // --enforce-eager: no CUDA graphs
  SpeculativeConfig speculative;       // --speculative-config
};

}  // namespace sable
