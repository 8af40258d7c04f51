// Speculative decoding's drafts for the next step (EngineCore::propose_drafts):
// n-gram lookup in the sequence's own history, or DeepSeek-V3's MTP module,
// which also runs over every position the step computed so that its own
// latent cache stays whole (runner/mtp_drafts.cpp). Verification is in
// EngineCore::step (engine_core.cpp) and engine/sampler.h's verify_draft.
#include <algorithm>

#include "core/logging.h"
#include "engine/engine_core.h"
#include "engine/ngram_proposer.h"

namespace sable {

void EngineCore::propose_drafts(const SchedulerOutput& out, const std::vector<int>& computed_before) {
  const SpeculativeConfig& sc = cfg_.speculative;
  // disable_by_batch_size: a batch this large verifies at a loss, so no
  // drafts (the MTP still runs over the step's positions below, keeping its
  // cache whole for when the batch shrinks).
  const bool drafting = sc.disable_by_batch_size == 0 || scheduler_.num_running() < sc.disable_by_batch_size;
  // Drafts a sequence that just sampled may verify next step: the step
  // yields at most drafts + 1 tokens, within max_tokens and the context.
  auto wanted = [&](const Sequence& seq) {
    if (!drafting) return 0;
    const SamplingParams& p = seq.request->req.params;
    int k = std::min(sc.num_speculative_tokens, p.max_tokens - seq.num_generated() - 1);
    k = std::min(k, cfg_.max_model_len - seq.length());
    return std::max(k, 0);
  };
  // A running sequence with one token left to compute decodes next step
  // (after sampling, or a prompt chunk that stopped one short of the end):
  // its drafts follow that token.
  auto decodes_next = [](const Sequence* seq) {
    return seq->status == SeqStatus::kRunning && seq->num_uncomputed() == 1;
  };
  if (sc.method == SpeculativeConfig::Method::kNgram) {
    for (const ScheduledSeq& s : out.scheduled)
      if (decodes_next(s.seq))
        if (const int k = wanted(*s.seq); k > 0)
          s.seq->draft = ngram_propose(s.seq->tokens, sc.prompt_lookup_min, sc.prompt_lookup_max, k);
    return;
  }
  // MTP: every position the step computed whose latent is kept (a chunk's,
  // or the verified token and the accepted drafts) and whose next token is
  // known; the sequences that sampled draft from their last position.
  std::vector<MtpSeq> ms;
  std::vector<Sequence*> who;
  for (size_t k = 0; k < out.scheduled.size(); ++k) {
    Sequence* seq = out.scheduled[k].seq;
    if (seq->status != SeqStatus::kRunning) continue;
    MtpSeq m;
    m.step_seq = int(k);
    m.first = computed_before[k];
    m.num = std::min(seq->num_computed, seq->length() - 1) - m.first;
    if (m.num <= 0) continue;
    m.tokens = &seq->tokens;
    m.block_table = &seq->block_table;
    if (decodes_next(seq)) {
      m.num_drafts = wanted(*seq);  // may be 0
      // The chain writes the MTP's slots up to position first + num + drafts - 2.
      if (m.num_drafts > 1 && !scheduler_.ensure_blocks(seq, m.first + m.num + m.num_drafts - 1)) m.num_drafts = 1;
    }
    ms.push_back(m);
    who.push_back(seq);
  }
  if (ms.empty()) return;
  auto drafts = runner_->propose_mtp(ms);
  if (!drafts.is_ok()) {
    // The step's tokens stand; the next step decodes without drafts.
    LOG_WARN("MTP drafts failed: {}", drafts.status().to_string());
    return;
  }
  for (size_t i = 0; i < who.size(); ++i) who[i]->draft = std::move((*drafts)[i]);
}

}  // namespace sable
