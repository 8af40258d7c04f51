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

class Communicator;
class RankThreads;

class DeepseekV3Model {
 public:
  // With opts.tensor_parallel_size > 1, loads one shard per rank
  // (model/tensor_parallel.h) and returns rank 0, which owns the others, the
  // communicators and one thread per rank: forward() on it runs every rank.
  // The ranks' backends and communicators come from make_rank_backends
  // (backend/device_select.h): on the CPU, threads of this process.
  // Tensor-parallel rank threads and peers exist only on rank 0.
  static Result<std::unique_ptr<DeepseekV3Model>> load(WeightSource& src, Backend& backend,
                                                       const LoadOptions& opts = {});
  ~DeepseekV3Model();

  const ModelConfig& config() const { return config_; }
  Backend& backend() const { return backend_; }
  size_t weight_bytes() const { return weights_.bytes; }
  // Seconds of the load spent in the weight source's get: dummy generation
  // (a checkpoint maps its files, so its disk reads come later, as its
  // tensors are copied); the rest is conversion and the backend's preparation.
  double load_source_seconds() const { return weights_.source_seconds; }
  // Seconds of the load in the backend's uploads and preparation.
  double load_prepare_seconds() const { return weights_.prepare_seconds; }
  const DeepseekV3Weights& weights() const { return weights_; }
  // Ranks of the tensor-parallel group this model is rank 0 of (1 without).
  int tensor_parallel_size() const;
  // Calls fn(rank, that rank's model, its cache) on every rank's thread at
  // once (inline without tensor parallelism), for work that must run on each
  // rank's device: CUDA graph capture and replay, cache copies.
  void run_on_ranks(KvCache& cache, const std::function<void(int, DeepseekV3Model&, KvCache&)>& fn);
  // The same without a cache.
  void for_each_rank(const std::function<void(int, DeepseekV3Model&)>& fn);
  // This rank's attention heads (num_attention_heads / tensor_parallel_size).
  int local_heads() const { return int(heads_); }
  // Bytes of weights one decode token reads (active experts only), for the
  // memory floor in benchmarks; one rank's under tensor parallelism.
  size_t active_weight_bytes_per_token() const;

  // A cache of num_blocks blocks of block_size tokens for every layer (and
  // for every rank of a tensor-parallel group, in KvCache::peers).
  KvCache allocate_kv_cache(int num_blocks, int block_size, DType dtype) const;
  // Bytes of cache per token (all layers, the MTP layer's included).
  size_t kv_bytes_per_token(DType dtype) const;
  // Whether the MTP module was loaded (LoadOptions::load_mtp).
  bool has_mtp() const { return weights_.mtp.has_value(); }
  // Layers of the latent cache: the main model's, and the MTP layer's last.
  int num_cache_layers() const { return config_.num_hidden_layers + (has_mtp() ? 1 : 0); }

  // Runs one step: writes every token's latent into the cache and returns
  // the logits of batch.logits_indices, F32 [N, vocab], on the backend's
  // device. Token ids out of the vocabulary are an error.
  Result<Tensor> forward(const ForwardBatch& batch, KvCache& cache);

  // The same in two halves, for callers that keep the device inputs (CUDA
  // graphs): upload() validates the batch and copies it to the device;
  // forward_device() only enqueues device work. One rank only: under tensor
  // parallelism the others must be running theirs at the same time (forward()
  // does that).
  Result<DeviceBatch> upload(const ForwardBatch& batch) const;
  Tensor forward_device(const DeviceBatch& batch, KvCache& cache);

  // Speculative decoding: one step of the MTP module (MtpWeights) over a
  // batch laid out as forward()'s. Row t of the batch is position
  // positions[t] of its sequence with token_ids[t] the token AFTER that
  // position (t_{i+1} for position i), and joins it with hidden state
  // hidden_rows[t] of the previous forward() (with keep_hidden) or
  // forward_mtp() on this model. Writes the MTP layer's cache slot of every
  // row and returns the logits of batch.logits_indices (predicting t_{i+2}),
  // F32 [N, vocab]; keeps its own output hidden states for the next call,
  // as vLLM chains DeepSeek MTP steps.
  Result<Tensor> forward_mtp(const ForwardBatch& batch, const std::vector<int32_t>& hidden_rows, KvCache& cache);
  // The hidden states the next forward_mtp() reads ([T, H], this rank's).
  // A replayed CUDA graph that kept them (ModelRunner) sets its own buffer.
  const Tensor& kept_hidden() const { return hidden_; }
  void set_kept_hidden(Tensor h) { hidden_ = std::move(h); }
  // forward_mtp() in two halves, for CUDA graphs (ModelRunner): rows `rows`
  // (I32 [T], on the device) of the kept hidden states into out (F32 [T, H]),
  // then the module's step from them, device work only. Rows listed in
  // first_rows (positions 0, whose embedding the module zeroes) cost a host
  // upload: a graph's batch has none. One rank only, as forward_device().
  void gather_kept_hidden(const Tensor& rows, Tensor& out);
  Tensor forward_mtp_device(const DeviceBatch& batch, const Tensor& h_prev, KvCache& cache,
                            const std::vector<int64_t>& first_rows = {});

  // How MLA prefill rows are computed. Absorbed: every row through the paged
  // latent attention (576-dim scores, 512-dim values per head). Expanded: a
  // sequence's context latents are up-projected through kv_b_proj (chunks of
  // chunk_keys keys) and attention runs at head dims nope + rope / v, which
  // costs fewer FLOPs per query-key pair plus an up-projection per key: vLLM's
  // and FlashMLA's prefill. Auto (default): expanded for a sequence when that
  // FLOP count is lower (never on a batch-invariant backend: the form would
  // depend on how a prompt was chunked), for the sequences at the end of the
  // batch (the runner puts them last); decode rows always stay absorbed.
  enum class MlaPrefill { kAuto, kAbsorbed, kExpanded };
  void set_mla_prefill(MlaPrefill mode, int chunk_keys = 4096);  // every rank's
  // Whether a sequence with `num_tokens` new tokens and `seq_len` keys in all
  // takes the expanded form under the current mode.
  bool use_expanded(int num_tokens, int seq_len) const;
  // Auto's rule: whether the expanded form needs fewer FLOPs for the chunk.
  static bool expanded_is_cheaper(const ModelConfig& c, int num_tokens, int seq_len);

  // Called with intermediate tensors (reference names, e.g.
  // "model.layers.0.self_attn.out0") when set; for debugging and tests.
  std::function<void(const std::string&, const Tensor&)> debug_hook;

 private:
  struct TensorParallelGroup;
  DeepseekV3Model(ModelConfig c, Backend& b, DeepseekV3Weights w, Communicator* comm);
  Result<Tensor> forward_rank(const ForwardBatch& batch, KvCache& cache);
  Result<Tensor> forward_mtp_rank(const ForwardBatch& batch, const std::vector<int32_t>& hidden_rows, KvCache& cache);
  // Decoder layer i on the residual stream: residual += prev (none when
  // `first`), attention, then the MLP or MoE, whose output becomes prev.
  void decoder_layer(int i, bool first, Tensor& residual, Tensor& prev, const DeviceBatch& d, KvCache& cache);
  // lm_head over the rows of hn [T, H] that d.logits_indices names: F32 [N, vocab].
  Tensor compute_logits(const Tensor& hn, const DeviceBatch& d);
  void plan_expanded(const ForwardBatch& batch, DeviceBatch& d) const;
  Tensor attention(int layer, const Tensor& h, const DeviceBatch& d, KvCache& cache);
  // The fused q_a | kv_a projection's output [T, q_lora + kv_lora + rope] as q_a (when qa is not
  // null) and the latent kv: views of one row, else copies.
  void split_qkv_a(const Tensor& qkv, Tensor* qa, Tensor& kv);
  // attention() from q [T, heads, qk_head_dim] and the latent kv [T, kv_lora + rope] on.
  Tensor attention_core(int layer, Tensor q, const Tensor& kv, const DeviceBatch& d, KvCache& cache);
  // The expanded-form attention of one sequence: q [n, heads, qk] -> out [n, heads, v].
  void attention_expanded(const AttentionWeights& w, const Tensor& q, const ExpandedSeq& s, const Tensor& layer_cache,
                          Tensor& out);
  Tensor mlp(const MlpWeights& w, const Tensor& h);
  Tensor moe(int layer, const MoeWeights& w, const Tensor& h);
  void debug(const std::string& name, const Tensor& t) const {
    if (debug_hook) debug_hook(name, t);
  }

  ModelConfig config_;
  Backend& backend_;
  DeepseekV3Weights weights_;
  Communicator* comm_ = nullptr;                // this rank's, when tensor parallel
  int64_t heads_ = 0;                           // this rank's attention heads
  std::unique_ptr<TensorParallelGroup> group_;  // rank 0 only: the other ranks and their threads
  RopeTables rope_tables_;
  RopeParams rope_;
  MoeRoutingParams routing_;
  MlaPrefill mla_prefill_ = MlaPrefill::kAuto;
  // The last forward()'s (keep_hidden) or forward_mtp()'s hidden states
  // [T, H], this rank's, for the next forward_mtp().
  Tensor hidden_;
  int mla_chunk_keys_ = 4096;
};

}  // namespace sable
