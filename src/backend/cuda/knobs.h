// Runtime switches of the CUDA backend's tuning choices, by name, for A/B
// timing inside one process (bench_gpu_e2e --ab): each name maps to one of
// the testing setters next to the code it steers. They act where host code
// decides (an eager call, or a CUDA graph while it is captured), so a graph
// keeps the choices of its capture. Across processes the same A/B carries a
// 15-20 us spread in a ~1.4 ms decode step and pays the weight build again
// per value (bench/results/2026-12-01-0f78ca0-producer-fp8-and-fused-gate-ab.md).
// Not thread-safe: set them between launches.
#pragma once

#include <string>
#include <vector>

namespace sable::cuda {

// False for an unknown name or a value the knob does not take.
bool set_knob(const std::string& name, int value);
// "name: values" lines, for --help and errors.
std::vector<std::string> knob_help();

// Bench only (knob "skip", a mask of these): groups of kernels the backend
// leaves out of what it launches or captures, so that an A/B of a decode step
// shows what each group costs inside the step, overlap included, which ncu's
// serialized kernel times cannot. Results are wrong while any is set: outputs
// keep stale contents. The router's logits become zeros rather than stale, so
// that routing still picks valid, distinct experts.
enum SkipGroup : int {
  kSkipKvWrite = 1,        // mla_write_kv (the latent KV path beside q)
  kSkipHeadMatmuls = 2,    // the per-head w_uk / w_uv matmuls
  kSkipAttention = 4,      // paged MLA decode attention (and its combine)
  kSkipRouter = 8,         // the MoE router GEMM (logits set to zeros)
  kSkipActQuant = 16,      // FP8 activation quantization (dense and MoE GEMMs)
  kSkipSplitkReduce = 32,  // the streaming GEMM's split-K reduction
  kSkipElementwise = 64,   // RMSNorm, add + RMSNorm, RoPE, SiLU-and-mul, add
  kSkipCombine = 128,      // MLA decode's split-K combine alone (the attention kernel still runs)
};
bool skipped(int group);

// Knob "absorb-rope" (1, the default: mla_absorb_q rotates q_rope on the way;
// 0: the backend runs the rope kernel on q_latent after it, the launch the
// fusion saves, for A/B).
bool absorb_rope_fused();

// Knob "mla-front" (0, the default, or SABLE_MLA_FRONT=1): CudaBackend::mla_front
// runs the fused front of a one-token decode step (mla_front.cu).
bool mla_front_enabled();

}  // namespace sable::cuda
