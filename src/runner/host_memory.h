// Host memory planning: what a load will hold in this process's own memory
// (not the page cache of mmapped checkpoint files) against what the machine,
// or the container it runs in, can give. The GPU planner (memory_planner.h)
// refuses a model that does not fit a GPU before loading; this is the same
// for the host, where the failure is worse: the kernel's OOM killer ends the
// process with no message, often minutes into generating dummy weights.
//
// What is held:
// - CPU backend, --load-format dummy: every weight (each tensor-parallel
//   rank's part; the ranks are threads of this process).
// - CPU backend, a checkpoint: its files are mmapped (page cache, not
//   counted) but for copies: kv_b_proj's split forms, and the FP8 linear
//   weights under --quantization fp8 of a BF16 checkpoint, or the stacked
//   q_a / kv_a projections and the column parts of tensor parallelism.
// - CPU backend: the KV cache budget (--kv-cache-memory, default 1 GiB).
// - CUDA backend, --load-format dummy: one decoder layer at a time, made on
//   the host before it goes to the GPU.
// - Plus a fixed allowance for activations and the process itself.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"

namespace sable {

// Memory this process may still take, from /proc/meminfo's MemAvailable and
// the cgroup (v2 memory.max, or v1 memory.limit_in_bytes) of this process and
// its parents, less what each already uses; the smallest wins. Files are
// read under `root` (tests point it at a fake tree). available < 0: unknown.
struct HostMemory {
  int64_t available = -1;
  std::string source;  // what set it, for messages
};
HostMemory probe_host_memory(const std::string& root = "");

struct HostMemoryPlanInput {
  ModelConfig config;
  bool quantize_fp8 = false;    // --quantization fp8
  bool dummy_weights = false;   // --load-format dummy (or the demo model)
  bool weights_on_host = true;  // the CPU backend (false: a GPU holds them)
  int tensor_parallel_size = 1;
  bool expert_parallel = false;  // --enable-expert-parallel
  int64_t kv_cache_bytes = 0;  // the CPU's KV budget; 0 on a GPU
  int64_t checkpoint_file_bytes = 0;  // the mmapped files' size (CPU backend, a checkpoint)
};

struct HostMemoryPlan {
  int64_t weights = 0;  // held in process memory (see above)
  int64_t kv = 0;
  int64_t allowance = 0;  // activations and the process
  int64_t needed = 0;     // the sum
  HostMemory host;
  bool fits = true;               // also true when host.available is unknown
  std::string advice;             // when !fits: what is missing and what would fit
  // When the plan fits but the CPU backend's mmapped checkpoint files do not
  // fit beside it: every step reads weights from disk again (not an error).
  std::string warning;
  std::string to_string() const;  // one line for logs and --dry-run
};

// The allowance counted for activations and the process itself.
constexpr int64_t kHostMemoryAllowance = int64_t(1) << 30;

HostMemoryPlan plan_host_memory(const HostMemoryPlanInput& in, const HostMemory& host);

// SABLE_HOST_MEMORY_CHECK=0 loads whatever the plan says (the plan is an
// estimate; the way out when it is wrong for a machine).
bool host_memory_check_enabled();

}  // namespace sable
