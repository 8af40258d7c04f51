// One sequence through the model with its own small paged cache: the
// incremental-decoding path of `sable score` and of tests, without the
// engine. Blocks are assigned in order, so its block table is 0, 1, 2, ...
#pragma once

#include <vector>

#include "model/deepseek_v3.h"

namespace sable {

class SingleSequenceRunner {
 public:
  SingleSequenceRunner(DeepseekV3Model& model, int max_len, int block_size = 16);

  // Appends tokens to the sequence and runs them; returns float32 logits on
  // the host, [n, vocab] for every new token when all_logits, else [1, vocab]
  // for the last one.
  Result<Tensor> step(const std::vector<int32_t>& tokens, bool all_logits);
  int length() const { return len_; }

 private:
  DeepseekV3Model& model_;
  KvCache cache_;
  int max_len_, len_ = 0;
};

// Greedy continuation of a prompt for max_tokens tokens (no EOS stop).
Result<std::vector<int32_t>> greedy_generate(DeepseekV3Model& model, const std::vector<int32_t>& prompt,
                                             int max_tokens);

}  // namespace sable
