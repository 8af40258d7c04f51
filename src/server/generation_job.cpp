#include "server/generation_job.h"

#include "core/logging.h"
#include "server/errors.h"
#include "server/server_context.h"
#include "server/sse.h"

namespace sable::server {

GenerationJob::GenerationJob(ServerContext& ctx, std::unique_ptr<ResponseFormatter> fmt, bool stream, int n)
    : ctx_(ctx), fmt_(std::move(fmt)), stream_(stream), n_(n) {
  ctx_.active_generations.fetch_add(1);
}

GenerationJob::~GenerationJob() {
  // A job dropped before its end (connection torn down) must not leave
  // engine work behind.
  if (!done_) abort();
  ctx_.active_generations.fetch_sub(1);
}

Status GenerationJob::submit(std::vector<GenerateRequest> reqs, std::vector<std::string> echo_texts) {
  choices_.resize(reqs.size() * size_t(n_));
  for (size_t p = 0; p < reqs.size(); ++p) {
    for (int c = 0; c < n_; ++c)
      if (p < echo_texts.size()) choices_[p * n_ + c].echo = echo_texts[p];
    Run run;
    run.engine_id = reqs[p].request_id;
    run.prompt_tokens = int(reqs[p].prompt_ids.size());
    auto h = ctx_.engine->submit(std::move(reqs[p]));
    if (!h.is_ok()) {
      abort();
      done_ = true;
      return h.status();
    }
    run.handle = std::move(h).value();
    usage_.prompt_tokens += run.prompt_tokens;
    runs_.push_back(std::move(run));
  }
  return Status::ok();
}

void GenerationJob::set_wake(const std::function<void()>& wake) {
  // Outputs pushed before this are not lost: the caller pumps once after.
  for (auto& r : runs_) r.handle->set_notify(wake);
}

void GenerationJob::abort() {
  if (aborted_) return;
  aborted_ = true;
  for (auto& r : runs_)
    if (r.finished < n_) ctx_.engine->abort(r.engine_id);
}

void GenerationJob::apply(int choice, const RequestOutput& o) {
  ChoiceState& st = choices_[choice];
  if (!o.token_ids.empty() && !first_token_) first_token_ = std::chrono::steady_clock::now();
  st.text += o.text;
  st.token_ids.insert(st.token_ids.end(), o.token_ids.begin(), o.token_ids.end());
  if (!o.prompt_logprobs.empty()) st.prompt_logprobs = o.prompt_logprobs;
  if (stream_) st.pending_logprobs.insert(st.pending_logprobs.end(), o.logprobs.begin(), o.logprobs.end());
  else st.logprobs.insert(st.logprobs.end(), o.logprobs.begin(), o.logprobs.end());
  if (o.finish_reason && !st.finish) {
    st.finish = o.finish_reason;
    st.stop_reason = o.stop_reason;
    // The engine counts the choice's tokens; fall back to ours.
    st.completion_tokens = o.completion_tokens > 0 ? o.completion_tokens : int(st.token_ids.size());
    usage_.completion_tokens += st.completion_tokens;
    ++finished_choices_;
    if (*o.finish_reason == FinishReason::kError && error_.empty())
      error_ = o.error.empty() ? "the engine failed to complete the request" : o.error;
  }
}

GenerationJob::Step GenerationJob::pump() {
  Step s;
  if (done_) {
    s.done = true;
    return s;
  }
  // The role chunk goes out with the first output, as vLLM sends it: a
  // client timing the first chunk then measures the time to the first token.
  std::vector<std::vector<RequestOutput>> polled(runs_.size());
  bool any = false;
  for (size_t p = 0; p < runs_.size(); ++p) {
    polled[p] = runs_[p].handle->poll();
    any = any || !polled[p].empty();
  }
  if (stream_ && !started_ && any) {
    fmt_->stream_start(int(choices_.size()), choices_, s.sse);
    started_ = true;
  }
  for (size_t p = 0; p < runs_.size(); ++p) {
    Run& run = runs_[p];
    for (RequestOutput& o : polled[p]) {
      if (o.index < 0 || o.index >= n_) continue;  // defensive: never index out of range
      int choice = int(p) * n_ + o.index;
      bool was_finished = choices_[choice].finish.has_value();
      apply(choice, o);
      if (o.finish_reason && !was_finished) {
        ++run.finished;
        usage_.cached_tokens += (o.index == 0) ? o.cached_prompt_tokens : 0;
      }
      if (stream_ && error_.empty()) fmt_->stream_output(choice, o, choices_[choice], usage_, s.sse);
    }
  }
  if (!error_.empty()) {
    // An engine failure: the other choices cannot be trusted to finish.
    abort();
    done_ = true;
    s.done = true;
    ApiError e = ApiError::internal(error_);
    if (stream_) {
      s.sse += sse_event(e.to_json());
      s.sse += kSseDone;
    } else {
      s.response = HttpResponse::json(e.status, e.body());
    }
    LOG_WARN("{}: failed: {}", id(), error_);
    return s;
  }
  if (finished_choices_ < int(choices_.size())) return s;
  done_ = true;
  s.done = true;
  if (stream_) {
    if (fmt_->meta().include_usage) append_sse_event(s.sse, fmt_->usage_chunk(usage_));
    s.sse += kSseDone;
  } else {
    s.response = HttpResponse::json(200, dump_json(fmt_->full_response(choices_, usage_)));
  }
  log_finish();
  return s;
}

void GenerationJob::log_finish() const {
  if (!ctx_.config.log_requests) return;
  using namespace std::chrono;
  auto now = steady_clock::now();
  double total_ms = duration<double, std::milli>(now - t0_).count();
  double ttft_ms = first_token_ ? duration<double, std::milli>(*first_token_ - t0_).count() : 0.0;
  std::string reasons;
  for (const auto& c : choices_) {
    if (!reasons.empty()) reasons += ",";
    reasons += c.finish ? finish_reason_name(*c.finish) : "?";
  }
  LOG_INFO("{}: finished ({}): prompt {} tokens, completion {} tokens, cached {}, ttft {:.1f} ms, total {:.1f} ms",
           id(), reasons, usage_.prompt_tokens, usage_.completion_tokens, usage_.cached_tokens, ttft_ms, total_ms);
}

}  // namespace sable::server
