// A scripted engine for the server's tests: every choice emits one token per
// tick ("w<id> " as text, or pieces of Options::script) until max_tokens, honours abort and shutdown, and
// fails on request (a prompt starting with 999), records what happened, so HTTP behaviour (streaming, disconnects, drains)
// is tested without running a model.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/engine_client.h"

namespace sable::server::testing {

class FakeEngine final : public EngineClient {
 public:
  struct Options {
    std::chrono::milliseconds tick{1};
    int max_model_len = 4096;
    int64_t vocab_size = 1000;
    int max_waiting = 0;  // 0: unlimited
    // When set, each choice writes this text instead, `script_piece` bytes a
    // token, and finishes with "stop" (EOS) at its end (or max_tokens first).
    std::string script;
    int script_piece = 3;
  };
  explicit FakeEngine(Options o);
  ~FakeEngine() override;
  // Stops the engine thread (no outputs after it returns); the destructor
  // does it too. Idempotent.
  void stop_loop();

  Result<std::shared_ptr<RequestHandle>> submit(GenerateRequest req) override;
  void abort(const std::string& id) override;
  EngineGauges gauges() const override;
  EngineMetrics* metrics() override { return &metrics_; }
  int max_model_len() const override { return opt_.max_model_len; }
  int64_t vocab_size() const override { return opt_.vocab_size; }
  void shutdown(std::chrono::milliseconds grace) override;
  std::string fatal_error() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return fatal_;
  }
  void set_fatal_error(std::string e) {
    std::lock_guard<std::mutex> lk(mu_);
    fatal_ = std::move(e);
  }

  // For assertions.
  int running() const;
  std::vector<std::string> aborted() const;
  std::vector<GenerateRequest> submitted() const;
  // Pauses token generation (requests stay running).
  void set_paused(bool p);
  // Waits until no request runs; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout) const;

 private:
  struct Req {
    GenerateRequest req;
    std::shared_ptr<RequestHandle> handle;
    std::vector<int> generated;
    std::vector<bool> finished;
    bool abort = false;
  };
  void loop();

  Options opt_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Req> active_;
  std::vector<std::string> aborted_;
  std::vector<GenerateRequest> submitted_;
  bool accepting_ = true, stop_ = false, paused_ = false;
  std::string fatal_;
  EngineMetrics metrics_;
  std::thread thread_;
};

}  // namespace sable::server::testing
