#include "runner/single_sequence.h"

#include <algorithm>

namespace sable {

SingleSequenceRunner::SingleSequenceRunner(DeepseekV3Model& model, int max_len, int block_size)
    : model_(model), max_len_(max_len) {
  const int blocks = (max_len + block_size - 1) / block_size;
  const DType dt = model.backend().activation_dtype();
  cache_ = model.allocate_kv_cache(blocks, block_size, dt);
}

Result<Tensor> SingleSequenceRunner::step(const std::vector<int32_t>& tokens, bool all_logits) {
  const int n = int(tokens.size());
  if (n == 0) return invalid_argument("no tokens to run");
  if (len_ + n > max_len_)
    return invalid_argument("sequence of " + std::to_string(len_ + n) + " tokens exceeds the maximum of " +
                            std::to_string(max_len_));
  ForwardBatch b;
  b.token_ids = tokens;
  b.max_blocks = cache_.num_blocks;
  b.block_size = cache_.block_size;
  for (int i = 0; i < n; ++i) {
    b.positions.push_back(len_ + i);
    b.token_seq.push_back(0);
    b.slot_mapping.push_back(len_ + i);  // block table is the identity
  }
  b.seq_lens.push_back(len_ + n);
  for (int i = 0; i < cache_.num_blocks; ++i) b.block_tables.push_back(i);
  if (all_logits) for (int i = 0; i < n; ++i) b.logits_indices.push_back(i);
  else b.logits_indices.push_back(n - 1);
  SABLE_ASSIGN_OR_RETURN(Tensor dev, model_.forward(b, cache_));
  len_ += n;
  Tensor host = Tensor::empty(DType::F32, dev.shape());
  model_.backend().copy_to_host(dev, host.data());
  return host;
}

Result<std::vector<int32_t>> greedy_generate(DeepseekV3Model& model, const std::vector<int32_t>& prompt,
                                             int max_tokens) {
  SingleSequenceRunner r(model, int(prompt.size()) + max_tokens);
  std::vector<int32_t> out;
  std::vector<int32_t> next = prompt;
  const int64_t V = model.config().vocab_size;
  for (int i = 0; i < max_tokens; ++i) {
    SABLE_ASSIGN_OR_RETURN(Tensor logits, r.step(next, false));
    const float* l = logits.ptr<float>();
    int32_t best = int32_t(std::max_element(l, l + V) - l);
    out.push_back(best);
    next = {best};
  }
  return out;
}

}  // namespace sable
