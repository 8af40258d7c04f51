#include "engine/engine_core.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "core/logging.h"
#include "core/rng.h"
#include "engine/bad_words.h"
#include "engine/sampler.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/tokenizer.h"

namespace sable {

using Clock = std::chrono::steady_clock;

RequestState::~RequestState() = default;

std::unique_ptr<ModelRunner> make_runner(const EngineConfig& cfg, DeepseekV3Model& model) {
  KvPoolOptions o;
  o.block_size = cfg.block_size;
  o.num_blocks = cfg.num_kv_blocks;
  o.memory_bytes = cfg.kv_cache_memory;
  o.dtype = cfg.kv_cache_dtype.value_or(model.backend().activation_dtype());
  o.gpu_memory_utilization = cfg.gpu_memory_utilization;
  o.max_num_batched_tokens = cfg.max_num_batched_tokens;
  o.max_num_seqs = cfg.max_num_seqs;
  o.max_model_len = cfg.max_model_len;
  o.enforce_eager = cfg.enforce_eager;
  o.num_speculative_tokens = cfg.speculative.enabled() ? cfg.speculative.num_speculative_tokens : 0;
  return std::make_unique<ModelRunner>(model, o);
}

namespace {
EngineConfig resolve(EngineConfig cfg, const DeepseekV3Model& model) {
  if (cfg.max_model_len <= 0) cfg.max_model_len = int(model.config().max_position_embeddings);
  return cfg;
}
}  // namespace

EngineCore::EngineCore(const EngineConfig& cfg, DeepseekV3Model& model, std::shared_ptr<const Tokenizer> tok)
    : cfg_(resolve(cfg, model)),
      model_(model),
      tok_(std::move(tok)),
      runner_(make_runner(cfg_, model)),
      blocks_(runner_->num_blocks(), runner_->block_size(), cfg_.enable_prefix_caching),
      scheduler_(cfg_, blocks_) {
  if (cfg_.speculative.method == SpeculativeConfig::Method::kMtp) runner_->set_speculative(true);
  metrics_.spec_positions = cfg_.speculative.enabled() ? cfg_.speculative.num_speculative_tokens : 0;
  if (tok_ && tok_->eos_id()) eos_ = *tok_->eos_id();
  else if (model.config().eos_token_id) eos_ = int32_t(*model.config().eos_token_id);
  LOG_INFO("engine: max_model_len {}, max_num_seqs {}, max_num_batched_tokens {}, prefix caching {}",
           cfg_.max_model_len, cfg_.max_num_seqs, cfg_.max_num_batched_tokens,
           cfg_.enable_prefix_caching ? "on" : "off");
}

EngineCore::~EngineCore() = default;

Status EngineCore::resolve_bad_words(SamplingParams& p) const {
  if (p.bad_words.empty()) return Status::ok();
  if (!tok_) return invalid_argument("bad_words need a tokenizer; this model has none");
  SABLE_ASSIGN_OR_RETURN(p.bad_words_token_ids, bad_words_token_ids(*tok_, p.bad_words));
  return Status::ok();
}

Status EngineCore::validate(const GenerateRequest& req) const {
  const SamplingParams& p = req.params;
  const int64_t V = model_.config().vocab_size;
  const int P = int(req.prompt_ids.size());
  if (P == 0) return invalid_argument("the prompt is empty");
  for (int32_t id : req.prompt_ids)
    if (id < 0 || id >= V)
      return invalid_argument("token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                              std::to_string(V) + ")");
  if (p.n < 1 || p.n > 128) return invalid_argument("n must be between 1 and 128, got " + std::to_string(p.n));
  if (!(p.temperature >= 0)) return invalid_argument("temperature must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) return invalid_argument("top_p must be in (0, 1]");
  if (p.top_k < -1) return invalid_argument("top_k must be -1 (off), 0 (off) or positive");
  if (!(p.min_p >= 0 && p.min_p <= 1)) return invalid_argument("min_p must be in [0, 1]");
  if (!(p.repetition_penalty > 0 && p.repetition_penalty <= 10))
    return invalid_argument("repetition_penalty must be in (0, 10]");
  if (!(p.presence_penalty >= -2 && p.presence_penalty <= 2)) return invalid_argument("presence_penalty must be in [-2, 2]");
  if (!(p.frequency_penalty >= -2 && p.frequency_penalty <= 2))
    return invalid_argument("frequency_penalty must be in [-2, 2]");
  if (p.logprobs && (*p.logprobs < 0 || *p.logprobs > 20))
    return invalid_argument("logprobs must be between 0 and 20");
  if (p.prompt_logprobs && (*p.prompt_logprobs < 0 || *p.prompt_logprobs > 20))
    return invalid_argument("prompt_logprobs must be between 0 and 20");
  if (p.max_tokens < 1) return invalid_argument("max_tokens must be at least 1");
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens)
    return invalid_argument("min_tokens must be between 0 and max_tokens");
  for (const auto& [t, b] : p.logit_bias)
    if (t < 0 || t >= V) return invalid_argument("logit_bias names token " + std::to_string(t) + " outside the vocabulary");
  for (int32_t t : p.allowed_token_ids)
    if (t < 0 || t >= V)
      return invalid_argument("allowed_token_ids names token " + std::to_string(t) + " outside the vocabulary");
  for (const auto& seq : p.bad_words_token_ids)
    for (int32_t t : seq)
      if (t < 0 || t >= V)
        return invalid_argument("bad_words encode to token " + std::to_string(t) + " outside the model's vocabulary");
  if (!p.bad_words.empty() && p.bad_words_token_ids.empty())
    return invalid_argument(tok_ ? "bad_words were not resolved (Engine::submit does it)"
                                 : "bad_words need a tokenizer; this model has none");
  if (!p.stop.empty() && !tok_) return invalid_argument("stop strings need a tokenizer; this model has none");
  if (p.json_schema && !tok_)
    return invalid_argument("structured output (response_format, guided_json) needs a tokenizer; this model has none");
  if (P >= cfg_.max_model_len)
    return invalid_argument("This model's maximum context length is " + std::to_string(cfg_.max_model_len) +
                            " tokens. However, your prompt has " + std::to_string(P) +
                            " tokens, " + std::to_string(P - cfg_.max_model_len + 1) +
                            " more than fit. Please reduce the length of the prompt.");
  if (P + p.max_tokens > cfg_.max_model_len)
    return invalid_argument("This model's maximum context length is " + std::to_string(cfg_.max_model_len) +
                            " tokens. However, you requested " + std::to_string(P + p.max_tokens) + " tokens (" +
                            std::to_string(P) + " in the prompt, " + std::to_string(p.max_tokens) +
                            " in the completion), " + std::to_string(P + p.max_tokens - cfg_.max_model_len) +
                            " too many. Please reduce the length of the prompt or max_tokens.");
  const int64_t capacity = int64_t(blocks_.num_blocks()) * blocks_.block_size();
  if (P + p.max_tokens > capacity)
    return invalid_argument("this request needs " + std::to_string(P + p.max_tokens) +
                            " tokens of KV cache but the whole cache holds " + std::to_string(capacity) +
                            "; lower max_tokens, or give the cache more memory (--kv-cache-memory, "
                            "--num-kv-blocks, --gpu-memory-utilization)");
  return Status::ok();
}

void EngineCore::add_request(GenerateRequest req, std::shared_ptr<RequestHandle> handle) {
  auto r = std::make_unique<RequestState>();
  r->seed = req.params.seed ? *req.params.seed : mix64(cfg_.seed ^ mix64(++request_counter_));
  r->handle = std::move(handle);
  r->req = std::move(req);
  const int n = r->req.params.n;
  r->seqs.resize(size_t(n));
  r->decoders.resize(size_t(n));
  r->last_token_time.resize(size_t(n));
  auto seq = std::make_unique<Sequence>();
  seq->seq_id = next_seq_id_++;
  seq->request = r.get();
  seq->choice = 0;
  seq->tokens = r->req.prompt_ids;
  seq->prompt_len = int(seq->tokens.size());
  seq->priority = r->req.priority;
  seq->arrival_order = arrival_counter_++;
  seq->fork_pending = n > 1;
  if (r->req.params.prompt_logprobs) {
    for (int32_t t : seq->tokens) {
      TokenLogprob lp;
      lp.token_id = t;
      lp.logprob = std::nanf("");  // the first token has none; the rest are filled as the prompt runs
      r->prompt_logprobs.push_back(std::move(lp));
    }
    seq->needs_prompt_logits = seq->prompt_len > 1;
  }
  scheduler_.add(seq.get());
  r->seqs[0] = std::move(seq);
  const std::string id = r->req.request_id;
  requests_[id] = std::move(r);
}

void EngineCore::abort_request(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  RequestState& r = *it->second;
  for (auto& s : r.seqs) {
    if (!s || s->status == SeqStatus::kFinished) continue;
    RequestOutput ev;
    ev.index = s->choice;
    finish_choice(r, *s, FinishReason::kAbort, ev);
  }
  // A request aborted before its fork never creates the other choices.
  for (int c = 0; c < r.req.params.n; ++c)
    if (!r.seqs[size_t(c)]) {
      RequestOutput ev;
      ev.index = c;
      ev.finish_reason = FinishReason::kAbort;
      ev.prompt_tokens = int(r.req.prompt_ids.size());
      r.handle->push(std::move(ev));
      ++r.finished;
    }
  remove_request(id);
}

RequestOutput error_output(int choice, int prompt_tokens, const std::string& error) {
  RequestOutput ev;
  ev.index = choice;
  ev.finish_reason = FinishReason::kError;
  ev.error = error;
  ev.prompt_tokens = prompt_tokens;
  return ev;
}

void EngineCore::fail_all(const std::string& error) {
  for (auto& [id, r] : requests_) {
    for (int c = 0; c < r->req.params.n; ++c) {
      const Sequence* s = size_t(c) < r->seqs.size() ? r->seqs[size_t(c)].get() : nullptr;
      if (!s || s->status != SeqStatus::kFinished)
        r->handle->push(error_output(c, int(r->req.prompt_ids.size()), error));
    }
    if (on_request_done) on_request_done(id);
  }
}

void EngineCore::remove_request(const std::string& id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  RequestState& r = *it->second;
  const double e2e = std::chrono::duration<double>(Clock::now() - r.req.arrival).count();
  metrics_.e2e_request_latency.observe(e2e);
  metrics_.request_prompt_tokens.observe(double(r.req.prompt_ids.size()));
  requests_.erase(it);
  if (on_request_done) on_request_done(id);
}

void EngineCore::finish_choice(RequestState& r, Sequence& seq, FinishReason reason, RequestOutput& ev) {
  scheduler_.remove(&seq);
  if (on_gauges_changed) on_gauges_changed();
  if (r.decoders[size_t(seq.choice)] && reason != FinishReason::kStop) ev.text += r.decoders[size_t(seq.choice)]->flush();
  ev.finish_reason = reason;
  ev.prompt_tokens = seq.prompt_len;
  ev.completion_tokens = seq.num_generated();
  ev.cached_prompt_tokens = r.seqs[0] ? r.seqs[0]->num_cached_tokens : 0;
  switch (reason) {
    case FinishReason::kStop: ++metrics_.success_stop; break;
    case FinishReason::kLength: ++metrics_.success_length; break;
    case FinishReason::kAbort: ++metrics_.success_abort; break;
    case FinishReason::kError: ++metrics_.success_error; break;
  }
  metrics_.request_generation_tokens.observe(double(seq.num_generated()));
  r.handle->push(std::move(ev));
  ++r.finished;
}

void EngineCore::accept_token(RequestState& r, Sequence& seq, int32_t token, float logprob,
                              std::vector<std::pair<int32_t, float>> top) {
  const SamplingParams& p = r.req.params;
  const auto now = Clock::now();
  if (!r.first_token_seen) {
    r.first_token_seen = true;
    metrics_.time_to_first_token.observe(std::chrono::duration<double>(now - r.req.arrival).count());
  } else if (r.last_token_time[size_t(seq.choice)].time_since_epoch().count() != 0) {
    metrics_.inter_token_latency.observe(
        std::chrono::duration<double>(now - r.last_token_time[size_t(seq.choice)]).count());
  }
  r.last_token_time[size_t(seq.choice)] = now;
  ++metrics_.generation_tokens;
  seq.tokens.push_back(token);

  RequestOutput ev;
  ev.index = seq.choice;
  ev.token_ids.push_back(token);
  if (p.logprobs) ev.logprobs.push_back({token, logprob, std::move(top)});
  const int gen = seq.num_generated();
  if (p.prompt_logprobs && gen == 1) ev.prompt_logprobs = r.prompt_logprobs;
  const bool can_stop = gen >= p.min_tokens;  // min_tokens also holds back stop strings (as vLLM)

  std::optional<FinishReason> finish;
  bool json_done = false;
  if (p.json_schema && tok_) {
    std::string bytes;
    tok_->append_bytes(token, /*skip_special_tokens=*/false, bytes);
    if (!seq.gate) seq.gate.emplace(p.structured_after);
    std::string after;
    if (seq.matcher) {
      // The mask admitted only accepted tokens; a token sampled without the
      // mask (none) would leave the matcher unchanged.
      seq.matcher->accept(bytes);
      json_done = seq.matcher->complete() && !seq.matcher->may_continue();
    } else if (seq.gate->feed(bytes, after)) {
      // The reasoning ended in this token: the document starts after it.
      // What follows the marker in the same token was not masked; it opens
      // the document if it can, else the document starts with the next token.
      seq.matcher.emplace(*p.json_schema);
      JsonMatcher trial = *seq.matcher;
      if (!after.empty() && trial.accept(after)) seq.matcher = std::move(trial);
      json_done = seq.matcher->complete() && !seq.matcher->may_continue();
    }
  }
  // EOS and stop tokens end the choice; their text is not emitted.
  const bool is_eos = eos_ && token == *eos_ && !p.ignore_eos;
  const bool is_stop_token =
      std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
  if (can_stop && (is_eos || is_stop_token)) {
    finish = FinishReason::kStop;
    if (is_stop_token && !is_eos) ev.stop_reason = std::to_string(token);
  } else if (auto& dec = r.decoders[size_t(seq.choice)]) {
    IncrementalDecoder::Step st = dec->push(token);
    ev.text = std::move(st.delta);
    if (st.stopped && can_stop) {
      finish = FinishReason::kStop;
      ev.stop_reason = st.matched_stop;
    }
  }
  if (!finish && json_done) finish = FinishReason::kStop;  // the document is whole: nothing may follow
  if (!finish && (gen >= p.max_tokens || seq.length() >= cfg_.max_model_len)) finish = FinishReason::kLength;
  if (finish) finish_choice(r, seq, *finish, ev);
  else r.handle->push(std::move(ev));
}

void EngineCore::fork(RequestState& r, Sequence& parent, const float* logits) {
  // The other choices start from the parent's prompt, sharing its full
  // blocks; the partial last block is copied (each choice writes its own
  // tokens there).
  const int bs = blocks_.block_size();
  const int full = parent.prompt_len / bs;
  for (int c = 1; c < r.req.params.n; ++c) {
    auto child = std::make_unique<Sequence>();
    child->seq_id = next_seq_id_++;
    child->request = &r;
    child->choice = c;
    child->tokens.assign(parent.tokens.begin(), parent.tokens.begin() + parent.prompt_len);
    child->prompt_len = parent.prompt_len;
    child->priority = parent.priority;
    child->arrival_order = parent.arrival_order;
    child->num_cached_tokens = parent.num_cached_tokens;
    child->block_hashes = parent.block_hashes;
    child->block_hashes.resize(std::min(child->block_hashes.size(), size_t(full)));
    if (tok_ && r.req.params.detokenize)
      r.decoders[size_t(c)] = std::make_unique<IncrementalDecoder>(
          tok_, r.req.params.skip_special_tokens, r.req.params.stop, r.req.params.include_stop_str_in_output);
    bool placed = false;
    if (scheduler_.num_running() < cfg_.max_num_seqs) {
      for (int i = 0; i < full; ++i) {
        blocks_.retain(parent.block_table[size_t(i)]);
        child->block_table.push_back(parent.block_table[size_t(i)]);
      }
      bool ok = true;
      if (parent.prompt_len % bs != 0) {
        int b = blocks_.allocate();
        if (b < 0) ok = false;
        else {
          runner_->copy_block(parent.block_table[size_t(full)], b);
          child->block_table.push_back(b);
        }
      }
      if (ok) {
        child->num_computed = parent.prompt_len;
        child->num_registered_blocks = std::min(parent.num_registered_blocks, full);
        scheduler_.add_running(child.get());
        placed = true;
      } else {
        scheduler_.free_blocks(child.get());
      }
    }
    if (!placed) scheduler_.add(child.get());  // recomputed later (prefix cache helps)
    Sequence* cs = child.get();
    r.seqs[size_t(c)] = std::move(child);
    SamplerRow row{&r.req.params, r.seed, c, &cs->tokens, cs->prompt_len, eos_};
    if (structured_mask(*cs) >= 0) row.allowed = &allowed_;
    SampleResult s = sample_token(logits, model_.config().vocab_size, row);
    // A child left waiting keeps its first token; it is computed on admission.
    accept_token(r, *cs, s.token, s.logprob, std::move(s.top));
  }
  parent.fork_pending = false;
}

bool EngineCore::step() {
  SchedulerOutput out = scheduler_.schedule();
  metrics_.num_preemptions = scheduler_.preemptions;
  metrics_.prefix_cache_queries = scheduler_.cache_queries;
  metrics_.prefix_cache_hits = scheduler_.cache_hits;
  if (out.empty()) return false;
  ++metrics_.steps;

  std::vector<RunnerSeq> rs;
  std::vector<Sequence*> sampling;
  struct PromptRows {
    Sequence* seq;
    int first_pos, count;  // logits of positions first_pos.. predict the prompt tokens after them
  };
  std::vector<PromptRows> prompt_rows;
  rs.reserve(out.scheduled.size());
  for (const ScheduledSeq& s : out.scheduled) {
    RunnerSeq x;
    x.tokens = &s.seq->tokens;
    x.num_computed = s.seq->num_computed;
    x.num_new = s.num_tokens;
    x.block_table = &s.seq->block_table;
    x.need_logits = s.seq->num_computed + s.num_tokens == s.seq->length();
    if (x.need_logits && s.num_draft > 0) x.draft = &s.seq->draft;  // the scheduler trimmed it to num_draft
    if (x.need_logits) sampling.push_back(s.seq);
    if (s.seq->needs_prompt_logits) {
      x.prompt_logits = std::max(0, std::min(x.num_computed + x.num_new, s.seq->prompt_len - 1) - x.num_computed);
      if (x.prompt_logits > 0) prompt_rows.push_back({s.seq, x.num_computed, x.prompt_logits});
    }
    rs.push_back(x);
  }
  // Logits stay where the model left them: a backend with its own sampler
  // sends back token ids only (the [N, vocab] F32 copy and N host passes over
  // the vocabulary cost more than the decode step at batch 32).
  auto logits = runner_->run_device(rs);
  if (!logits.is_ok()) {
    // A failed step fails its requests, not the engine.
    LOG_ERROR("step failed: {}", logits.status().to_string());
    std::vector<std::string> ids;
    for (const ScheduledSeq& s : out.scheduled) ids.push_back(s.seq->request->req.request_id);
    for (const auto& id : ids) {
      auto it = requests_.find(id);
      if (it == requests_.end()) continue;
      for (auto& sq : it->second->seqs)
        if (sq && sq->status != SeqStatus::kFinished) {
          RequestOutput ev;
          ev.index = sq->choice;
          ev.error = logits.status().message();
          finish_choice(*it->second, *sq, FinishReason::kError, ev);
        }
      if (it->second->finished >= it->second->req.params.n) remove_request(id);
    }
    return true;
  }
  // Before the step's sampling moves them: where each sequence started.
  std::vector<int> computed_before(out.scheduled.size());
  for (size_t k = 0; k < out.scheduled.size(); ++k) computed_before[k] = out.scheduled[k].seq->num_computed;
  scheduler_.on_step_done(out);

  const int64_t V = model_.config().vocab_size;
  Backend& be = model_.backend();
  const bool on_host = logits->device() == Device::kCPU;
  // The sampling rows: each sampling sequence's last token's, then one per
  // draft it verifies.
  std::vector<int64_t> row0(sampling.size() + 1, 0);
  for (size_t i = 0; i < sampling.size(); ++i) row0[i + 1] = row0[i] + 1 + int64_t(sampling[i]->draft.size());
  const int64_t sampling_rows = row0[sampling.size()];
  // Prompt logprobs: the rows after the sampling ones.
  int64_t prow = sampling_rows;
  std::vector<float> prompt_host;
  for (const PromptRows& pr : prompt_rows) {
    RequestState& r = *pr.seq->request;
    const float* rows = nullptr;
    if (on_host) {
      rows = logits->ptr<float>() + prow * V;
    } else {
      prompt_host.resize(size_t(pr.count * V));
      be.copy_to_host(logits->rows(prow, prow + pr.count), prompt_host.data());
      rows = prompt_host.data();
    }
    for (int i = 0; i < pr.count; ++i) {
      const int pos = pr.first_pos + i + 1;  // the prompt token this row predicts
      r.prompt_logprobs[size_t(pos)] =
          token_logprob(rows + int64_t(i) * V, V, pr.seq->tokens[size_t(pos)], *r.req.params.prompt_logprobs);
    }
    if (pr.first_pos + pr.count >= pr.seq->prompt_len - 1) pr.seq->needs_prompt_logits = false;
    prow += pr.count;
  }
  // Rows the backend draws itself (device_sampling_row); the others copy
  // their one row of logits to the host sampler.
  std::vector<int32_t> drawn(static_cast<size_t>(sampling_rows), -1);  // the backend writes every row
  std::vector<char> on_device(sampling.size(), 0);                     // the sequences whose draws are kept
  if (!on_host && !sampling.empty()) {
    std::vector<TokenSamplingRow> rows(static_cast<size_t>(sampling_rows));  // unused rows stay greedy
    bool any = false;
    for (size_t i = 0; i < sampling.size(); ++i) {
      const Sequence& seq = *sampling[i];
      const RequestState& r = *seq.request;
      if (seq.fork_pending) continue;  // the other choices sample from this row on the host
      SamplerRow row{&r.req.params, r.seed, seq.choice, &seq.tokens, seq.prompt_len, eos_};
      auto d = device_sampling_row(row);
      if (d) {
        // Row j verifies draft j (the backend's rejection sampling, or a
        // greedy row's argmax) as the j-th token from here: its step.
        for (int64_t j = 0; j < row0[i + 1] - row0[i]; ++j) {
          TokenSamplingRow& x = rows[size_t(row0[i] + j)];
          x = *d;
          x.step = d->step + j;
          if (j < int64_t(seq.draft.size())) x.draft = seq.draft[size_t(j)];
        }
        on_device[i] = 1;
        any = true;
      }
    }
    // Only the sampling rows (the prompt logprobs rows follow them).
    const Tensor sample_logits = prompt_rows.empty() ? *logits : logits->rows(0, sampling_rows);
    if (any && !be.sample_tokens(sample_logits, rows, drawn.data())) std::fill(on_device.begin(), on_device.end(), 0);
  }
  std::vector<float> host_row;
  std::vector<std::string> done;
  for (size_t i = 0; i < sampling.size(); ++i) {
    Sequence& seq = *sampling[i];
    RequestState& r = *seq.request;
    if (!r.prefill_counted) {
      r.prefill_counted = true;
      metrics_.prompt_tokens += uint64_t(seq.prompt_len);
      if (tok_ && r.req.params.detokenize && !r.decoders[0])
        r.decoders[0] = std::make_unique<IncrementalDecoder>(tok_, r.req.params.skip_special_tokens,
                                                             r.req.params.stop, r.req.params.include_stop_str_in_output);
    }
    // Row j verifies draft j (j < drafts) or, past the accepted drafts, gives
    // the next token: the first rejected draft's replacement or, all accepted,
    // the bonus token. Tokens are taken one at a time, so that penalties,
    // stop conditions and structured output see each accepted one.
    const std::vector<int32_t> draft = std::move(seq.draft);
    seq.draft.clear();
    const int nd = int(draft.size());
    if (nd > 0) {
      ++metrics_.spec_num_drafts;
      metrics_.spec_num_draft_tokens += uint64_t(nd);
    }
    int accepted = 0;
    for (int j = 0; j <= nd; ++j) {
      const int64_t row_index = row0[i] + j;
      const float* row_logits = nullptr;
      if (on_host) {
        row_logits = logits->ptr<float>() + row_index * V;
      } else if (!on_device[i]) {
        host_row.resize(size_t(V));
        be.copy_to_host(logits->rows(row_index, row_index + 1), host_row.data());
        row_logits = host_row.data();
      }
      SampleResult s;
      if (row_logits) {
        SamplerRow row{&r.req.params, r.seed, seq.choice, &seq.tokens, seq.prompt_len, eos_};
        const int64_t num_allowed = structured_mask(seq);
        if (num_allowed >= 0) row.allowed = &allowed_;
        if (num_allowed == 0) {
          // No token continues the document (its depth limit): end the choice here.
          LOG_WARN("{}: structured output cannot continue after {} tokens; finishing", r.req.request_id,
                   seq.num_generated());
          RequestOutput ev;
          ev.index = seq.choice;
          finish_choice(r, seq, FinishReason::kStop, ev);
          break;
        }
        s = j < nd ? verify_draft(row_logits, V, row, draft[size_t(j)]) : sample_token(row_logits, V, row);
      } else {
        s.token = drawn[size_t(row_index)];  // no logprob: the row asked for none
        s.draft_accepted = j < nd && s.token == draft[size_t(j)];
      }
      const bool forking = seq.fork_pending;
      accept_token(r, seq, s.token, s.logprob, std::move(s.top));
      if (forking) fork(r, seq, row_logits);
      if (seq.status == SeqStatus::kFinished || j == nd || !s.draft_accepted) break;
      ++accepted;
      if (j < EngineMetrics::kMaxSpecPositions) ++metrics_.spec_accepted_per_pos[size_t(j)];
    }
    metrics_.spec_num_accepted_tokens += uint64_t(accepted);
    // The accepted drafts' latents are in the cache (the rejected ones'
    // slots are written over later).
    if (seq.status != SeqStatus::kFinished) seq.num_computed += accepted;
    if (r.finished >= r.req.params.n) done.push_back(r.req.request_id);
  }
  if (cfg_.speculative.enabled()) propose_drafts(out, computed_before);
  for (const auto& id : done) remove_request(id);
  return true;
}

int64_t EngineCore::structured_mask(Sequence& seq) {
  const auto& schema = seq.request->req.params.json_schema;
  if (!schema || !tok_) return -1;
  if (!seq.gate) seq.gate.emplace(seq.request->req.params.structured_after);
  if (!seq.gate->open()) return -1;  // the model is still reasoning: no constraint yet
  if (!seq.matcher) seq.matcher.emplace(*schema);
  if (!trie_) {
    const auto t0 = Clock::now();
    trie_ = std::make_unique<TokenTrie>(*tok_, model_.config().vocab_size);
    LOG_INFO("structured output: vocabulary trie of {} nodes built in {:.0f} ms", trie_->num_nodes(),
             std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  int64_t count = trie_->allowed_tokens(*seq.matcher, allowed_);
  // A choice that may end here or go on (guided_choice ["A", "AB"] after
  // "A"): ending is the EOS token.
  if (eos_ && seq.matcher->may_continue() && !allowed_[size_t(*eos_)]) {
    allowed_[size_t(*eos_)] = 1;
    ++count;
  }
  return count;
}

EngineGauges EngineCore::gauges() const {
  EngineGauges g;
  g.num_requests_running = scheduler_.num_running();
  g.num_requests_waiting = scheduler_.num_waiting();
  g.kv_cache_usage = blocks_.usage();
  g.num_kv_blocks = blocks_.num_blocks();
  g.num_free_kv_blocks = blocks_.num_free_blocks();
  return g;
}

}  // namespace sable
