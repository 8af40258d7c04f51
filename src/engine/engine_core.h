// The engine's single-threaded core: requests, sequences, the scheduler,
// the runner and the sampler, advanced one step at a time. engine.cpp wraps
// it with the request queue and the engine thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/block_manager.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine/token_trie.h"
#include "runner/model_runner.h"

namespace sable {

class IncrementalDecoder;

struct RequestState {
  GenerateRequest req;
  std::shared_ptr<RequestHandle> handle;
  uint64_t seed = 0;
  std::vector<std::unique_ptr<Sequence>> seqs;  // one per choice (index = choice)
  std::vector<std::unique_ptr<IncrementalDecoder>> decoders;
  std::vector<std::chrono::steady_clock::time_point> last_token_time;
  bool first_token_seen = false;
  bool prefill_counted = false;
  // prompt_logprobs: one per prompt token, filled as the prompt's chunks run
  // (the first token has none: NaN); sent on each choice's first event.
  std::vector<TokenLogprob> prompt_logprobs;
  int finished = 0;
  ~RequestState();
};

// A choice's final output when the engine cannot finish it.
RequestOutput error_output(int choice, int prompt_tokens, const std::string& error);

class EngineCore {
 public:
  EngineCore(const EngineConfig& cfg, DeepseekV3Model& model, std::shared_ptr<const Tokenizer> tok);
  ~EngineCore();

  // Checks a request against the model and the engine's limits.
  Status validate(const GenerateRequest& req) const;
  // Fills params.bad_words_token_ids from params.bad_words with the engine's
  // tokenizer (engine/bad_words.h). Reads only immutable state.
  Status resolve_bad_words(SamplingParams& p) const;
  void add_request(GenerateRequest req, std::shared_ptr<RequestHandle> handle);
  void abort_request(const std::string& id);
  // Ends every unfinished choice of every request with kError and `error`,
  // touching only the requests' handles (after a step threw, the scheduler
  // and the block manager are not trusted); the core must not step again.
  void fail_all(const std::string& error);
  // One step; false when there was nothing to run.
  bool step();
  bool has_work() const { return scheduler_.has_work(); }
  int num_requests() const { return int(requests_.size()); }

  const EngineConfig& config() const { return cfg_; }
  DeepseekV3Model& model() { return model_; }
  EngineMetrics& metrics() { return metrics_; }
  EngineGauges gauges() const;
  const BlockManager& block_manager() const { return blocks_; }
  // Called when a request has finished every choice and left the engine.
  std::function<void(const std::string&)> on_request_done;
  // Called when a choice has freed its blocks, before its final output is
  // pushed: whoever reads the gauges after seeing that output sees them
  // without it.
  std::function<void()> on_gauges_changed;

 private:
  void finish_choice(RequestState& r, Sequence& seq, FinishReason reason, RequestOutput& ev);
  void fork(RequestState& r, Sequence& parent, const float* logits);
  // Appends a sampled token to a sequence and emits its output event.
  void accept_token(RequestState& r, Sequence& seq, int32_t token, float logprob,
                    std::vector<std::pair<int32_t, float>> top);
  void remove_request(const std::string& id);
  // Structured output: fills allowed_ with the tokens that may follow seq's
  // text (its matcher is made at the first generated token) and returns how
  // many; -1 for an unconstrained choice (allowed_ untouched).
  int64_t structured_mask(Sequence& seq);
  // Speculative decoding, after a step's sampling (engine/speculative_drafts.cpp):
  // the drafts of each sequence that decodes next step (Sequence::draft), by
  // n-gram lookup or the MTP module, which also runs over every position the
  // step computed (its own cache). computed_before: each scheduled
  // sequence's num_computed before the step.
  void propose_drafts(const SchedulerOutput& out, const std::vector<int>& computed_before);

  EngineConfig cfg_;
  DeepseekV3Model& model_;
  std::shared_ptr<const Tokenizer> tok_;
  std::unique_ptr<ModelRunner> runner_;
  BlockManager blocks_;
  Scheduler scheduler_;
  EngineMetrics metrics_;
  std::map<std::string, std::unique_ptr<RequestState>> requests_;
  int64_t next_seq_id_ = 0;
  uint64_t arrival_counter_ = 0;
  uint64_t request_counter_ = 0;
  std::optional<int32_t> eos_;
  std::unique_ptr<TokenTrie> trie_;  // built at the first structured-output request
  std::vector<uint8_t> allowed_;
};

// Builds the runner first, so the block manager can be sized from it.
std::unique_ptr<ModelRunner> make_runner(const EngineConfig& cfg, DeepseekV3Model& model);

}  // namespace sable
