// The matrix-multiply family of the CUDA backend: dense linear layers (bf16
// through cuBLASLt, FP8 128x128-block-scaled in the DeepSeek-V3 scheme), the
// dynamic per-token-group FP8 activation quantization, and the routed MoE
// experts as grouped GEMMs over tokens permuted by expert.
//
// Every op launches on the given stream only, allocates nothing and never
// synchronizes the host in the hot path, so that it can be captured in a CUDA
// graph. Scratch space comes from the stream's GemmWorkspace, which grows only
// when a call needs more than it holds (call reserve_gemm_workspace() before
// capture to size it for the largest batch).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/batch_invariant.h"  // linear() honours it
#include "backend/linear_weight.h"
#include "core/tensor.h"

namespace sable::cuda {

// Scratch buffers of one stream: the cuBLASLt handle and workspace, quantized
// activations and their scales, the MoE permutation and intermediates.
struct GemmWorkspace;
class WeightUploader;  // weight_upload.h
// Created lazily on first use, lives for the process.
GemmWorkspace* gemm_workspace(cudaStream_t stream);
// Frees the stream's workspace (its backend is going away: the stream is
// idle and no graph that used it will replay). A later call for the same
// handle value (a new stream) starts afresh.
void release_gemm_workspace(cudaStream_t stream);
// Sizes the stream's workspace for batches of up to max_tokens tokens through
// linear layers of up to max_features inputs/outputs and MoE layers of `moe`
// (may be null). Call it before capturing graphs; calls then never grow it.
void reserve_gemm_workspace(cudaStream_t stream, int64_t max_tokens, int64_t max_features,
                            const MoeExperts* moe, int moe_top_k = 8);

// Uploads/repacks a host LinearWeight (weight BF16/F16/F32/F8_E4M3 + F32
// scale_inv, host memory, possibly an mmapped view) into device memory in the
// form linear() wants; stores the device form in w.prepared and replaces
// w.weight/w.scale_inv with device tensors (BF16 [out, in], or F8_E4M3
// [out, in] + F32 [ceil(out/128), ceil(in/128)]). F16/F32 weights become BF16.
// quantize_fp8: BF16/F16/F32 weights are quantized on the GPU into 128x128
// block FP8 (--quantization fp8); scale = amax(block) / 448.
// Synchronizes the stream before returning (the host source may be unmapped).
// up: host bytes go through its pinned chunks (weight_upload.h); null: plain
// cudaMemcpyAsync.
void prepare_linear(LinearWeight& w, bool quantize_fp8, cudaStream_t stream, WeightUploader* up = nullptr);
// The same for the experts of one MoE layer: gate and up are fused into one
// [E, 2I, H] tensor (rows [0, I) gate, [I, 2I) up) and down into [E, H, I];
// the per-expert LinearWeights are then views into those device tensors.
void prepare_experts(MoeExperts& e, bool quantize_fp8, cudaStream_t stream, WeightUploader* up = nullptr);

// Random weights made on the device, already prepared (for benchmarks and
// --load-format dummy): BF16 values ~ U(-0.05, 0.05), or FP8 with random
// finite e4m3 bytes and 128x128 block scales ~ 1e-4 (so dequantized values
// are of the same order). Deterministic in seed.
void make_random_linear(LinearWeight& w, int64_t out, int64_t in, bool fp8, uint64_t seed,
                        cudaStream_t stream);
void make_random_experts(MoeExperts& e, int num_experts, int64_t hidden, int64_t intermediate,
                         bool fp8, uint64_t seed, cudaStream_t stream);

// out = x W^T. x BF16 [T, in] on device; out BF16 or F32 [T, out] on device.
// w must have been through prepare_linear. Any T >= 0.
void linear(const Tensor& x, const LinearWeight& w, Tensor& out, cudaStream_t stream);

// out[t] = sum_k topk_weights[t,k] * down_e(silu(gate_e x[t]) * up_e x[t]),
// e = topk_ids[t,k]. x BF16 [T, H]; topk_ids I32 [T, K]; topk_weights F32
// [T, K]; out BF16 or F32 [T, H]. w must have been through prepare_experts.
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights,
                 const MoeExperts& w, Tensor& out, cudaStream_t stream);

// Dynamic per-token-group FP8 activation quantization, groups of 128 channels:
// for token t and group g, s = amax(|x[t, 128g : 128g+128]|) / 448 (a tiny
// floor keeps all-zero groups finite), q = round_to_e4m3(x / s).
// x BF16 [T, K] -> q F8_E4M3 [T, K] row-major; scales F32 [G, ld] with
// G = ceil(K/128), ld = roundup(T, 4), group-major: the scale of token t and
// group g is scales[g * ld + t] (the layout of cuBLASLt's VEC128_32F mode,
// which the GEMMs read). The last group may be partial. K % 4 == 0.
void quantize_activations_fp8(const Tensor& x, Tensor& q, Tensor& scales, cudaStream_t stream);

// The same as linear() on a chosen path, for tests and benchmarks: kStream is
// the weight-streaming tensor-core kernel (any T; K % 16 == 0 for FP8, % 8
// for bf16), kLibrary cuBLASLt (bf16; FP8 block-scaled when the device
// supports it, else it falls back to kStream).
enum class GemmPath { kAuto, kStream, kLibrary };
void linear_on(const Tensor& x, const LinearWeight& w, Tensor& out, cudaStream_t stream,
               GemmPath path);
// Largest T that linear() sends to the streaming kernel (above it: cuBLASLt).
// Measured on the H200 (bench/results/cuda-gemm-*.md): cuBLASLt's bf16 small-M
// kernels stream the weight at 88-99% of copy bandwidth on the large shapes,
// so bf16 uses cuBLASLt at every T; FP8 uses the streaming kernel for small
// weights at few tokens (T <= 8 and <= 24M elements, or T <= 32 and <= 8M)
// and cuBLASLt's block-scaled GEMM otherwise. Env overrides (a plain T
// threshold): SABLE_STREAM_GEMM_MAX_T, SABLE_STREAM_GEMM_MAX_T_FP8.
int64_t stream_gemm_max_tokens(bool fp8);
// The path linear() takes for T tokens through a prepared weight.
GemmPath linear_auto_path(int64_t T, const LinearWeight& w);
// Testing knob: K-warps of dense FP8 GEMMs that read the tiled copy, 2
// (128-row CTAs) or 4 (64-row); 0 = the rule (gemm_linear.cu: 2 for weights
// of more than 2 x SMs x 64 rows). Not thread-safe.
bool set_dense_kwarps(int kw);
// Testing knobs of the MoE experts' streaming GEMMs: the token tile (8, 16,
// 32, or 64 for bf16; 0 = the rule, 8; SABLE_MOE_BN) and the K-warps of the
// grouped CTAs (2 or 4; 0 = the rule; SABLE_STREAM_KWARPS). Not thread-safe.
// The setters return false for a value the knob does not take.
bool set_moe_bn(int bn);
bool set_stream_kwarps(int kw);
// Testing knob: the streaming kernel's weight pipeline, 0 = register double
// buffer, 1 = 3-stage cp.async ring in shared memory, -1 = the default by
// dtype (ring for FP8, registers for bf16: measured, gemm_stream.cu).
// SABLE_STREAM_GEMM_SMEM=1/0 forces one. Not thread-safe.
void set_stream_gemm_variant(int v);
// FP8 weights get a second copy in the streaming kernel's 4 KB tiles
// (expert_tiles.cuh), which linear() reads at few tokens (H200: the tiles
// read at 4.0-4.15 TB/s, the natural rows at 3.2-3.7); prepare_linear and
// make_random_linear make it unless SABLE_STREAM_TILES=0. Testing knob:
// set_stream_tiles_read(false) makes the streaming kernel read the natural
// rows instead (same bits). Not thread-safe.
void set_stream_tiles_read(bool on);
// Device bytes of the tiled copy of an out x in FP8 weight (0 when off).
int64_t stream_tiles_bytes(int64_t out, int64_t in);
// The MoE experts' GEMM kernels (moe_experts): kStream, the weight-streaming
// kernel (any shape, bf16 and FP8); kWgmma, the grouped shared-memory wgmma
// kernel (moe_grouped_wgmma.cu: bf16 or FP8, 2I and H multiples of 128, and
// of 128 in K for FP8) for many tokens per expert. kAuto takes kWgmma from 8
// expected tokens per routed expert, both dtypes (T >= 256 for
// DeepSeek-V3), except in batch-invariant mode (one kernel whatever T). Testing knob, not thread-safe.
enum class MoeKernel { kAuto, kStream, kWgmma };
void set_moe_kernel(MoeKernel k);
MoeKernel moe_kernel_for(int64_t T, int64_t top_k, int num_experts);
// Testing knob: which grouped wgmma kernel kWgmma runs (moe_grouped_wgmma.cu),
// 0 = the original (all 8 warps load with cp.async and compute, one
// __syncthreads per stage), 1 = warp-specialized (a producer warpgroup
// feeds two wgmma warpgroups through an mbarrier ring; 128-row tiles),
// 2 = warp-specialized with 256-row tiles for GEMMs whose N is a multiple
// of 256 (else as 1; an expert's tiles paired into 128-row CTAs over both
// tiles' tokens), 3 = as 2, with the GEMMs without the gate/up product
// (down) in a persistent kernel that stores through TMA, -1 = the default (3).
// All give bitwise the same results. SABLE_MOE_WGMMA_WS=0..3 forces one
// (read on first use). Not thread-safe.
void set_grouped_wgmma_variant(int v);
// Testing knob: at most n CTAs for variant 3's persistent kernel (0: one per
// SM), so that a small test walks several items per CTA. Not thread-safe.
void set_grouped_wgmma_max_ctas(int n);

// A 16-byte-vector device copy kernel (the bandwidth ceiling of benchmarks).
void copy_device(void* dst, const void* src, size_t bytes, cudaStream_t stream);
// What a one-time probe found about cuBLASLt's block-scaled FP8 on this device
// (runs the probe on first use; call it outside graph capture).
struct Fp8BlockInfo {
  bool supported = false;
  bool act_kmajor = false;  // activation scales [t][g] rather than [g][t]
  bool w_kb_pad4 = true;    // weight scale rows padded to 4 blocks
};
Fp8BlockInfo fp8_block_info();

// Quantizes a BF16 [out, in] device weight into 128x128-block FP8: q F8_E4M3
// [out, in], scale_inv F32 [ceil(out/128), ceil(in/128)], scale = amax/448.
void quantize_weight_fp8(const Tensor& w, Tensor& q, Tensor& scale_inv, cudaStream_t stream);

}  // namespace sable::cuda
