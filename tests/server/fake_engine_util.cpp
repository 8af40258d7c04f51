#include "server/fake_engine.h"

#include <algorithm>

namespace sable::server::testing {

FakeEngine::FakeEngine(Options o) : opt_(o) { thread_ = std::thread([this] { loop(); }); }

FakeEngine::~FakeEngine() { stop_loop(); }

void FakeEngine::stop_loop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<RequestHandle>> FakeEngine::submit(GenerateRequest req) {
  if (req.prompt_ids.empty()) return invalid_argument("empty prompt");
  if (int(req.prompt_ids.size()) + req.params.max_tokens > opt_.max_model_len)
    return invalid_argument("too long");
  std::lock_guard<std::mutex> lk(mu_);
  if (!accepting_) return unavailable("shutting down");
  if (opt_.max_waiting > 0 && int(active_.size()) >= opt_.max_waiting)
    return resource_exhausted("the waiting queue is full");
  if (active_.count(req.request_id)) return invalid_argument("duplicate id " + req.request_id);
  submitted_.push_back(req);
  auto h = std::make_shared<RequestHandle>(req.request_id, req.params.n);
  Req r;
  r.generated.assign(req.params.n, 0);
  r.finished.assign(req.params.n, false);
  r.handle = h;
  std::string id = req.request_id;
  r.req = std::move(req);
  active_.emplace(id, std::move(r));
  cv_.notify_all();
  return h;
}

void FakeEngine::abort(const std::string& id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = active_.find(id);
  if (it != active_.end()) it->second.abort = true;
  cv_.notify_all();
}

EngineGauges FakeEngine::gauges() const {
  std::lock_guard<std::mutex> lk(mu_);
  EngineGauges g;
  g.num_requests_running = int(active_.size());
  g.num_kv_blocks = 100;
  g.num_free_kv_blocks = 100 - int(active_.size());
  g.kv_cache_usage = double(active_.size()) / 100.0;
  return g;
}

void FakeEngine::shutdown(std::chrono::milliseconds grace) {
  std::unique_lock<std::mutex> lk(mu_);
  accepting_ = false;
  paused_ = false;
  cv_.notify_all();
  cv_.wait_for(lk, grace, [&] { return active_.empty(); });
  for (auto& [id, r] : active_) r.abort = true;
  cv_.notify_all();
  cv_.wait_for(lk, std::chrono::seconds(5), [&] { return active_.empty(); });
}

int FakeEngine::running() const {
  std::lock_guard<std::mutex> lk(mu_);
  return int(active_.size());
}

std::vector<std::string> FakeEngine::aborted() const {
  std::lock_guard<std::mutex> lk(mu_);
  return aborted_;
}

std::vector<GenerateRequest> FakeEngine::submitted() const {
  std::lock_guard<std::mutex> lk(mu_);
  return submitted_;
}

void FakeEngine::set_paused(bool p) {
  std::lock_guard<std::mutex> lk(mu_);
  paused_ = p;
  cv_.notify_all();
}

bool FakeEngine::wait_idle(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return active_.empty(); });
}

void FakeEngine::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, opt_.tick, [&] { return stop_; });
    if (stop_) break;
    std::vector<std::pair<std::shared_ptr<RequestHandle>, RequestOutput>> outs;
    for (auto it = active_.begin(); it != active_.end();) {
      Req& r = it->second;
      const SamplingParams& p = r.req.params;
      bool all_done = true;
      for (int c = 0; c < p.n; ++c) {
        if (r.finished[c]) continue;
        RequestOutput o;
        o.index = c;
        o.prompt_tokens = int(r.req.prompt_ids.size());
        if (r.abort) {
          o.finish_reason = FinishReason::kAbort;
        } else if (paused_) {
          all_done = false;
          continue;
        } else {
          // A deterministic token from the seed (or the prompt), the
          // position and the choice.
          int32_t tok = int32_t((p.seed.value_or(r.req.prompt_ids.size()) * 31 + r.generated[c] * 7 + c) %
                                uint64_t(opt_.vocab_size));
          o.token_ids = {tok};
          o.text = "w" + std::to_string(tok) + " ";
          if (!opt_.script.empty()) {
            const size_t at = size_t(r.generated[c]) * size_t(opt_.script_piece);
            o.text = opt_.script.substr(std::min(at, opt_.script.size()), size_t(opt_.script_piece));
            if (at + size_t(opt_.script_piece) >= opt_.script.size()) o.finish_reason = FinishReason::kStop;
          }
          if (p.logprobs) {
            TokenLogprob lp;
            lp.token_id = tok;
            lp.logprob = -0.5f;
            for (int k = 0; k < *p.logprobs; ++k) lp.top.emplace_back(k, -1.0f - float(k));
            o.logprobs.push_back(lp);
          }
          ++r.generated[c];
          metrics_.generation_tokens.fetch_add(1);
          if (r.generated[c] >= p.max_tokens && !o.finish_reason) o.finish_reason = FinishReason::kLength;
          // Prompt [999, ...] makes the engine fail after two tokens.
          if (r.req.prompt_ids[0] == 999 && r.generated[c] == 2) {
            o.finish_reason = FinishReason::kError;
            o.error = "simulated engine failure";
          }
        }
        if (o.finish_reason) {
          r.finished[c] = true;
          o.completion_tokens = r.generated[c];
        } else {
          all_done = false;
        }
        outs.emplace_back(r.handle, std::move(o));
      }
      if (all_done) {
        if (r.abort) aborted_.push_back(it->first);
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
    // Push outside the lock: handles call back into the server.
    lk.unlock();
    for (auto& [h, o] : outs) h->push(std::move(o));
    lk.lock();
    cv_.notify_all();
  }
}

}  // namespace sable::server::testing
