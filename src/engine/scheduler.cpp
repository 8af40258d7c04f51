#include "engine/scheduler.h"

#include <algorithm>
#include <cassert>

namespace sable {

Scheduler::Scheduler(const EngineConfig& cfg, BlockManager& blocks) : cfg_(cfg), blocks_(blocks) {}

namespace {
bool waits_before(const Sequence* a, const Sequence* b) {
  if (a->priority != b->priority) return a->priority < b->priority;
  return a->arrival_order < b->arrival_order;
}
}  // namespace

void Scheduler::add(Sequence* seq) {
  seq->status = SeqStatus::kWaiting;
  auto it = std::upper_bound(waiting_.begin(), waiting_.end(), seq, waits_before);
  waiting_.insert(it, seq);
}

void Scheduler::add_running(Sequence* seq) {
  seq->status = SeqStatus::kRunning;
  running_.push_back(seq);
}

void Scheduler::remove(Sequence* seq) {
  auto r = std::find(running_.begin(), running_.end(), seq);
  if (r != running_.end()) running_.erase(r);
  auto w = std::find(waiting_.begin(), waiting_.end(), seq);
  if (w != waiting_.end()) waiting_.erase(w);
  free_blocks(seq);
  seq->status = SeqStatus::kFinished;
}

void Scheduler::free_blocks(Sequence* seq) {
  for (auto it = seq->block_table.rbegin(); it != seq->block_table.rend(); ++it) blocks_.release(*it);
  seq->block_table.clear();
  seq->num_computed = 0;
  seq->num_registered_blocks = 0;
}

void Scheduler::update_hashes(Sequence* seq) {
  const int bs = blocks_.block_size();
  const int full = seq->length() / bs;
  while (int(seq->block_hashes.size()) < full) {
    const int i = int(seq->block_hashes.size());
    uint64_t parent = i == 0 ? 0 : seq->block_hashes[size_t(i - 1)];
    seq->block_hashes.push_back(BlockManager::chain_hash(parent, seq->tokens.data() + i * bs, bs));
  }
}

bool Scheduler::ensure_blocks(Sequence* seq, int num_tokens) {
  const int bs = blocks_.block_size();
  const int need = (num_tokens + bs - 1) / bs;
  if (need - int(seq->block_table.size()) > blocks_.num_free_blocks()) return false;
  while (int(seq->block_table.size()) < need) seq->block_table.push_back(blocks_.allocate());
  return true;
}

// On (re)admission: reuse cached full blocks of the sequence's prefix. At
// least one token is always left to compute, so that the step produces
// the logits to sample from.
void Scheduler::admit_cached_prefix(Sequence* seq) {
  assert(seq->block_table.empty() && seq->num_computed == 0);
  seq->num_cached_tokens = 0;
  if (!blocks_.prefix_caching() || seq->needs_prompt_logits) return;
  const int bs = blocks_.block_size();
  update_hashes(seq);
  const int max_blocks = (seq->length() - 1) / bs;
  int matched = 0;
  for (; matched < max_blocks; ++matched) {
    int b = blocks_.lookup(seq->block_hashes[size_t(matched)]);
    if (b < 0) break;
    blocks_.retain(b);
    seq->block_table.push_back(b);
  }
  seq->num_computed = matched * bs;
  seq->num_registered_blocks = matched;
  if (seq->num_generated() == 0) seq->num_cached_tokens = matched * bs;
}

void Scheduler::preempt(Sequence* seq, SchedulerOutput& out) {
  auto r = std::find(running_.begin(), running_.end(), seq);
  assert(r != running_.end());
  running_.erase(r);
  free_blocks(seq);
  seq->draft.clear();
  ++preemptions;
  out.preempted.push_back(seq);
  // Back to the queue, ahead of everything of its priority that arrived later.
  add(seq);
}

Sequence* Scheduler::preemption_victim() const {
  assert(!running_.empty());
  if (!cfg_.priority_scheduling) return running_.back();
  // vLLM's priority policy: max over the running of (priority, arrival).
  return *std::max_element(running_.begin(), running_.end(),
                           [](const Sequence* a, const Sequence* b) { return waits_before(a, b); });
}

int Scheduler::chunk_limit(const Sequence* seq, int prompt_rows) {
  const int n = seq->num_uncomputed();
  return seq->needs_prompt_logits ? std::min(n, prompt_rows) : n;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int budget = cfg_.max_num_batched_tokens;
  int prompt_rows = std::max(1, std::min(kPromptLogitsMaxChunk, cfg_.max_num_seqs));

  // 1. Running sequences, oldest first.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    const int n = std::min(chunk_limit(seq, prompt_rows), budget);
    if (n == 0) {  // no prompt-logits rows left this step: it waits for the next
      ++i;
      continue;
    }
    // Speculative decoding: a decoding sequence's drafts run with its token,
    // as far as the budget and free blocks allow (a draft never
    // preempts anything: without room it is dropped).
    int nd = 0;
    if (!seq->draft.empty() && n == seq->num_uncomputed() && n == 1 && !seq->needs_prompt_logits) {
      // (The proposer capped them by max_tokens and the context already.)
      nd = std::max(0, std::min(int(seq->draft.size()), budget - n));
      if (nd > 0 && !ensure_blocks(seq, seq->num_computed + n + nd)) nd = 0;
    }
    seq->draft.resize(size_t(nd));
    bool ok = ensure_blocks(seq, seq->num_computed + n);
    while (!ok) {
      // Out of blocks: preempt a running sequence (possibly this one).
      Sequence* victim = preemption_victim();
      // Un-schedule it if it was already scheduled this step.
      auto s = std::find_if(out.scheduled.begin(), out.scheduled.end(),
                            [&](const ScheduledSeq& x) { return x.seq == victim; });
      if (s != out.scheduled.end()) {
        budget += s->num_tokens + s->num_draft;
        if (victim->needs_prompt_logits) prompt_rows += s->num_tokens;
        out.num_tokens -= s->num_tokens + s->num_draft;
        out.scheduled.erase(s);
      }
      // Under priority scheduling the victim may come before seq, which then
      // moves up one place.
      const size_t at = size_t(std::find(running_.begin(), running_.end(), victim) - running_.begin());
      preempt(victim, out);
      if (victim == seq) break;
      if (at < i) --i;
      ok = ensure_blocks(seq, seq->num_computed + n);
    }
    if (!ok) continue;  // seq itself was preempted; running_[i] is now the next one
    out.scheduled.push_back({seq, n, nd});
    out.num_tokens += n + nd;
    budget -= n + nd;
    if (seq->needs_prompt_logits) prompt_rows -= n;
    ++i;
  }

  // 2. Waiting sequences, by priority then arrival, while there is room.
  // Nothing is admitted in a step that had to preempt: memory is short.
  if (out.preempted.empty()) {
    while (!waiting_.empty() && budget > 0 && int(running_.size()) < cfg_.max_num_seqs) {
      Sequence* seq = waiting_.front();
      admit_cached_prefix(seq);
      const int n = std::min(chunk_limit(seq, prompt_rows), budget);
      if (n == 0 || !ensure_blocks(seq, seq->num_computed + n)) {
        // No prompt-logits rows left this step, or not enough memory now: it
        // (and everything behind it) keeps waiting, holding no blocks.
        free_blocks(seq);
        break;
      }
      if (blocks_.prefix_caching()) {
        cache_queries += uint64_t(seq->length());
        cache_hits += uint64_t(seq->num_computed);
      }
      waiting_.erase(waiting_.begin());
      seq->status = SeqStatus::kRunning;
      running_.push_back(seq);
      out.scheduled.push_back({seq, n});
      out.num_tokens += n;
      budget -= n;
      if (seq->needs_prompt_logits) prompt_rows -= n;
    }
  }
  return out;
}

void Scheduler::on_step_done(const SchedulerOutput& out) {
  const int bs = blocks_.block_size();
  for (const ScheduledSeq& s : out.scheduled) {
    Sequence* seq = s.seq;
    seq->num_computed += s.num_tokens;
    if (!blocks_.prefix_caching()) continue;
    // Offer every newly completed, computed block to the prefix cache.
    update_hashes(seq);
    const int full = std::min(seq->num_computed / bs, int(seq->block_hashes.size()));
    for (; seq->num_registered_blocks < full; ++seq->num_registered_blocks) {
      const int i = seq->num_registered_blocks;
      blocks_.register_block(seq->block_table[size_t(i)], seq->block_hashes[size_t(i)]);
    }
  }
}

}  // namespace sable
