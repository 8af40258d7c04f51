// DeepSeek-V3 weights, named as in the reference (DeepseekV3ForCausalLM).
// Tensors live on the backend's device in their stored dtype (CPU: zero-copy
// views of the mmapped checkpoint), except MLA's absorbed kv_b halves, which
// are rearranged at load.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/tensor_parallel.h"
#include "model/weight_source.h"

namespace sable {

struct MlpWeights {
  LinearWeight gate_proj, up_proj, down_proj;
};

struct AttentionWeights {
  std::optional<LinearWeight> q_proj;  // when q_lora_rank is null
  LinearWeight q_a_proj, q_b_proj;
  Tensor q_a_layernorm;
  LinearWeight kv_a_proj_with_mqa;
  // q_a_proj and kv_a_proj_with_mqa stacked [q_lora_rank + kv_lora + rope, H]
  // (SGLang's fused_qkv_a_proj_with_mqa): both read the same input, and one
  // GEMM of 2,112 rows streams at a bandwidth that the 1,536- and 576-row
  // ones do not reach at decode (H200, batch 1: 22 us as two GEMMs with
  // split-K reductions for 30 MB). When set, the two above are empty. Not
  // fused when q_lora_rank would split an FP8 scale block.
  std::optional<LinearWeight> fused_qkv_a_proj_with_mqa;
  Tensor kv_a_layernorm;
  LinearWeight o_proj;
  // kv_b_proj split per head for absorption (float32 for FP8 checkpoints on
  // CPU so that dequantisation loses nothing, else the stored dtype):
  Tensor w_uk;  // [heads, qk_nope_head_dim, kv_lora_rank]
  Tensor w_uv;  // [heads, v_head_dim, kv_lora_rank]
  // kv_b_proj whole [heads * (nope + v), kv_lora_rank] in the same dtype as
  // the halves, for prefill in the expanded form (up-projection of the
  // context's latents; never quantized).
  LinearWeight kv_b_proj;
};

struct MoeWeights {
  LinearWeight gate;                 // router [E, H]
  Tensor e_score_correction_bias;    // F32 [E]
  // The E routed experts, then the shared experts fused in as num_shared
  // more (SGLang's shared-expert fusion): the shared MLP of intermediate
  // size n_shared_experts x I is n_shared_experts experts of size I, which
  // every token takes with weight 1. One grouped GEMM then reads the shared
  // weights at the routed experts' bandwidth, and a decode step runs five
  // fewer kernels per layer (ncu, H200, batch 1: the shared MLP's own three
  // GEMMs + split-K reductions + SiLU + add took 46 us in bf16, 55 us in FP8).
  MoeExperts experts;
  int num_shared = 0;
  // Expert parallelism (model/tensor_parallel.h): experts holds the routed
  // experts [expert_begin, expert_begin + local_experts()) of the router's
  // (experts.routed_experts), whole. local_experts() 0: all of them (split
  // or not).
  int expert_begin = 0;
  int local_experts() const { return experts.routed_experts > 0 ? experts.num_experts() - num_shared : 0; }
  // The shared MLP when it could not be fused (FP8 blocks straddling the
  // split of a multi-expert shared MLP).
  std::optional<MlpWeights> shared_experts;
};

struct DecoderLayerWeights {
  Tensor input_layernorm, post_attention_layernorm;
  AttentionWeights self_attn;
  std::optional<MlpWeights> mlp;  // dense layers
  std::optional<MoeWeights> moe;  // MoE layers
};

// DeepSeek-V3's multi-token-prediction module (the checkpoint's layer
// num_hidden_layers; layer 61 of the real model), which speculative decoding
// uses to draft tokens. For position i it joins the main model's final
// hidden state h_i with the embedding of token i + 1 and predicts token
// i + 2: x = eh_proj([enorm(embed(t_{i+1})) | hnorm(h_i)]), one decoder
// layer (its own slot of the latent cache), then shared_head.norm and the
// output head. Its decoder layer is DeepseekV3Weights::layers' last entry.
// The embedding and output head are the main model's: DeepSeek-V3 shares
// them (the checkpoint's copies, embed_tokens and shared_head.head, hold
// the same values and are not loaded: 1.9 GB saved in bf16).
struct MtpWeights {
  Tensor enorm, hnorm, shared_head_norm;  // [H]
  // eh_proj [H, 2H] as its two column halves, so that no concatenation is
  // needed: eh_proj([e | h]) = eh_proj_embed(e) + eh_proj_hidden(h).
  LinearWeight eh_proj_embed, eh_proj_hidden;  // [H, H] each
};

struct DeepseekV3Weights {
  Tensor embed_tokens;  // [V / tp, H]: rows [vocab_begin, vocab_begin + V / tp) of the vocabulary
  int64_t vocab_begin = 0;
  // [0, num_hidden_layers) the main model's; one more, the MTP module's, when mtp is set
  std::vector<DecoderLayerWeights> layers;
  Tensor norm;
  LinearWeight lm_head;
  std::optional<MtpWeights> mtp;  // loaded for speculative decoding (LoadOptions::load_mtp)
  size_t bytes = 0;               // weight bytes on the device
  double source_seconds = 0;      // of the load: reading (or generating) the source's tensors
  double prepare_seconds = 0;     // of the load: the backend's uploads and preparation
};

struct LoadOptions {
  // Quantise BF16 linear weights into 128x128-block FP8 at load
  // (--quantization fp8 on a bf16 checkpoint).
  bool quantize_fp8 = false;
  // The backend quantises them itself when it prepares them (CUDA under
  // --quantization fp8: quantizes_at_prepare): the loader hands them over
  // in BF16 and counts them in DeepseekV3Weights::bytes as the FP8 they
  // become.
  bool backend_quantizes_fp8 = false;
  // Pack the shared experts with the routed ones (MoeWeights::num_shared);
  // off only to test the fusion against the unfused MLP.
  bool fuse_shared_experts = true;
  // Stack q_a_proj and kv_a_proj_with_mqa into one projection
  // (AttentionWeights::fused_qkv_a_proj_with_mqa); off only for tests.
  bool fuse_qkv_a = true;
  // --tensor-parallel-size: DeepseekV3Model::load loads one shard per rank
  // (model/tensor_parallel.h) and returns rank 0, which runs the others.
  int tensor_parallel_size = 1;
  // --enable-expert-parallel: the routed experts placed whole on the ranks
  // instead of split by intermediate (model/tensor_parallel.h).
  bool expert_parallel = false;
  // Load the MTP module (MtpWeights) too, for speculative decoding with it
  // (--speculative-config '{"method": "deepseek_mtp", ...}').
  bool load_mtp = false;
};

// One rank's weights: the parts `shard` holds of every split weight
// (model/tensor_parallel.h), all of every replicated one.
Result<DeepseekV3Weights> load_deepseek_v3_weights(WeightSource& src, Backend& backend, const LoadOptions& opts,
                                                   TpShard shard = {});

}  // namespace sable
