// What the HTTP server needs from the engine, as an interface: the real
// Engine behind an adapter in production, a scripted fake in the server's
// own tests (so HTTP behaviour is tested without running a model).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/metrics.h"
#include "engine/request.h"

namespace sable::server {

class EngineClient {
 public:
  virtual ~EngineClient() = default;
  // Errors as Engine::submit: kInvalidArgument, kResourceExhausted, kUnavailable.
  virtual Result<std::shared_ptr<RequestHandle>> submit(GenerateRequest req) = 0;
  virtual void abort(const std::string& request_id) = 0;
  virtual EngineGauges gauges() const = 0;
  // Null when the engine keeps no metrics.
  virtual EngineMetrics* metrics() = 0;
  // The longest prompt + completion a request may have (resolved: never 0).
  virtual int max_model_len() const = 0;
  // The model's vocabulary: token ids must be below it.
  virtual int64_t vocab_size() const = 0;
  // Stops accepting; lets running requests finish for up to grace, aborts
  // the rest; returns when the engine is idle and stopped.
  virtual void shutdown(std::chrono::milliseconds grace) = 0;
  // Why the engine stopped for good (Engine::fatal_error), empty while it
  // serves: /health answers 500 then.
  virtual std::string fatal_error() const { return {}; }
};

// The engine behind the interface; the engine must outlive the client.
std::unique_ptr<EngineClient> make_engine_client(Engine& engine);

}  // namespace sable::server
