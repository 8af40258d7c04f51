#include "runner/model_runner.h"

#include <algorithm>

#include "core/logging.h"

namespace sable {

int kv_blocks_for_budget(const DeepseekV3Model& model, int64_t bytes, int block_size, DType dtype) {
  const int64_t per_block = int64_t(model.kv_bytes_per_token(dtype)) * block_size;
  return int(std::max<int64_t>(0, bytes / per_block));
}

ModelRunner::ModelRunner(DeepseekV3Model& model, const KvPoolOptions& o) : model_(model) {
  int blocks = o.num_blocks;
  if (blocks <= 0) {
    const int64_t budget = o.memory_bytes > 0 ? o.memory_bytes : (int64_t(1) << 30);
    blocks = kv_blocks_for_budget(model, budget, o.block_size, o.dtype);
  }
  cache_ = model.allocate_kv_cache(blocks, o.block_size, o.dtype);
  LOG_INFO("KV cache: {} blocks of {} tokens ({} tokens, {:.1f} MiB, {} per token)", blocks, o.block_size,
           int64_t(blocks) * o.block_size, double(kv_bytes()) / (1 << 20),
           model.kv_bytes_per_token(o.dtype));
}

size_t ModelRunner::kv_bytes() const {
  size_t b = 0;
  for (const auto& t : cache_.layers) b += t.nbytes();
  return b;
}

Result<Tensor> ModelRunner::run(const std::vector<RunnerSeq>& seqs) {
  ForwardBatch b;
  const int bs = cache_.block_size;
  int max_blocks = 1;
  for (const auto& s : seqs) max_blocks = std::max(max_blocks, int(s.block_table->size()));
  b.max_blocks = max_blocks;
  for (size_t si = 0; si < seqs.size(); ++si) {
    const RunnerSeq& s = seqs[si];
    for (int i = 0; i < s.num_new; ++i) {
      const int pos = s.num_computed + i;
      b.token_ids.push_back((*s.tokens)[size_t(pos)]);
      b.positions.push_back(pos);
      b.token_seq.push_back(int32_t(si));
      b.slot_mapping.push_back((*s.block_table)[size_t(pos / bs)] * bs + pos % bs);
    }
    if (s.need_logits) b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
    b.seq_lens.push_back(s.num_computed + s.num_new);
    for (int i = 0; i < max_blocks; ++i)
      b.block_tables.push_back(i < int(s.block_table->size()) ? (*s.block_table)[size_t(i)] : 0);
  }
  SABLE_ASSIGN_OR_RETURN(Tensor dev, model_.forward(b, cache_));
  if (dev.device() == Device::kCPU) return dev;
  Tensor host = Tensor::empty(DType::F32, dev.shape());
  model_.backend().copy_to_host(dev, host.data());
  return host;
}

void ModelRunner::copy_block(int src, int dst) {
  Backend& be = model_.backend();
  for (Tensor& layer : cache_.layers) {
    Tensor s = layer.rows(src, src + 1), d = layer.rows(dst, dst + 1);
    be.convert(s, d);
  }
}

}  // namespace sable
