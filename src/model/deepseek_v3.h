// DeepSeek-V3 forward (DeepseekV3ForCausalLM), written as calls to the
// backend op table, over a batch of sequence chunks and the paged latent
// cache. Decomposition and names follow the reference.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "model/config.h"
#include "model/deepseek_v3_weights.h"
#include "model/forward_batch.h"
#include "model/rope_scaling.h"

namespace sable {

class DeepseekV3Model {
 public:
  static Result<std::unique_ptr<DeepseekV3Model>> load(WeightSource& src, Backend& backend,
                                                       const LoadOptions& opts = {});

  const ModelConfig& config() const { return config_; }
  Backend& backend() const { return backend_; }
  size_t weight_bytes() const { return weights_.bytes; }
  // Bytes of weights one decode token reads (active experts only), for the
  // memory floor in benchmarks.
  size_t active_weight_bytes_per_token() const;

  // A cache of num_blocks blocks of block_size tokens for every layer.
  KvCache allocate_kv_cache(int num_blocks, int block_size, DType dtype) const;
  // Bytes of cache per token (all layers).
  size_t kv_bytes_per_token(DType dtype) const;

  // Runs one step: writes every token's latent into the cache and returns
  // the logits of batch.logits_indices, F32 [N, vocab], on the backend's
  // device. Token ids out of the vocabulary are an error.
  Result<Tensor> forward(const ForwardBatch& batch, KvCache& cache);

  // The same in two halves, for callers that keep the device inputs (CUDA
  // graphs): upload() validates the batch and copies it to the device;
  // forward_device() only enqueues device work.
  Result<DeviceBatch> upload(const ForwardBatch& batch) const;
  Tensor forward_device(const DeviceBatch& batch, KvCache& cache);

  // Called with intermediate tensors (reference names, e.g.
  // "model.layers.0.self_attn.out0") when set; for debugging and tests.
  std::function<void(const std::string&, const Tensor&)> debug_hook;

 private:
  DeepseekV3Model(ModelConfig c, Backend& b, DeepseekV3Weights w);
  Tensor attention(int layer, const Tensor& h, const AttentionMetadata& m, KvCache& cache);
  Tensor mlp(const MlpWeights& w, const Tensor& h);
  Tensor moe(int layer, const MoeWeights& w, const Tensor& h);
  void debug(const std::string& name, const Tensor& t) const {
    if (debug_hook) debug_hook(name, t);
  }

  ModelConfig config_;
  Backend& backend_;
  DeepseekV3Weights weights_;
  RopeTables rope_tables_;
  RopeParams rope_;
  MoeRoutingParams routing_;
};

}  // namespace sable
