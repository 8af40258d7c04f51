// Memory-streaming kernels for MLA's per-head matmuls at few tokens
// (head_gemv.cu), used by head_matmul and mla_absorb_q (head_matmul.cu).
//
// At decode each call reads a 16.8 MB weight (128 heads x 128 x 512 bf16) to
// multiply it by a handful of rows: the floor is the weight read (~4 us on an
// H200), which cuBLAS's strided-batched GEMM misses by ~2x. These kernels
// read each weight element once with 16-byte loads and sum in fp32 on CUDA
// cores, in a fixed order (deterministic, and a token's bits do not depend on
// how many tokens share the call, up to kHeadGemvMaxT).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"

namespace sable::cuda {

// Most tokens the streaming kernels take. Each weight element costs one fp32
// FMA per token; at DeepSeek-V3's 8.4M elements per weight, 16 tokens are
// 134M FMAs = ~4 us at the H200's 33.5 T FMA/s (132 SMs x 128 lanes x
// 1.98 GHz), i.e. the memory floor. Beyond it the CUDA-core FMAs, not the
// weight read, bound the kernel, and cuBLAS's tensor cores win.
constexpr int64_t kHeadGemvMaxT = 16;

// out[t, h, :N] = x[t, h, :K] @ W_h with W_h = w[h] (w [heads, K, N]) or, when
// transposed, W_h = w[h]^T (w [heads, N, K]); and, not transposed only,
// out[t, h, N:] = x[t, h, K:] exactly (mla_absorb_q's copy of q_rope: the two
// tails must have the same length). x [T, heads, K + tail], out
// [T, heads, N + tail]. Launches on `stream` only, allocates nothing.
//
// Returns false, launching nothing, when the call is outside what the kernels
// take: x and w BF16, out BF16 or F32, 1 <= T <= kHeadGemvMaxT, K, N and x's
// row length multiples of 8, x and w 16-byte aligned, K <= 1024 (not
// transposed) or x's rows fitting 48 KB of shared memory (transposed).
// With rope_positions (device [T] I32) and rope, the tail is rotated at
// those positions on the way (RoPE of q_rope, rope.cu's bits; not
// transposed, even tail).
struct RopeArgs;
bool head_gemv(const Tensor& x, const Tensor& w, bool transposed, Tensor& out, cudaStream_t stream,
               const int32_t* rope_positions = nullptr, const RopeArgs* rope = nullptr);

// The largest T that head_matmul / mla_absorb_q send here (they take cuBLAS
// above it): 1. Measured on the H200 (bench_cuda_attention, run of 286860d,
// record 2026-12-01-286860d-decode-launches.md) at DeepSeek-V3's shapes: at
// T=1 absorb 6.24 us vs cuBLAS 7.20, W_UV 5.66 vs 5.99; at T=2 7.00 vs 7.19
// and 6.38 vs 6.05; at T=8 14.9 vs 7.5 and 6.0 (run of 1296074: the
// multi-token tiles are FMA- and reduction-bound, not yet tuned). Testing
// knob: set_head_gemv_auto_max_tokens (tests run the kernels at every T they
// take). Not thread-safe.
int64_t head_gemv_auto_max_tokens();
void set_head_gemv_auto_max_tokens(int64_t t);

}  // namespace sable::cuda
