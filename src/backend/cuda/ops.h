// The CUDA implementations of the backend ops (backend/backend.h), one per
// .cu file in this folder, each with its sibling in backend/cpu/. Every op
// launches on `stream` only, never synchronizes the host and never calls
// cudaMalloc (scratch comes from the caching allocator), so a sequence of ops
// can be captured in a CUDA graph. The matrix-multiply family (linear, MoE
// experts, FP8 quantization) lives behind gemm.h.
//
// Dtypes: activations BF16 (F32 accepted wherever the CPU reference runs
// them); weights any float dtype; arithmetic in float32.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/backend.h"

namespace sable::cuda {

void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out, cudaStream_t stream);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out, cudaStream_t stream);
// residual may be BF16 or F32 (F32 keeps the reference's precision across
// layers); the norm is taken of the stored (rounded) residual.
void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out,
                  cudaStream_t stream);
void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out, cudaStream_t stream);
void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions, const RopeParams& p,
          cudaStream_t stream);
void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights, cudaStream_t stream);
// Per-head GEMMs: streaming kernels at one token (head_gemv.h),
// cuBLAS strided-batched bf16 beyond and in batch-invariant mode (fp32
// accumulate either way). w must be BF16 (other dtypes take cuBLAS through a
// converted scratch copy: slow path).
void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out,
                 cublasHandle_t handle, Allocator& scratch, cudaStream_t stream);
void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                  const RopeParams* rope, cublasHandle_t handle, Allocator& scratch, cudaStream_t stream);
void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                  const AttentionMetadata& m, Tensor& cache, cudaStream_t stream);

// Paged latent attention. Picks the tensor-core kernel for DeepSeek-V3's
// shape (L 576, v_dim 512, heads a multiple of 64, BF16 q/cache) and a
// generic CUDA-core kernel otherwise. Split-K partials come from `scratch`.
void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float softmax_scale, int v_dim,
                   Tensor& out, Allocator& scratch, cudaStream_t stream);

// Which attention kernel mla_attention uses; for tests and benchmarks.
// kWs: the warp-specialized wgmma kernel (BF16 cache only). kSmall: 16
// heads per CTA (BF16 or FP8 cache; any multiple of 16 heads): few-row decode.
enum class MlaKernel { kAuto, kGeneric, kMma, kWgmma, kWs, kSmall };
void mla_attention_with(MlaKernel kernel, int num_splits /* 0 = auto */, const Tensor& q, const Tensor& cache,
                        const AttentionMetadata& m, float softmax_scale, int v_dim, Tensor& out, Allocator& scratch,
                        cudaStream_t stream);
// What mla_attention_with(kernel, num_splits, ...) launches for these
// arguments: the kernel (kAuto resolved) and its split count; for benchmarks
// (the rule's pick beside the time) and tests. Throws as mla_attention_with
// does for a kernel the shapes do not fit.
struct MlaPlan {
  MlaKernel kernel;
  int splits;
};
MlaPlan mla_plan(MlaKernel kernel, int num_splits, const Tensor& q, const Tensor& cache, const AttentionMetadata& m,
                 int v_dim, const Tensor& out);
// The least 64-key tiles per split of the tensor-core kernels (0: the rule,
// else 1..64; SABLE_MLA_SPLIT_TILES at first use); for tests and benchmarks.
// False for a value outside 0..64.
bool set_mla_split_tiles(int tiles);
// Up to how many (token, 64-head block) units kAuto takes the 16-head kernel
// (0, the default: never, unless the head count is not a
// multiple of 64; SABLE_MLA_SMALL_UNITS at first use; knob
// "mla-small-units"). False outside 0..4096.
bool set_mla_small_units(int units);
// How a CUDA graph's MLA decode picks its split count (knob
// "mla-graph-splits", SABLE_MLA_GRAPH_SPLITS): 1 (the default), one that
// suits every context up to the graph's bound (mla_graph_splits); 0, the
// bound's own (mla_splits at the longest context).
bool set_mla_graph_splits(int mode);
MlaSplitRule mla_graph_split_rule();  // the rule that mode gives a graph's calls
// Knob "mla-fp8-ws" (SABLE_MLA_FP8_WS): MLA decode on an FP8 cache at 64
// heads a CTA takes the warp-specialized kernel (1, the default) or the
// wgmma one (0). False for other values.
bool set_mla_fp8_ws(int on);
int mla_fp8_ws();
// CTAs an SM of the 16-head kernel for this cache dtype (a BF16 stage, or on
// an FP8 cache operands widened in registers): the slots its split rule counts.
int mla_small_ctas_per_sm(bool fp8_cache);
// Knob "mla-combine-groups" (SABLE_MLA_COMBINE_GROUPS): thread groups of the
// MLA split-K combine, each walking every G-th split: 1, 2, 4, 8, or 0 (the
// default) by the split count. False for other values.
bool set_mla_combine_groups(int groups);
// Knob "mla-combine-blocks" (SABLE_MLA_COMBINE_BLOCKS): blocks of the MLA
// split-K combine a (token, head) row, each over 1 / C of the value dims: 1,
// 2, 4, or 0 (the default) by the row count. The bits do not depend on it.
// False for other values.
bool set_mla_combine_blocks(int blocks);
// Testing: the widening the MLA kernels apply to an FP8 cache's e4m3 bytes,
// n of them (a multiple of 8) at src to n bf16 bit patterns at dst.
void mla_widen_e4m3(const uint8_t* src, uint16_t* dst, int64_t n, cudaStream_t stream);
// Knob "pinned-staging" (SABLE_PINNED_STAGING): 1 (the default), small
// uploads through pinned staging without waiting (pinned_staging.h); 0, the
// waiting copies.
bool set_pinned_staging(int on);
bool pinned_staging_enabled();

// MLA prefill in the expanded form (backend.h): the latent gather and the
// causal flash attention at head dims nope + rope / v over up-projected keys.
void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe, cudaStream_t stream);
void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                            float softmax_scale, bool accumulate, Tensor& out, Tensor& lse, cudaStream_t stream);
// Which kernel mla_attention_expanded uses; for tests and benchmarks. kMma:
// the mma.sync tensor-core kernel (BF16, nope 128, rope 64, v 128); kWgmma:
// the warp-specialized wgmma kernel (same dims; the default for them);
// kGeneric: any dims.
enum class MlaExpandedKernel { kAuto, kGeneric, kMma, kWgmma };
void mla_attention_expanded_with(MlaExpandedKernel kernel, const Tensor& q, const Tensor& kv, const Tensor& k_pe,
                                 int q_pos0, int k_pos0, float softmax_scale, bool accumulate, Tensor& out, Tensor& lse,
                                 cudaStream_t stream);

void add_inplace(Tensor& a, const Tensor& b, cudaStream_t stream);
void gather_rows(const Tensor& x, const Tensor& index, Tensor& out, cudaStream_t stream);
void copy_columns(const Tensor& x, int64_t col0, Tensor& out, cudaStream_t stream);
void convert(const Tensor& src, Tensor& dst, cudaStream_t stream);

}  // namespace sable::cuda
