// The floor beside each benchmark figure: the least time the hardware could
// take for the work, from the model's config alone. Estimates, stated as such:
//
//   decode step  >= bytes read / bandwidth: the weights every step reads
//                   (all but the routed experts, plus the distinct experts the
//                   batch's tokens route to, expected under uniform routing:
//                   E * (1 - (1 - k/E)^B)) and the batch's KV cache
//                   (layers x (kv_lora_rank + rope dim) values per token)
//   prefill      >= FLOPs / peak: 2 x active parameters per token, plus
//                   causal attention in the non-absorbed form (the cheaper
//                   one for long prompts): T^2 x heads x (qk_dim + v_dim) per layer
//
// Bandwidth and peak come from the caller (--bandwidth-gbs, --peak-tflops:
// measured on the machine, or the datasheet, which the report says).
#pragma once

#include <optional>
#include <string>

#include "model/config.h"

namespace sable::bench {

struct FloorModel {
  double non_expert_bytes = 0;  // read by every decode step (the embedding table only by rows)
  double expert_bytes = 0;      // one routed expert of one MoE layer, scales included
  int moe_layers = 0, n_routed = 0, top_k = 0;
  double kv_bytes_per_token = 0;     // all layers
  double active_params_per_token = 0;
  double attn_flops_per_t2 = 0;      // prefill attention FLOPs / T^2 (causal halves the square)

  double expected_experts(int tokens) const;       // distinct experts per MoE layer
  double decode_weight_bytes(int batch) const;     // weights one step of `batch` tokens reads
  double prefill_flops(double tokens) const;
};

// fp8_weights: linear weights stored as FP8 with 128x128 scales (an FP8
// checkpoint, or --quantization fp8); kv_value_bytes: 2 for BF16 KV, 4 for F32.
FloorModel floor_model(const ModelConfig& c, bool fp8_weights, int kv_value_bytes);

struct Floors {
  std::optional<double> ttft_ms;       // one prompt alone: max(FLOPs/peak, weights/bandwidth)
  std::optional<double> tpot_ms;       // one decode step of the whole batch at mid-output context
  std::optional<double> e2el_ms;       // ttft + (out - 1) x tpot
  std::optional<double> output_tok_s;  // batch / tpot floor
  double step_bytes = 0;               // bytes of that decode step
};

// input_len/output_len: per request; batch: requests decoding together.
// bandwidth_gbs <= 0 or peak_tflops <= 0 leave the floors that need them unset.
Floors compute_floors(const FloorModel& f, int input_len, int output_len, int batch, double bandwidth_gbs,
                      double peak_tflops);

// Host memory copy bandwidth in GB/s (bytes read + written per second), for
// the CPU floor when --bandwidth-gbs auto: a few large memcpy's.
double measure_host_copy_bandwidth_gbs();

}  // namespace sable::bench
