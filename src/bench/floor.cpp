#include "bench/floor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "model/tensor_specs.h"

namespace sable::bench {

double FloorModel::expected_experts(int tokens) const {
  if (n_routed <= 0 || tokens <= 0) return 0;
  return n_routed * (1.0 - std::pow(1.0 - double(top_k) / n_routed, tokens));
}

double FloorModel::decode_weight_bytes(int batch) const {
  return non_expert_bytes + moe_layers * expected_experts(batch) * expert_bytes;
}

double FloorModel::prefill_flops(double tokens) const {
  return 2.0 * active_params_per_token * tokens + attn_flops_per_t2 * tokens * tokens;
}

FloorModel floor_model(const ModelConfig& c, bool fp8_weights, int kv_value_bytes) {
  FloorModel f;
  const bool stored_fp8 = c.quantization.is_fp8();
  const int bo = stored_fp8 ? c.quantization.block_out : 128, bi = stored_fp8 ? c.quantization.block_in : 128;
  double expert_params = 0;
  for (const TensorSpec& s : deepseek_v3_tensor_specs(c, /*include_mtp=*/false)) {
    const double n = double(s.shape.numel());
    const bool expert = s.name.find(".mlp.experts.") != std::string::npos;
    double bytes = n * double(dtype_size(s.dtype));
    // Quantized at load: linear weights become FP8 plus a float scale per
    // 128x128 block, except the router and lm_head (kept in BF16).
    const bool quantizable = s.role == TensorRole::kLinear && s.dtype == DType::BF16 &&
                             s.name.find(".mlp.gate.") == std::string::npos && s.name != "lm_head.weight";
    if (fp8_weights && !stored_fp8 && quantizable) {
      const Shape sc = fp8_scale_shape(s.shape[0], s.shape[1], bo, bi);
      bytes = n + double(sc.numel()) * 4.0;
    }
    // The embedding table is read one row per token, not whole.
    if (s.role == TensorRole::kEmbedding) bytes = double(s.shape[1]) * double(dtype_size(s.dtype));
    if (expert) {
      // Summed over all experts of all MoE layers; divided below.
      f.expert_bytes += bytes;
      if (s.role == TensorRole::kLinear) expert_params += n;
    } else {
      f.non_expert_bytes += bytes;
      if (s.role == TensorRole::kLinear) f.active_params_per_token += n;
    }
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) f.moe_layers += c.is_moe_layer(i) ? 1 : 0;
  f.n_routed = c.n_routed_experts;
  f.top_k = c.num_experts_per_tok;
  const double experts_total = double(f.moe_layers) * std::max(1, f.n_routed);
  if (f.moe_layers > 0) {
    f.expert_bytes /= experts_total;
    f.active_params_per_token += expert_params / experts_total * f.top_k * f.moe_layers;
  }
  f.kv_bytes_per_token = double(c.num_hidden_layers) * double(c.kv_latent_dim()) * kv_value_bytes;
  f.attn_flops_per_t2 = double(c.num_hidden_layers) * c.num_attention_heads * double(c.qk_head_dim() + c.v_head_dim);
  return f;
}

Floors compute_floors(const FloorModel& f, int input_len, int output_len, int batch, double bandwidth_gbs,
                      double peak_tflops) {
  Floors out;
  batch = std::max(1, batch);
  const double bw = bandwidth_gbs * 1e9, peak = peak_tflops * 1e12;
  const double context = input_len + output_len / 2.0;  // mean context over the decode
  out.step_bytes = f.decode_weight_bytes(batch) + batch * context * f.kv_bytes_per_token;
  if (bw > 0) {
    double step_s = out.step_bytes / bw;
    if (peak > 0) step_s = std::max(step_s, 2.0 * f.active_params_per_token * batch / peak);
    out.tpot_ms = step_s * 1e3;
    out.output_tok_s = batch / step_s;
  }
  if (peak > 0) {
    double t = f.prefill_flops(input_len) / peak;
    if (bw > 0) t = std::max(t, f.decode_weight_bytes(input_len) / bw);
    out.ttft_ms = t * 1e3;
  }
  if (out.ttft_ms && out.tpot_ms) out.e2el_ms = *out.ttft_ms + std::max(0, output_len - 1) * *out.tpot_ms;
  return out;
}

double measure_host_copy_bandwidth_gbs() {
  const size_t bytes = size_t(256) << 20;
  std::unique_ptr<char[]> a(new char[bytes]), b(new char[bytes]);
  std::memset(a.get(), 1, bytes);
  std::memset(b.get(), 2, bytes);
  std::vector<double> gbs;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.get(), a.get(), bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gbs.push_back(2.0 * double(bytes) / s / 1e9);
    a[size_t(i)] = b[size_t(i) + 1];  // keep the copies observable
  }
  std::sort(gbs.begin(), gbs.end());
  return gbs[gbs.size() / 2];
}

}  // namespace sable::bench
