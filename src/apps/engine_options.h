// Engine flags (vLLM's names) shared by serve, generate and bench.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/engine_config.h"

namespace sable {

struct EngineOptions {
  EngineConfig cfg;
  bool no_prefix_caching = false;
  void add_flags(CLI::App& app) {
    app.add_option("--block-size", cfg.block_size, "Tokens per KV block");
    app.add_option("--num-kv-blocks", cfg.num_kv_blocks, "KV blocks (overrides the memory budget)");
    app.add_option("--kv-cache-memory", cfg.kv_cache_memory, "KV cache budget in bytes (CPU)");
    app.add_option("--gpu-memory-utilization", cfg.gpu_memory_utilization, "Fraction of GPU memory to use");
    app.add_option("--max-model-len", cfg.max_model_len, "Maximum prompt + output tokens per request");
    app.add_option("--max-num-seqs", cfg.max_num_seqs, "Maximum sequences per step");
    app.add_option("--max-num-batched-tokens", cfg.max_num_batched_tokens, "Maximum tokens per step");
    app.add_flag("--no-enable-prefix-caching", no_prefix_caching, "Turn automatic prefix caching off");
    app.add_flag("--enable-prefix-caching", [this](int64_t) { no_prefix_caching = false; }, "On by default");
    app.add_flag("--enforce-eager", cfg.enforce_eager, "No CUDA graphs (eager kernel launches)");
    app.add_option("--max-waiting-requests", cfg.max_waiting_requests, "Reject requests (503) past this queue length");
    app.add_option("--speculative-config", speculative_config,
                   "Speculative decoding, as vLLM's JSON: '{\"method\": \"deepseek_mtp\", "
                   "\"num_speculative_tokens\": 1}' (the checkpoint's MTP layer drafts) or '{\"method\": "
                   "\"ngram\", \"num_speculative_tokens\": 3}' (prompt lookup)")
        ->check([](const std::string& s) {
          auto c = parse_speculative_config(s);
          return c.is_ok() ? std::string() : c.status().message();
        });
  }
  EngineConfig to_config() const {
    EngineConfig c = cfg;
    c.enable_prefix_caching = !no_prefix_caching;
    if (auto sc = parse_speculative_config(speculative_config); sc.is_ok()) c.speculative = *sc;  // checked at parse
    return c;
  }
  // Whether the model must be loaded with its MTP layer (ModelOptions::load_mtp).
  bool needs_mtp() const { return to_config().speculative.method == SpeculativeConfig::Method::kMtp; }
  std::string speculative_config;
};

}  // namespace sable
