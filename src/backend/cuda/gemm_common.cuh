// Shared pieces of the GEMM family (gemm*.cu, fp8*.cu, moe*.cu): error
// checks, the prepared weight forms, the per-stream workspace and the
// launch entry points of each kernel file.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backend/cuda/gemm.h"

namespace sable::cuda {

[[noreturn]] void gemm_fatal(const char* what, const char* detail, const char* file, int line);

#define SABLE_CUDA_OK(expr)                                                              \
  do {                                                                                   \
    cudaError_t _e = (expr);                                                             \
    if (_e != cudaSuccess) ::sable::cuda::gemm_fatal(#expr, cudaGetErrorString(_e),      \
                                                     __FILE__, __LINE__);                \
  } while (0)
#define SABLE_CUBLAS_OK(expr)                                                            \
  do {                                                                                   \
    cublasStatus_t _s = (expr);                                                          \
    if (_s != CUBLAS_STATUS_SUCCESS)                                                     \
      ::sable::cuda::gemm_fatal(#expr, cublasLtGetStatusString(_s), __FILE__, __LINE__); \
  } while (0)
#define SABLE_LAUNCH_OK() SABLE_CUDA_OK(cudaGetLastError())
#define SABLE_GEMM_REQUIRE(cond, msg)                                                    \
  do {                                                                                   \
    if (!(cond)) ::sable::cuda::gemm_fatal(#cond, msg, __FILE__, __LINE__);              \
  } while (0)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Activation scales of the FP8 path are stored group-major: scale of token t
// and 128-channel group g at scales[g * ld + t], ld = scale_ld(T). This is
// the layout cuBLASLt's VEC128_32F mode reads (outer dimension fastest, 16-byte
// aligned columns); the streaming kernels read the same.
inline int64_t scale_ld(int64_t tokens) { return round_up(tokens < 1 ? 1 : tokens, 4); }

// The device form of one linear weight (LinearWeight::prepared).
struct PreparedLinear {
  int64_t out = 0, in = 0;
  bool fp8 = false;
  void* weight = nullptr;      // BF16 or F8_E4M3 [out, in]
  float* scale = nullptr;      // F8: [ceil(out/128), kb_ld] (kb_ld = roundup(ceil(in/128), 4))
  int64_t kb_ld = 0;
  // FP8 only: the same weight again in the streaming tiles of expert_tiles.cuh
  // (tiled_kt K tiles per 32-row tile), which the streaming kernel reads at
  // few tokens; cuBLASLt keeps reading `weight` at prefill sizes. Null when
  // stream_tiles_enabled() is off. Why a second copy: a warp stage of the
  // natural rows is 32 pieces of 128 bytes, K bytes apart, and reads at
  // 3.2-3.7 TB/s where one contiguous 4 KB tile reads at 4.0-4.15 (H200,
  // bench_cuda_stream_read, record 2026-12-01-b1e14d0-stream-read.md).
  void* tiled = nullptr;
  int64_t tiled_kt = 0;
  std::shared_ptr<void> weight_mem, scale_mem, tiled_mem;
};
// Whether prepare_linear/make_random_linear add the tiled copy to FP8
// weights (SABLE_STREAM_TILES=0 turns it off; read once).
bool stream_tiles_enabled();

// The device form of one MoE layer's experts (MoeExperts::prepared).
// Gate and up are fused row-interleaved in units of 16 rows: fused row block u
// (32 rows) holds gate rows [16u, 16u+16) then up rows [16u, 16u+16), so that a
// warp's 32-row tile yields matching gate and up outputs for the SiLU product.
// Both weights are stored in the streaming tiles of expert_tiles.cuh (32 rows
// x 128 bytes of K per 4 KB tile), one expert every w13_stride / w2_stride bytes.
struct PreparedExperts {
  int E = 0;
  int64_t H = 0, I = 0;
  bool fp8 = false;
  void* w13 = nullptr;     // E x tiled [2I, H] (interleaved as above)
  void* w2 = nullptr;      // E x tiled [H, I]
  int64_t w13_stride = 0, w2_stride = 0;  // bytes per expert
  float* s13 = nullptr;    // F8: [E, 2, ceil(I/128), ceil(H/128)] gate then up, natural row order
  float* s2 = nullptr;     // F8: [E, ceil(H/128), ceil(I/128)]
  std::shared_ptr<void> mem;  // owns everything above (one allocation)
};

// Per-stream scratch space. Buffers grow (outside graph capture) and are
// never shrunk; linear()/moe_experts() only check they are large enough.
struct GemmWorkspace {
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* lt_ws = nullptr;
  size_t lt_ws_bytes = 0;
  // A general arena carved per call (quantized activations, scales,
  // split-K partials, MoE permutation and intermediates).
  char* arena = nullptr;
  size_t arena_bytes = 0;
  // Whether a CUDA graph was captured using the current arena; if so, a
  // larger one replaces it without freeing it (retired): the graph still
  // reads and writes the old one.
  bool arena_in_graph = false;
  std::vector<char*> retired;
  std::shared_ptr<void> lt_plans;  // gemm_cublaslt.cu's plan cache
};
// Returns a pointer to at least `bytes` of the stream's arena (grows it if
// needed; growing during graph capture is an error).
char* gemm_arena(GemmWorkspace* ws, size_t bytes);

// ---- kernel entry points (one file each) ----

// fp8_quant.cu. x BF16 [T, K] (row stride ldx) -> q [T_pad, K] (row stride K),
// scale of (t, g) at scales[g * s_sk + t * s_st]; rows [T, T_pad) get zeros
// and scale 1.
void launch_quantize_act_fp8_padded(const __nv_bfloat16* x, int64_t T, int64_t T_pad, int64_t K,
                                    int64_t ldx, uint8_t* q, float* scales, int64_t s_sk,
                                    int64_t s_st, cudaStream_t stream);
// The group-major layout (scales[g * sld + t]).
void launch_quantize_act_fp8(const __nv_bfloat16* x, int64_t T, int64_t K, int64_t ldx, uint8_t* q, float* scales,
                             int64_t sld, cudaStream_t stream);
// Weight [R, C] (BF16) -> FP8 [R, C] + scales [ceil(R/128), sld] (row-major).
void launch_quantize_weight_fp8(const __nv_bfloat16* w, int64_t R, int64_t C, uint8_t* q,
                                float* scales, int64_t sld, cudaStream_t stream);
// Any float dtype -> BF16 (elementwise, n elements).
void launch_to_bf16(const void* src, int src_dtype, int64_t n, __nv_bfloat16* dst,
                    cudaStream_t stream);

// gemm_cublaslt.cu. out[T, N] = x[T, K] W^T via cuBLASLt; returns false when
// cuBLASLt has no algorithm for the shape (the caller falls back).
bool cublaslt_bf16(GemmWorkspace* ws, const __nv_bfloat16* x, int64_t T, int64_t K,
                   const __nv_bfloat16* w, int64_t N, void* out, bool out_f32);
// FP8 block-scaled: xq [T, K] with scales laid out as fp8_block_config()
// says, w [N, K] with scales [ceil(N/128), kb_ld]. T must be a multiple of 4.
bool cublaslt_fp8_block(GemmWorkspace* ws, const uint8_t* xq, const float* xs, int64_t T,
                        int64_t K, const uint8_t* w, const float* wscale, int64_t N, void* out,
                        bool out_f32);
// What cuBLASLt's block-scaled FP8 matmul accepts on this device, found once
// by a probe GEMM against a host reference (run outside graph capture, e.g.
// from prepare_linear). Its scale layouts are documented only loosely, so
// they are measured rather than assumed.
struct Fp8BlockConfig {
  bool supported = false;
  bool act_kmajor = false;  // activation scales [t][g] (else [g][t], t padded to 4)
  bool w_kb_pad4 = true;    // weight scale rows padded to a multiple of 4 blocks
};
const Fp8BlockConfig& fp8_block_config();
int64_t weight_scale_ld(int64_t in_features);  // kb_ld under fp8_block_config()

// gemm_stream.cu: the weight-streaming tensor-core kernel (see gemm_stream.cuh).
struct StreamGemmArgs;
void launch_stream_gemm(const StreamGemmArgs& a, cudaStream_t stream);
// moe_grouped_wgmma.cu: the grouped wgmma kernel (bn 128 tiles with
// tile_groups, bf16, N % 128 == 0, K % 64 == 0, BF16 output).
bool grouped_wgmma_supported(const StreamGemmArgs& a);
void launch_grouped_wgmma(const StreamGemmArgs& a, cudaStream_t stream);

}  // namespace sable::cuda
