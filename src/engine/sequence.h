// One sequence the engine decodes: a choice of a request, with its tokens,
// how many of them are in the KV cache, and its block table.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/json_matcher.h"
#include "engine/reasoning_gate.h"
#include "engine/request.h"

namespace sable {

struct RequestState;  // engine_core.h

enum class SeqStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t seq_id = 0;
  RequestState* request = nullptr;
  int choice = 0;                 // index among the request's n choices
  std::vector<int32_t> tokens;    // prompt + generated
  int prompt_len = 0;
  int num_computed = 0;           // tokens whose latent KV is in the cache
  std::vector<int> block_table;
  // Chained prefix hash of each full block of `tokens`, computed lazily.
  std::vector<uint64_t> block_hashes;
  int num_registered_blocks = 0;  // leading full blocks offered to the prefix cache
  int num_cached_tokens = 0;      // prompt tokens found in the prefix cache at admission
  SeqStatus status = SeqStatus::kWaiting;
  int priority = 0;
  uint64_t arrival_order = 0;     // FCFS tie-break
  // A request with n > 1 runs one sequence through the prompt, then forks.
  bool fork_pending = false;
  // prompt_logprobs: the prompt's logits rows are still to come. Such a
  // sequence skips the prefix cache (cached tokens have no logits) and its
  // chunks share a per-step budget of rows (kPromptLogitsMaxChunk, scheduler.h).
  bool needs_prompt_logits = false;
  // Structured output: whether it applies yet (set at the first generated
  // token; closed while the model reasons), and the state of the generated
  // text against the schema (set when the gate opens).
  std::optional<ReasoningGate> gate;
  std::optional<JsonMatcher> matcher;
  // Speculative decoding: tokens proposed to follow `tokens`, verified by the
  // next step (empty: none). Never in `tokens` or the prefix hashes until
  // accepted.
  std::vector<int32_t> draft;

  int length() const { return int(tokens.size()); }
  int num_generated() const { return int(tokens.size()) - prompt_len; }
  int num_uncomputed() const { return int(tokens.size()) - num_computed; }
};

}  // namespace sable
