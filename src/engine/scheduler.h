// The scheduler: which sequences run in the next step and how many of their
// tokens. vLLM V1's unified policy: every step has a budget of
// max_num_batched_tokens tokens and max_num_seqs sequences; running
// sequences go first (decodes, and the next chunk of a prompt being
// prefilled), then waiting ones by priority and arrival, each taking a chunk
// of its prompt within what remains of the budget. When blocks run out, a
// running sequence is preempted (preemption_victim: the newest admitted, or
// under priority scheduling the lowest priority's): its blocks are freed and
// it goes back to the queue, ahead of its priority's later arrivals, to be
// recomputed later.
#pragma once

#include <deque>
#include <functional>
#include <vector>

#include "engine/block_manager.h"
#include "engine/engine_config.h"
#include "engine/sequence.h"

namespace sable {

// Most prompt tokens that compute logits rows for prompt logprobs in one
// step, all sequences together, and at most max_num_seqs (the memory plan
// holds that many rows of logits): each is a row of vocabulary floats
// (256 x 129,280 x 4 bytes = 132 MB for DeepSeek-V3).
constexpr int kPromptLogitsMaxChunk = 256;

struct ScheduledSeq {
  Sequence* seq;
  int num_tokens;  // tokens of seq->tokens from seq->num_computed to run now
  int num_draft = 0;  // then seq->draft's tokens (speculative decoding; a decode step only)
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> scheduled;
  std::vector<Sequence*> preempted;
  int num_tokens = 0;  // drafts included
  bool empty() const { return scheduled.empty(); }
};

class Scheduler {
 public:
  Scheduler(const EngineConfig& cfg, BlockManager& blocks);

  void add(Sequence* seq);              // to waiting
  void add_running(Sequence* seq);      // a forked child that already has its blocks
  // Removes a sequence wherever it is and frees its blocks.
  void remove(Sequence* seq);
  SchedulerOutput schedule();
  // After the step: the sequences' num_computed advance by num_tokens (the
  // engine adds the drafts it accepts); full blocks are offered to the
  // prefix cache.
  void on_step_done(const SchedulerOutput& out);

  int num_running() const { return int(running_.size()); }
  int num_waiting() const { return int(waiting_.size()); }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  const std::deque<Sequence*>& running() const { return running_; }

  // Prefix-cache statistics of admissions (prompt tokens looked up / found).
  uint64_t cache_queries = 0, cache_hits = 0;
  uint64_t preemptions = 0;

  // Makes seq's block table cover `num_tokens` tokens; false if blocks ran out.
  bool ensure_blocks(Sequence* seq, int num_tokens);
  // Frees a sequence's blocks (in reverse, so its tail is evicted first).
  void free_blocks(Sequence* seq);
  // Fills seq->block_hashes for every full block of its tokens.
  void update_hashes(Sequence* seq);

 private:
  void admit_cached_prefix(Sequence* seq);
  // Tokens the sequence may compute this step, before the token budget,
  // with prompt_rows of the step's prompt-logits rows left.
  static int chunk_limit(const Sequence* seq, int prompt_rows);
  void preempt(Sequence* seq, SchedulerOutput& out);
  // The running sequence to preempt when blocks run out.
  Sequence* preemption_victim() const;

  EngineConfig cfg_;
  BlockManager& blocks_;
  std::deque<Sequence*> running_;  // in admission order: newest at the back
  std::vector<Sequence*> waiting_; // kept sorted by (priority, arrival)
};

}  // namespace sable
