// GPU memory planning: weights + activation peak + CUDA graphs + KV blocks,
// from --gpu-memory-utilization. Computed from the config alone before any
// weight is loaded, so that a model that does not fit is refused at once
// with how much is missing and which flags would make it fit (the advice
// users otherwise search for after a CUDA out-of-memory crash).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/mla_splits.h"
#include "core/dtype.h"
#include "model/config.h"

namespace sable {

// Whether the CUDA backend makes the tiled copies (SABLE_STREAM_TILES != 0).
bool fp8_stream_tiles_default();

struct MemoryPlanInput {
  ModelConfig config;
  bool quantize_fp8 = false;          // --quantization fp8 on a BF16 checkpoint
  int tensor_parallel_size = 1;
  int64_t device_memory = 0;          // bytes of one GPU
  double gpu_memory_utilization = 0.9;
  int max_model_len = 0;              // 0: max_position_embeddings
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int block_size = 64;
  DType kv_dtype = DType::BF16;
  bool cuda_graphs = true;
  // Rows of logits a sequence may need in one step: 1, or 1 + k under
  // speculative decoding (its token's and each draft's).
  int logits_rows_per_seq = 1;
  // Speculative decoding with the MTP module (its graphs too).
  bool mtp = false;
  // FP8 dense linears are held twice on CUDA: cuBLASLt's rows and the
  // streaming kernel's tiles (cuda/gemm.h, set_stream_tiles_read). On unless
  // SABLE_STREAM_TILES=0, the CUDA backend's knob.
  bool fp8_stream_tiles = fp8_stream_tiles_default();
  // SMs of one GPU: MLA decode's split partials depend on them (fewer work
  // units than SMs split each token's keys). H100 SXM and H200: 132; serving
  // sets the device's.
  int gpu_multiprocessors = 132;
  // How the graphs' MLA decode picks its split count (their partials): the
  // CUDA backend's default; serving sets the backend's
  // (Backend::mla_graph_split_rule).
  MlaSplitRule graph_split_rule = MlaSplitRule::kGraph;
};

struct MemoryPlan {
  int64_t budget = 0;        // utilization x device memory
  int64_t weights = 0;       // per GPU, the tiled copies included
  int64_t weight_tiles = 0;  // per GPU: the FP8 dense linears' tiled copies
  int64_t activations = 0;   // peak of one step (estimate)
  int64_t graphs = 0;        // CUDA graph pools (estimate: cuda_graph_bytes)
  int64_t kv = 0;            // what is left for the KV cache
  int64_t kv_per_token = 0;  // all layers, per GPU
  int64_t num_blocks = 0;
  int64_t max_tokens = 0;    // tokens the KV cache holds
  int max_model_len = 0;
  int tensor_parallel_size = 1;  // GPUs the plan is for (each holds the plan's figures)
  bool fits = false;         // the KV cache holds at least one max-length request
  std::string advice;        // when !fits: what is missing and what would fit
  std::string to_string() const;
};

MemoryPlan plan_memory(const MemoryPlanInput& in);

// The config as the weights are held: FP8 when the checkpoint is, or with
// --quantization fp8 (128 x 128 blocks).
ModelConfig as_loaded(const ModelConfig& c, bool quantize_fp8);

// Weight bytes of a config as loaded (FP8 when the checkpoint is FP8 or
// quantize_fp8), whole model.
// Under tensor parallelism (tensor_parallel_size > 1): one rank's, the
// replicated tensors whole (embeddings, norms, q_a / kv_a, the router) and a
// 1 / size part of the rest (model/tensor_parallel.h).
int64_t weight_bytes(const ModelConfig& c, bool quantize_fp8, int tensor_parallel_size = 1);
// Bytes of the tiled copies of the FP8 dense linears (attention projections
// and dense MLPs; the experts and the fused shared experts are tiled only,
// kv_b_proj, the routers and lm_head are not FP8), whole model; 0 for a BF16
// model.
int64_t fp8_stream_tile_bytes(const ModelConfig& c, bool quantize_fp8);
// Peak activation bytes of a step of `tokens` tokens with `seqs` logits rows,
// with the split partials of MLA decode attention over contexts up to
// max_model_len on a GPU of sm_count SMs (the most of any decode batch up to
// `seqs` rows: few sequences at a long context split most).
int64_t activation_peak_bytes(const ModelConfig& c, int tokens, int seqs, int tensor_parallel_size, int max_model_len,
                              int sm_count);

// A CUDA graph ModelRunner captures: `batch` sequences of q tokens each, a
// step of the model (decode at q = 1, else a verification of q - 1 drafts)
// or of its MTP module.
struct CudaGraphShape {
  int q = 1;
  int batch = 1;
  bool mtp = false;
  int tokens() const { return batch * q; }
  // Every row's logits, or the MTP's: one a sequence (its last position's).
  int logits_rows() const { return mtp ? batch : tokens(); }
};
// The graphs of a runner, in capture order: decode steps at batch sizes up
// to max_num_seqs; with k drafts a step, verifications of k + 1 tokens a
// sequence up to 512 tokens and max_num_batched_tokens (vLLM's capture
// sizes); with the MTP module, its steps at all of those shapes. Each set
// largest first.
std::vector<CudaGraphShape> cuda_graph_shapes(int max_num_seqs, int max_num_batched_tokens, int num_speculative_tokens,
                                              bool mtp);
// Device memory of those graphs (estimate): the runner's graphs share one
// memory pool (each kind of step holds about its largest graph's
// activations), every graph keeps its hidden states, and the logits go to
// one buffer per set (the model's steps, the MTP's). Graphs are captured for
// max_model_len keys: each kind also holds its largest MLA split partials
// (mla_decode_partial_bytes, on a GPU of sm_count SMs, split by `rule`).
int64_t cuda_graph_bytes(const ModelConfig& c, const std::vector<CudaGraphShape>& shapes, int tensor_parallel_size,
                         int max_model_len, int sm_count, MlaSplitRule rule);
// Rows of those logits buffers: the most of any of the set's graphs.
int cuda_graph_logits_rows(const std::vector<CudaGraphShape>& shapes, bool mtp);

}  // namespace sable
