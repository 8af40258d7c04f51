// vLLM's --speculative-config flag (a JSON object), as Sable takes it.
//
// Accepted forms (vLLM's own; the checkpoint is DeepSeek-V3, whose one MTP
// layer is the only draft model Sable runs):
//   '{"method": "deepseek_mtp", "num_speculative_tokens": 1}'   (also "mtp", vLLM's newer name)
//   '{"method": "mtp", "model": "<the target's path>", "num_speculative_tokens": 2}'
//   '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4, "prompt_lookup_min": 2}'
//   '{"model": "ngram", "num_speculative_tokens": 3}'   (vLLM's older spelling of method ngram; "[ngram]" too)
//
// Rules, and where they come from:
//  - method: "deepseek_mtp"/"mtp" -> kMtp, "ngram"/"[ngram]" -> kNgram (vLLM
//    folds both pairs the same way). Every other method vLLM has (eagle,
//    eagle3, medusa, mlp_speculator, draft_model, suffix, ...) is an error:
//    each needs a separate draft model or library Sable does not have.
//  - method absent: vLLM then treats `model` as a separate draft model
//    ("draft_model"), which Sable does not run, so that is an error unless
//    the model is "ngram"; with neither method nor model vLLM fails too
//    ("num_speculative_tokens was provided but without speculative model").
//  - num_speculative_tokens: required, an integer in [1, 16]. vLLM has no
//    upper bound; 16 keeps the verify batch (k + 1 tokens a sequence) small.
//    vLLM can default it from the draft's n_predict when a draft model is
//    loaded; Sable asks for it instead (DeepSeek-V3's n_predict would be 1).
//  - model: for mtp any string (vLLM lets users name the target checkpoint
//    there; Sable always uses the loaded checkpoint's MTP layer, so it is
//    ignored). For ngram only "ngram"/"[ngram]"; any other model is an error.
//  - ngram window, vLLM's rule: neither prompt_lookup_min nor _max given ->
//    both 5 (vLLM's default); one given -> the other equals it. Both must be
//    integers >= 1 with min <= max; Sable also caps max at 64 (the proposer
//    keeps a max-sized table on the stack, and longer n-grams add nothing).
//    For mtp they are type-checked and ignored, as vLLM ignores them.
//  - null for any key means absent (Python's None in vLLM).
//  - Keys vLLM has that do not change what Sable computes (they tune a
//    separate draft model or its padding) are type-checked and ignored:
//    draft_tensor_parallel_size, quantization, max_model_len, revision,
//    code_revision, enforce_eager and disable_padded_drafter_batch. Any
//    other key is an error naming it
//    and the accepted keys: a setting silently ignored (say
//    rejection_sample_method or draft_sample_method) would make Sable behave
//    unlike what the user asked for, with no sign of it.
//  - disable_by_batch_size: an integer >= 2 (vLLM's bound). A step proposes
//    no drafts while this many sequences or more are running: at large
//    batches the decode step is compute-bound, and verifying k + 1 tokens a
//    sequence costs more than the accepted drafts save. vLLM's v0 rule
//    (running queue size >= the value); absent -> never disabled.
#pragma once

#include <string>

#include "core/status.h"

namespace sable {

struct SpeculativeConfig {
  enum class Method { kNone, kMtp, kNgram };
  Method method = Method::kNone;
  int num_speculative_tokens = 0;                    // drafts proposed per step and sequence (k)
  int prompt_lookup_min = 1, prompt_lookup_max = 0;  // ngram only (vLLM's names); set for kNgram
  int disable_by_batch_size = 0;                     // no drafts while >= this many run; 0: always draft
  bool enabled() const { return method != Method::kNone; }
};

// Parses the flag's JSON text. "" (or only whitespace) -> disabled. Errors
// are kInvalidArgument, their messages start with "--speculative-config: ".
Result<SpeculativeConfig> parse_speculative_config(const std::string& json);

// "mtp", "ngram", "none".
const char* speculative_method_name(SpeculativeConfig::Method m);

}  // namespace sable
