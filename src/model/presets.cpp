#include "model/presets.h"

namespace sable {

namespace {

ModelConfig base_dsv3() {
  ModelConfig c;
  c.model_type = "deepseek_v3";
  c.vocab_size = 129280;
  c.hidden_size = 7168;
  c.intermediate_size = 18432;
  c.moe_intermediate_size = 2048;
  c.num_hidden_layers = 61;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 128;
  c.num_key_value_heads = 128;
  c.n_shared_experts = 1;
  c.n_routed_experts = 256;
  c.routed_scaling_factor = 2.5;
  c.kv_lora_rank = 512;
  c.q_lora_rank = 1536;
  c.qk_rope_head_dim = 64;
  c.qk_nope_head_dim = 128;
  c.v_head_dim = 128;
  c.topk_method = "noaux_tc";
  c.n_group = 8;
  c.topk_group = 4;
  c.num_experts_per_tok = 8;
  c.moe_layer_freq = 1;
  c.first_k_dense_replace = 3;
  c.norm_topk_prob = true;
  c.scoring_func = "sigmoid";
  c.hidden_act = "silu";
  c.max_position_embeddings = 163840;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000;
  c.rope_interleave = true;
  c.rope_scaling.type = "yarn";
  c.rope_scaling.factor = 40;
  c.rope_scaling.original_max_position_embeddings = 4096;
  c.rope_scaling.beta_fast = 32;
  c.rope_scaling.beta_slow = 1;
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 1.0;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  c.torch_dtype = "bfloat16";
  return c;
}

}  // namespace

std::vector<std::string> preset_names() { return {"tiny", "small-moe", "dsv3-slice", "dsv3"}; }

Result<ModelConfig> preset_config(const std::string& name, int layers, bool fp8) {
  ModelConfig c = base_dsv3();
  if (name == "tiny") {
    c.hidden_size = 256;
    c.intermediate_size = 512;
    c.moe_intermediate_size = 128;
    c.num_hidden_layers = 3;
    c.num_nextn_predict_layers = 0;
    c.num_attention_heads = c.num_key_value_heads = 4;
    c.n_routed_experts = 16;
    c.n_group = 4;
    c.topk_group = 2;
    c.num_experts_per_tok = 4;
    c.kv_lora_rank = 64;
    c.q_lora_rank = 192;
    c.qk_rope_head_dim = 16;
    c.qk_nope_head_dim = 32;
    c.v_head_dim = 32;
    c.first_k_dense_replace = 1;
  } else if (name == "small-moe") {
    c.hidden_size = 2048;
    c.intermediate_size = 10944;
    c.moe_intermediate_size = 1408;
    c.num_hidden_layers = 3;
    c.num_nextn_predict_layers = 0;
    c.num_attention_heads = c.num_key_value_heads = 16;
    c.n_routed_experts = 64;
    c.n_shared_experts = 2;
    c.n_group = 1;
    c.topk_group = 1;
    c.num_experts_per_tok = 6;
    c.q_lora_rank.reset();
    c.first_k_dense_replace = 1;
  } else if (name == "dsv3-slice") {
    c.num_hidden_layers = 4;
    c.num_nextn_predict_layers = 0;
    c.first_k_dense_replace = 1;  // 1 dense + MoE layers, as the transformers baseline
  } else if (name != "dsv3") {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return invalid_argument("unknown preset '" + name + "'; choose one of: " + names);
  }
  if (layers > 0) {
    c.num_hidden_layers = layers;
    if (c.first_k_dense_replace >= layers) c.first_k_dense_replace = layers > 1 ? 1 : 0;
  }
  if (fp8) {
    c.quantization.quant_method = "fp8";
    c.quantization.fmt = "e4m3";
    c.quantization.activation_scheme = "dynamic";
    c.quantization.block_out = c.quantization.block_in = 128;
  }
  return c;
}

}  // namespace sable
