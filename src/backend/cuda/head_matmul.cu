// Per-head matmuls of MLA: head_matmul (W_UV out of the latent output) and
// mla_absorb_q (q_nope @ W_UK into the latent query, plus the copy of q_rope).
//
// Up to head_gemv_auto_max_tokens() tokens (decode at batch 1) they take the
// streaming kernels of head_gemv.cu, which read each weight once and write
// the q_rope copy in the same launch; otherwise, and for every T in
// batch-invariant mode (where a row's bits must not depend on T, and the
// streaming kernels stop at kHeadGemvMaxT), cuBLAS strided-batched GEMMs with
// fp32 accumulation.
//
// Row-major [T, heads, K] activations are, per head, column-major K x T
// matrices with leading dimension heads*K, so each head is one GEMM of the
// batch with stride K between heads and no repacking:
//   out_h^T (N x T) = op(W_h) (N x K) * x_h^T (K x T).
#include <cassert>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/head_gemv.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_common.cuh"

namespace sable::cuda {
namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    case DType::F32: return CUDA_R_32F;
    default: throw std::runtime_error(std::string("CUDA head_matmul: unsupported dtype ") + dtype_name(t));
  }
}

// W in x's dtype: as is, or converted into a scratch tensor (slow path; the
// model should hand BF16 per-head weights on CUDA).
Tensor weight_as(const Tensor& w, DType dt, Allocator& scratch, cudaStream_t stream) {
  if (w.dtype() == dt) return w;
  Tensor c = Tensor::empty(dt, w.shape(), scratch);
  convert(w, c, stream);
  return c;
}

// C (m x n, ldc, strideC) = op(A) (m x k) * B (k x n, ldb, strideB), batch.
void gemm_batched(cublasHandle_t h, cudaStream_t stream, bool transA, int m, int n, int k, const void* A,
                  int lda, long long strideA, const void* B, int ldb, long long strideB, void* C, int ldc,
                  long long strideC, int batch, DType ab, DType c) {
  SABLE_CUBLAS_CHECK(cublasSetStream(h, stream));
  const float alpha = 1.f, beta = 0.f;
  SABLE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, transA ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, A, cuda_type(ab), lda, strideA, B,
      cuda_type(ab), ldb, strideB, &beta, C, cuda_type(c), ldc, strideC, batch, CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

// q_latent's tail: q_rope copied, or rotated at rope_pos[t] on the way
// (rope_rotate: the bits of rope.cu's kernel).
template <typename T>
__global__ void copy_rope_kernel(const T* q, T* ql, int heads, int qk, int nope, int L, int kv_lora,
                                 const int32_t* rope_pos, RopeArgs r) {
  pdl_begin();
  const int64_t th = blockIdx.x;  // token * heads + head
  const int rope = qk - nope;
  if (!rope_pos) {
    for (int i = threadIdx.x; i < rope; i += blockDim.x) ql[th * L + kv_lora + i] = q[th * qk + nope + i];
    return;
  }
  const int32_t pos = rope_pos[th / heads];
  for (int i = threadIdx.x; i < rope / 2; i += blockDim.x) {
    int a, b;
    rope_pair(i, rope, r.interleaved, a, b);
    float x0 = to_f32(q[th * qk + nope + a]), x1 = to_f32(q[th * qk + nope + b]);
    rope_rotate(x0, x1, pos, i, r);
    ql[th * L + kv_lora + a] = from_f32<T>(x0);
    ql[th * L + kv_lora + b] = from_f32<T>(x1);
  }
}

// The streaming kernels' share of the calls (head_gemv.h), never in
// batch-invariant mode.
bool take_streaming(int64_t T) { return !batch_invariant() && T <= head_gemv_auto_max_tokens(); }

}  // namespace

void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out, cublasHandle_t handle,
                 Allocator& scratch, cudaStream_t stream) {
  const int64_t T = x.dim(0), heads = x.dim(1), K = x.dim(2), N = out.dim(2);
  assert(w.dim(0) == heads && (transposed ? w.dim(2) == K && w.dim(1) == N : w.dim(1) == K && w.dim(2) == N));
  assert(out.dim(0) == T && out.dim(1) == heads);
  if (T == 0) return;
  if (take_streaming(T) && head_gemv(x, w, transposed, out, stream)) return;
  Tensor wc = weight_as(w, x.dtype(), scratch, stream);
  // not transposed: W_h row-major K x N = column-major N x K (lda N), op N.
  // transposed:     W_h row-major N x K = column-major K x N (lda K), op T.
  gemm_batched(handle, stream, transposed, int(N), int(T), int(K), wc.data(), transposed ? int(K) : int(N),
               K * N, x.data(), int(heads * K), K, out.data(), int(heads * N), N, int(heads), x.dtype(),
               out.dtype());
}

void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                  const RopeParams* rope, cublasHandle_t handle, Allocator& scratch, cudaStream_t stream) {
  const int64_t T = q.dim(0), heads = q.dim(1), qk = q.dim(2);
  const int64_t nope = w_uk.dim(1), kv_lora = w_uk.dim(2), L = q_latent.dim(2);
  assert(L == kv_lora + (qk - nope) && w_uk.dim(0) == heads && q.dtype() == q_latent.dtype());
  assert(nope <= qk && q_latent.dim(0) == T && q_latent.dim(1) == heads);
  assert((rope_positions == nullptr) == (rope == nullptr));
  if (T == 0) return;
  RopeArgs r{};
  const int32_t* pos = nullptr;
  if (rope) {
    assert(rope->inv_freq.device() == Device::kCUDA && (qk - nope) % 2 == 0);
    r = RopeArgs{rope->inv_freq.ptr<float>(), rope->attention_factor, rope->interleaved};
    pos = rope_positions->ptr<int32_t>();
  }
  // W_UK is [heads, nope, kv_lora]: q[..., :nope] @ W_UK, q[..., nope:] copied (or rotated).
  if (take_streaming(T) && head_gemv(q, w_uk, /*transposed=*/false, q_latent, stream, pos, rope ? &r : nullptr)) return;
  Tensor wc = weight_as(w_uk, q.dtype(), scratch, stream);
  // q_latent_h[:, :kv_lora]^T (kv_lora x T) = W_UK_h^T (kv_lora x nope) * q_nope_h^T (nope x T);
  // W_UK_h row-major nope x kv_lora = column-major kv_lora x nope (lda kv_lora).
  gemm_batched(handle, stream, false, int(kv_lora), int(T), int(nope), wc.data(), int(kv_lora),
               nope * kv_lora, q.data(), int(heads * qk), qk, q_latent.data(), int(heads * L), L, int(heads),
               q.dtype(), q_latent.dtype());
  SABLE_DISPATCH_ACT("mla_absorb_q", q.dtype(), T_, {
    launch_pdl(copy_rope_kernel<T_>, unsigned(T * heads), 64, 0, stream, q.ptr<T_>(), q_latent.ptr<T_>(), int(heads),
               int(qk), int(nope), int(L), int(kv_lora), pos, r);
    SABLE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace sable::cuda
