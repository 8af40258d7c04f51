// The engine: one thread that owns the model, the KV pool, the scheduler and
// the sampler, and runs step() in a loop: schedule -> forward -> sample ->
// detokenize -> each request's channel. Clients (the HTTP server, the CLI,
// benchmarks) submit requests from any thread and read their outputs
// through a RequestHandle.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "engine/engine_config.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "model/deepseek_v3.h"

namespace sable {

class Tokenizer;
class EngineCore;

// The client's end of a request: a thread-safe queue of outputs.
class RequestHandle {
 public:
  explicit RequestHandle(std::string id, int n) : id_(std::move(id)), n_(n) {}
  const std::string& id() const { return id_; }
  int num_choices() const { return n_; }

  // Takes every output available now (non-blocking).
  std::vector<RequestOutput> poll();
  // Blocks until an output is available or the timeout passes; true if one is.
  bool wait(std::chrono::milliseconds timeout);
  // True once every choice has its final output and poll() has taken it.
  bool done();
  // Called (on the engine thread) whenever outputs are added: for an
  // asynchronous server, post a wake-up to its event loop here. Set it
  // before submit() returns the handle to other threads, or under no race.
  void set_notify(std::function<void()> cb);

  // Engine side.
  void push(RequestOutput out);

 private:
  std::string id_;
  int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestOutput> queue_;
  int finished_choices_ = 0;
  int taken_final_ = 0;
  std::function<void()> notify_;
};

class Engine {
 public:
  // The model must outlive the engine. tokenizer may be null (ids only: no
  // text, no stop strings).
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& cfg, DeepseekV3Model& model,
                                                std::shared_ptr<const Tokenizer> tokenizer);
  ~Engine();

  // Validates and enqueues a request. Errors: kInvalidArgument (bad
  // parameters, prompt too long: the message says by how much),
  // kResourceExhausted (waiting queue full), kUnavailable (shutting down).
  Result<std::shared_ptr<RequestHandle>> submit(GenerateRequest req);
  // Aborts a request: its choices finish with kAbort and its blocks are
  // freed at the next step. Unknown ids are ignored.
  void abort(const std::string& request_id);

  // Starts the engine thread (submit() works before; requests wait).
  void start();
  // Stops accepting requests; lets running ones finish for up to `grace`,
  // aborts the rest, then stops the thread.
  void shutdown(std::chrono::milliseconds grace);

  // Runs one scheduling step on the calling thread (tests and offline use,
  // when start() was not called). Returns false when there is nothing to do.
  bool step();
  // Runs steps until every submitted request is done (offline use).
  void run_until_idle();

  const EngineConfig& config() const;
  const ModelConfig& model_config() const;
  EngineMetrics& metrics();
  // Snapshot of the gauges (running, waiting, KV usage) for /metrics.
  EngineGauges gauges() const;
  // Requests submitted and not yet finished.
  int num_unfinished() const;

  // A step that throws (a CUDA fault, a tensor-parallel rank that failed:
  // errors a step cannot return as a status, and after which the device or
  // the group is unusable) stops the engine for good, as vLLM's
  // EngineDeadError: every unfinished request ends with kError and the
  // message, submit() answers kUnavailable, and fatal_error() says why
  // (empty while the engine is healthy).
  std::string fatal_error() const;
  // Called once, on the engine's thread, when the engine stops that way
  // (the server starts its shutdown, so that the pod is restarted). Null
  // clears it; clearing waits for a call in progress.
  void set_on_fatal(std::function<void(const std::string&)> cb);

 private:
  struct Impl;
  Engine();
  void loop_once(bool block);
  void die(const std::string& what);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sable
