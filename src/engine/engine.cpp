#include "engine/engine.h"

#include <set>

#include "core/logging.h"
#include "engine/engine_core.h"

namespace sable {

// ---- RequestHandle ----

std::vector<RequestOutput> RequestHandle::poll() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<RequestOutput> out(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  for (const auto& o : out)
    if (o.finish_reason) ++taken_final_;
  return out;
}

bool RequestHandle::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return !queue_.empty(); });
}

bool RequestHandle::done() {
  std::lock_guard<std::mutex> lk(mu_);
  return taken_final_ >= n_ && queue_.empty();
}

void RequestHandle::set_notify(std::function<void()> cb) {
  std::lock_guard<std::mutex> lk(mu_);
  notify_ = std::move(cb);
}

void RequestHandle::push(RequestOutput out) {
  std::function<void()> notify;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (out.finish_reason) ++finished_choices_;
    queue_.push_back(std::move(out));
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
  }
  return "?";
}

// ---- Engine ----

struct Engine::Impl {
  std::unique_ptr<EngineCore> core;  // touched only by the stepping thread
  // Shared between client threads and the engine thread: all under mu.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<GenerateRequest, std::shared_ptr<RequestHandle>>> incoming;
  std::vector<std::string> aborts;
  std::set<std::string> active;  // submitted, not finished
  bool accepting = true;
  bool stop = false;
  std::string fatal;  // set once by die()
  EngineGauges gauges;
  std::thread thread;
  std::mutex on_fatal_mu;  // held while on_fatal runs, so that clearing it waits
  std::function<void(const std::string&)> on_fatal;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}

Engine::~Engine() {
  if (impl_->thread.joinable()) shutdown(std::chrono::milliseconds(0));
}

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& cfg, DeepseekV3Model& model,
                                               std::shared_ptr<const Tokenizer> tokenizer) {
  if (cfg.block_size < 1 || cfg.block_size > 1024) return invalid_argument("--block-size must be in [1, 1024]");
  if (cfg.max_num_seqs < 1) return invalid_argument("--max-num-seqs must be at least 1");
  if (cfg.max_num_batched_tokens < 1) return invalid_argument("--max-num-batched-tokens must be at least 1");
  if (cfg.speculative.method == SpeculativeConfig::Method::kMtp && !model.has_mtp())
    return failed_precondition(
        "--speculative-config: method mtp needs the model loaded with its MTP layer (LoadOptions::load_mtp)");
  if (cfg.speculative.enabled() && (cfg.speculative.num_speculative_tokens < 1 ||
                                    cfg.speculative.num_speculative_tokens > EngineMetrics::kMaxSpecPositions))
    return invalid_argument("--speculative-config: num_speculative_tokens must be in [1, 16]");
  std::unique_ptr<Engine> e(new Engine());
  e->impl_->core = std::make_unique<EngineCore>(cfg, model, std::move(tokenizer));
  if (e->impl_->core->block_manager().num_blocks() < 1)
    return resource_exhausted("the KV cache budget holds no block: raise --kv-cache-memory or --num-kv-blocks");
  Impl* impl = e->impl_.get();
  impl->core->on_request_done = [impl](const std::string& id) {
    std::lock_guard<std::mutex> lk(impl->mu);
    impl->active.erase(id);
  };
  impl->core->on_gauges_changed = [impl] {
    EngineGauges g = impl->core->gauges();
    std::lock_guard<std::mutex> lk(impl->mu);
    impl->gauges = g;
  };
  impl->gauges = impl->core->gauges();
  return e;
}

Result<std::shared_ptr<RequestHandle>> Engine::submit(GenerateRequest req) {
  SABLE_RETURN_IF_ERROR(impl_->core->resolve_bad_words(req.params));  // both read only immutable state
  SABLE_RETURN_IF_ERROR(impl_->core->validate(req));
  auto handle = std::make_shared<RequestHandle>(req.request_id, req.params.n);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (!impl_->fatal.empty())
      return unavailable("the engine stopped after an unrecoverable error (" + impl_->fatal + "); restart the server");
    if (!impl_->accepting) return unavailable("the server is shutting down");
    const int max_waiting = impl_->core->config().max_waiting_requests;
    if (max_waiting > 0 && int(impl_->incoming.size()) + impl_->gauges.num_requests_waiting >= max_waiting)
      return resource_exhausted("the waiting queue is full (" + std::to_string(max_waiting) +
                                " requests, --max-waiting-requests); retry later");
    if (impl_->active.count(req.request_id))
      return invalid_argument("a request with id '" + req.request_id + "' is already running");
    impl_->active.insert(req.request_id);
    impl_->incoming.emplace_back(std::move(req), handle);
  }
  impl_->cv.notify_all();
  return handle;
}

void Engine::abort(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->aborts.push_back(request_id);
  }
  impl_->cv.notify_all();
}

void Engine::loop_once(bool block) {
  Impl& im = *impl_;
  std::vector<std::pair<GenerateRequest, std::shared_ptr<RequestHandle>>> incoming;
  std::vector<std::string> aborts;
  {
    std::unique_lock<std::mutex> lk(im.mu);
    const bool busy = im.core->has_work();
    if (block && !busy)
      im.cv.wait(lk, [&] { return im.stop || !im.incoming.empty() || !im.aborts.empty(); });
    incoming.swap(im.incoming);
    aborts.swap(im.aborts);
  }
  for (auto& [req, handle] : incoming) im.core->add_request(std::move(req), std::move(handle));
  for (const auto& id : aborts) im.core->abort_request(id);
  im.core->step();
  EngineGauges g = im.core->gauges();
  std::lock_guard<std::mutex> lk(im.mu);
  im.gauges = g;
}

void Engine::start() {
  impl_->thread = std::thread([this] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lk(impl_->mu);
        if (impl_->stop) break;
      }
      try {
        loop_once(/*block=*/true);
      } catch (const std::exception& e) {
        die(e.what());
        break;
      }
    }
  });
}

bool Engine::step() {
  bool had_work;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (!impl_->fatal.empty()) return false;
    had_work = !impl_->incoming.empty() || !impl_->aborts.empty();
  }
  had_work = had_work || impl_->core->has_work();
  if (!had_work) return false;
  try {
    loop_once(/*block=*/false);
  } catch (const std::exception& e) {
    die(e.what());
    return false;
  }
  return true;
}

void Engine::die(const std::string& what) {
  const std::string msg = what.empty() ? std::string("unknown error") : what;
  LOG_ERROR(
      "the engine stopped: a step failed with an error it cannot recover from: {}. Every unfinished request "
      "fails with this error and new requests are refused; restart the server",
      msg);
  std::vector<std::pair<GenerateRequest, std::shared_ptr<RequestHandle>>> incoming;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->fatal = msg;
    impl_->accepting = false;
    incoming.swap(impl_->incoming);
    impl_->aborts.clear();
  }
  const std::string error = "the engine stopped after an unrecoverable error: " + msg;
  // The core's state after a throw mid-step is not trusted: its requests get
  // their final outputs, and nothing steps again.
  impl_->core->fail_all(error);
  for (auto& [req, handle] : incoming)  // submitted, not yet taken by a step
    for (int c = 0; c < req.params.n; ++c) handle->push(error_output(c, int(req.prompt_ids.size()), error));
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->active.clear();
  }
  std::lock_guard<std::mutex> lk(impl_->on_fatal_mu);
  if (impl_->on_fatal) impl_->on_fatal(msg);
}

std::string Engine::fatal_error() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->fatal;
}

void Engine::set_on_fatal(std::function<void(const std::string&)> cb) {
  std::lock_guard<std::mutex> lk(impl_->on_fatal_mu);
  impl_->on_fatal = std::move(cb);
}

void Engine::run_until_idle() {
  while (step()) {}
}

int Engine::num_unfinished() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return int(impl_->active.size());
}

void Engine::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->accepting = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (num_unfinished() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    for (const auto& id : impl_->active) impl_->aborts.push_back(id);
    if (!impl_->active.empty()) LOG_WARN("shutdown: aborting {} unfinished request(s)", impl_->active.size());
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) {
    // Let the engine thread process the aborts, then stop it.
    for (int i = 0; i < 500 && num_unfinished() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    {
      std::lock_guard<std::mutex> lk(impl_->mu);
      impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->thread.join();
  } else {
    run_until_idle();
  }
}

const EngineConfig& Engine::config() const { return impl_->core->config(); }
const ModelConfig& Engine::model_config() const { return impl_->core->model().config(); }
EngineMetrics& Engine::metrics() { return impl_->core->metrics(); }

EngineGauges Engine::gauges() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->gauges;
}

}  // namespace sable
