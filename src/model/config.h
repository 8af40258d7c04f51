// DeepSeek-V3 model configuration, read from a Hugging Face config.json
// (model_type "deepseek_v3"). Field names mirror the config's keys.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace sable {

// From config.json's "rope_scaling" (or "rope_parameters", as newer
// transformers writes it). Prefer the helpers below to the raw mscale fields:
// transformers tests their truthiness, so absent and 0 mean the same.
struct RopeScaling {
  std::string type = "default";  // "yarn" or "default"
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  // Absent in the config is not the same as 1.0 for these two (transformers'
  // attention_factor tests their truthiness), hence optional.
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  std::optional<double> attention_factor;
  bool truncate = true;

  bool is_yarn() const { return type == "yarn"; }
  // Multiplier on cos/sin (YaRN's "attention_factor"): the explicit value, or
  // mscale(factor, mscale) / mscale(factor, mscale_all_dim) when both are
  // non-zero, else mscale(factor, 1). 1 without YaRN.
  double cos_sin_scale() const;
  // Multiplier on the softmax scale 1/sqrt(qk_head_dim): mscale(factor,
  // mscale_all_dim)^2 under YaRN when mscale_all_dim is non-zero, else 1.
  double softmax_scale_multiplier() const;
};

struct QuantizationConfig {
  std::string quant_method;      // "fp8" or empty
  std::string fmt = "e4m3";
  std::string activation_scheme = "dynamic";
  int block_out = 128, block_in = 128;  // weight_block_size
  bool is_fp8() const { return quant_method == "fp8"; }
};

struct ModelConfig {
  std::string model_type;  // "deepseek_v3"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;       // dense MLP
  int64_t moe_intermediate_size = 0;   // each routed/shared expert
  int num_hidden_layers = 0;
  int num_nextn_predict_layers = 0;    // MTP layers after the main ones (skipped)
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int n_shared_experts = 0;
  int n_routed_experts = 0;
  double routed_scaling_factor = 1.0;
  int64_t kv_lora_rank = 0;
  std::optional<int64_t> q_lora_rank;  // null: q_proj instead of q_a/q_b
  int64_t qk_rope_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t v_head_dim = 0;
  std::string topk_method = "noaux_tc";
  int n_group = 1;
  int topk_group = 1;
  int num_experts_per_tok = 0;
  int moe_layer_freq = 1;
  int first_k_dense_replace = 0;
  bool norm_topk_prob = true;
  std::string scoring_func = "sigmoid";
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool rope_interleave = true;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  std::optional<int64_t> bos_token_id, eos_token_id;
  std::vector<int64_t> eos_token_ids;  // all of them when config.json gives a list
  std::string torch_dtype = "bfloat16";
  QuantizationConfig quantization;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Latent cache entry per token per layer: c_kv then k_pe.
  int64_t kv_latent_dim() const { return kv_lora_rank + qk_rope_head_dim; }
  bool is_moe_layer(int layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  // Softmax scale of attention scores: 1/sqrt(qk_head_dim), times mscale^2 under YaRN.
  double softmax_scale() const;
};

// Parses and validates config.json text. `source` names the file in errors.
// Every field the forward needs must be present and consistent; errors name
// the field and what is wrong with it.
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source);
Result<ModelConfig> load_model_config(const std::string& path);
// Checks a config built in code (make-model presets) with the same rules as
// parse_model_config; `source` names it in errors.
Status validate_model_config(const ModelConfig& c, const std::string& source);
// Serialises back to config.json (used by make-model).
std::string model_config_to_json(const ModelConfig& c);

}  // namespace sable
