// Flags shared by every command that loads a model (vLLM's names), and the
// loading itself: weights from a checkpoint or --load-format dummy, on the
// chosen device, with the tokenizer when the model directory has one.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "engine/engine_config.h"
#include "model/deepseek_v3.h"
#include "model/weight_source.h"
#include "runner/host_memory.h"

namespace sable {

class Tokenizer;

struct ModelOptions {
  std::string model;                // checkpoint directory
  std::string load_format = "auto"; // auto | safetensors | dummy
  std::string device = "auto";      // auto | cpu | cuda
  std::string dtype = "auto";       // auto | bfloat16 | float32 (activations)
  std::string quantization;         // "" | fp8
  uint64_t seed = 0;                // dummy weights' seed
  std::string log_level = "info";
  std::string tokenizer;            // tokenizer directory (default: --model)
  std::string chat_template;        // replaces the tokenizer's (--chat-template)
  bool batch_invariant = false;     // --batch-invariant (also SABLE_/VLLM_BATCH_INVARIANT=1)
  int tensor_parallel_size = 1;     // --tensor-parallel-size (-tp in serve)
  bool enable_expert_parallel = false;  // --enable-expert-parallel: routed experts whole on the ranks
  // Load the MTP layer (speculative decoding with it: EngineOptions::needs_mtp).
  bool load_mtp = false;
  // The engine settings, where the command runs an engine without a GPU
  // memory plan (generate, bench offline): the host plan's CPU KV budget.
  std::optional<EngineConfig> engine;

  void add_flags(CLI::App& app, bool model_required);
};

struct LoadedModel {
  std::unique_ptr<WeightSource> source;
  Backend* backend = nullptr;
  std::unique_ptr<DeepseekV3Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when the model has none
  std::string model_name;  // --model as given, or "sable-demo"
  bool is_demo = false;
};

// Picks the backend for --device: auto is cuda when built with CUDA and a
// GPU is present, else cpu.
Result<Backend*> select_backend(const std::string& device);
// Loads --model (weights, and the tokenizer when the directory has
// tokenizer.json; --tokenizer overrides). With no --model and allow_demo,
// builds the demo model: the `tiny` preset with random weights (generated
// deterministically at start) and the real DeepSeek-V3 tokenizer.
// With `plan` (the engine settings), a GPU load is first checked against the
// memory planner: a model that cannot fit is refused before any weight is
// read, with what is missing and the flags that would make it fit. Every load
// is first checked against the host's memory (runner/host_memory.h) the
// same way: dummy weights and the CPU backend's copies and KV cache.
Result<LoadedModel> load_model(const ModelOptions& o, bool allow_demo = false, const EngineConfig* plan = nullptr);

// The CPU backend's KV cache budget as the runner sets it: --kv-cache-memory,
// else --num-kv-blocks' bytes, else 1 GiB (shared by tensor-parallel ranks).
int64_t cpu_kv_cache_bytes(const ModelConfig& c, const EngineConfig& ec);

// The host memory plan's input for loading `cfg` with these options
// (runner/host_memory.h): load_model's check and serve's --dry-run.
HostMemoryPlanInput host_memory_input(const ModelOptions& o, const ModelConfig& cfg, bool dummy_weights,
                                      bool weights_on_host, const EngineConfig& ec);

// Parses "5 17 3" or "5,17,3" into ids; errors name the bad item.
Result<std::vector<int32_t>> parse_id_list(const std::string& s);

}  // namespace sable
