// The model runner: owns the KV pool and turns the scheduled sequences of a
// step into a ForwardBatch, runs the model, and hands back logits for the
// sequences that sample this step. It sees sequences only as token lists
// with block tables (RunnerSeq); scheduling stays in engine/.
#pragma once

#include <memory>
#include <vector>

#include "model/deepseek_v3.h"

namespace sable {

struct RunnerSeq {
  const std::vector<int32_t>* tokens = nullptr;
  int num_computed = 0;   // tokens already in the cache
  int num_new = 0;        // tokens to run now, from num_computed
  const std::vector<int>* block_table = nullptr;
  bool need_logits = false;  // sample after this step (last token's logits)
};

struct KvPoolOptions {
  int block_size = 16;
  int num_blocks = 0;          // explicit count (--num-kv-blocks)
  int64_t memory_bytes = 0;    // budget (--kv-cache-memory); 0: a default
  DType dtype = DType::F32;
};

class ModelRunner {
 public:
  ModelRunner(DeepseekV3Model& model, const KvPoolOptions& opts);

  int num_blocks() const { return cache_.num_blocks; }
  int block_size() const { return cache_.block_size; }
  size_t kv_bytes() const;
  DeepseekV3Model& model() { return model_; }

  // Runs one step. Returns float32 logits on the host, one row per sequence
  // with need_logits, in order.
  Result<Tensor> run(const std::vector<RunnerSeq>& seqs);
  // Copies one block's cache contents (all layers): copy-on-write for forks.
  void copy_block(int src, int dst);

 private:
  DeepseekV3Model& model_;
  KvCache cache_;
};

// Blocks that fit a budget for this model and dtype.
int kv_blocks_for_budget(const DeepseekV3Model& model, int64_t bytes, int block_size, DType dtype);

}  // namespace sable
