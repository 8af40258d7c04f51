#include "model/tensor_specs.h"

namespace sable {

Shape fp8_scale_shape(int64_t out, int64_t in, int block_out, int block_in) {
  return {(out + block_out - 1) / block_out, (in + block_in - 1) / block_in};
}

namespace {

struct SpecBuilder {
  const ModelConfig& c;
  std::vector<TensorSpec>& out;

  void linear(const std::string& prefix, int64_t n_out, int64_t n_in) {
    if (c.quantization.is_fp8()) {
      out.push_back({prefix + ".weight", {n_out, n_in}, DType::F8_E4M3, TensorRole::kLinear});
      out.push_back({prefix + ".weight_scale_inv",
                     fp8_scale_shape(n_out, n_in, c.quantization.block_out, c.quantization.block_in),
                     DType::F32, TensorRole::kScale});
    } else {
      out.push_back({prefix + ".weight", {n_out, n_in}, DType::BF16, TensorRole::kLinear});
    }
  }
  void norm(const std::string& name, int64_t d) {
    out.push_back({name, {d}, DType::BF16, TensorRole::kNorm});
  }
  void mlp(const std::string& prefix, int64_t inter) {
    linear(prefix + ".gate_proj", inter, c.hidden_size);
    linear(prefix + ".up_proj", inter, c.hidden_size);
    linear(prefix + ".down_proj", c.hidden_size, inter);
  }
  void decoder_layer(int i) {
    const std::string p = "model.layers." + std::to_string(i);
    const int64_t H = c.hidden_size, heads = c.num_attention_heads;
    norm(p + ".input_layernorm.weight", H);
    norm(p + ".post_attention_layernorm.weight", H);
    const std::string a = p + ".self_attn";
    if (c.q_lora_rank) {
      linear(a + ".q_a_proj", *c.q_lora_rank, H);
      norm(a + ".q_a_layernorm.weight", *c.q_lora_rank);
      linear(a + ".q_b_proj", heads * c.qk_head_dim(), *c.q_lora_rank);
    } else {
      linear(a + ".q_proj", heads * c.qk_head_dim(), H);
    }
    linear(a + ".kv_a_proj_with_mqa", c.kv_lora_rank + c.qk_rope_head_dim, H);
    norm(a + ".kv_a_layernorm.weight", c.kv_lora_rank);
    linear(a + ".kv_b_proj", heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
    linear(a + ".o_proj", H, heads * c.v_head_dim);
    if (c.is_moe_layer(i)) {
      out.push_back({p + ".mlp.gate.weight", {c.n_routed_experts, H}, DType::BF16, TensorRole::kLinear});
      out.push_back({p + ".mlp.gate.e_score_correction_bias", {c.n_routed_experts}, DType::F32,
                     TensorRole::kRouterBias});
      for (int e = 0; e < c.n_routed_experts; ++e)
        mlp(p + ".mlp.experts." + std::to_string(e), c.moe_intermediate_size);
      if (c.n_shared_experts > 0)
        mlp(p + ".mlp.shared_experts", c.moe_intermediate_size * c.n_shared_experts);
    } else {
      mlp(p + ".mlp", c.intermediate_size);
    }
  }
};

}  // namespace

std::vector<TensorSpec> deepseek_v3_tensor_specs(const ModelConfig& c, bool include_mtp) {
  std::vector<TensorSpec> specs;
  SpecBuilder b{c, specs};
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, DType::BF16,
                   TensorRole::kEmbedding});
  for (int i = 0; i < c.num_hidden_layers; ++i) b.decoder_layer(i);
  b.norm("model.norm.weight", c.hidden_size);
  specs.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}, DType::BF16, TensorRole::kLinear});
  if (include_mtp) {
    // DeepSeek-V3's MTP module: a full decoder layer plus the projections that
    // join the next token's embedding to the hidden state.
    for (int k = 0; k < c.num_nextn_predict_layers; ++k) {
      const int i = c.num_hidden_layers + k;
      const std::string p = "model.layers." + std::to_string(i);
      b.decoder_layer(i);
      specs.push_back({p + ".eh_proj.weight", {c.hidden_size, 2 * c.hidden_size}, DType::BF16,
                       TensorRole::kLinear});
      b.norm(p + ".enorm.weight", c.hidden_size);
      b.norm(p + ".hnorm.weight", c.hidden_size);
      b.norm(p + ".shared_head.norm.weight", c.hidden_size);
      specs.push_back({p + ".shared_head.head.weight", {c.vocab_size, c.hidden_size}, DType::BF16,
                       TensorRole::kLinear});
      specs.push_back({p + ".embed_tokens.weight", {c.vocab_size, c.hidden_size}, DType::BF16,
                       TensorRole::kEmbedding});
    }
  }
  return specs;
}

}  // namespace sable
