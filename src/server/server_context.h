// What every handler may read: the settings, the engine, the tokenizer and
// the server's own state (draining, counters). One per server; handlers
// receive it by reference and never own it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "server/engine_client.h"
#include "server/openai_protocol.h"
#include "server/server_config.h"

namespace sable {
class Tokenizer;
}

namespace sable::server {

struct ServerContext {
  ServerConfig config;
  EngineClient* engine = nullptr;
  std::shared_ptr<const Tokenizer> tokenizer;  // null: token ids only
  int64_t started_at = 0;                      // unix seconds, for "created" in /v1/models

  std::atomic<bool> draining{false};           // SIGTERM seen: new requests get 503
  std::atomic<int64_t> active_generations{0};  // HTTP requests with engine work in flight
  std::atomic<uint64_t> http_requests{0};

  // The name reported in responses: the first --served-model-name.
  const std::string& model_name() const {
    static const std::string kDefault = "default";
    return config.served_model_names.empty() ? kDefault : config.served_model_names.front();
  }
  // A request's "model" must be one of the served names (empty: the default).
  bool serves(const std::string& name) const {
    if (name.empty()) return true;
    for (const auto& n : config.served_model_names)
      if (n == name) return true;
    return false;
  }
  ProtocolLimits limits() const {
    ProtocolLimits l;
    l.max_n = config.max_n;
    l.max_logprobs = config.max_logprobs;
    l.max_prompts = config.max_prompts;
    l.vocab_size = engine ? engine->vocab_size() : 0;
    l.defaults = config.sampling_defaults;
    l.priority_scheduling = config.priority_scheduling;
    l.return_tokens_as_token_ids = config.return_tokens_as_token_ids;
    l.force_include_usage = config.force_include_usage;
    return l;
  }
};

}  // namespace sable::server
