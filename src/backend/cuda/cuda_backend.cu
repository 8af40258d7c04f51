#include <cublas_v2.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/knobs.h"
#include "backend/cuda/mla_front.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/sampling.h"

namespace sable::cuda {

CudaBackend::CudaBackend(int device, const CudaBackendOptions& opts) : device_(device), opts_(opts) {
  SABLE_CUDA_CHECK(cudaSetDevice(device_));
  SABLE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  alloc_ = std::make_unique<CudaAllocator>(device_, stream_);
  alloc_->set_zero_fill(opts_.zero_fill_allocations);
  SABLE_CUBLAS_CHECK(cublasCreate(&cublas_));
  SABLE_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  // A fixed workspace keeps cuBLAS from allocating during graph capture.
  SABLE_CUDA_CHECK(cudaMalloc(&cublas_ws_, opts_.cublas_workspace_bytes));
  SABLE_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_ws_, opts_.cublas_workspace_bytes));
  if (opts_.batch_invariant) set_batch_invariant(true);
  // mla_front's grid barrier (two words; here, not at first use, which may be under graph capture).
  SABLE_CUDA_CHECK(cudaMalloc(&front_barrier_, 8));
  SABLE_CUDA_CHECK(cudaMemset(front_barrier_, 0, 8));
  staging_ = std::make_unique<PinnedStaging>(size_t(16) << 20);
}

CudaBackend::~CudaBackend() {
  // Best effort: the driver may be shutting down at exit. On this backend's
  // device (a tensor-parallel rank's backend may go on another thread), and
  // back after.
  int prev = -1;
  cudaGetDevice(&prev);
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (stream_) release_gemm_workspace(stream_);
  if (cublas_) cublasDestroy(cublas_);
  if (cublas_ws_) cudaFree(cublas_ws_);
  if (front_barrier_) cudaFree(front_barrier_);
  staging_.reset();
  uploader_.reset();
  alloc_.reset();
  if (stream_) cudaStreamDestroy(stream_);
  if (prev >= 0) cudaSetDevice(prev);
}

void CudaBackend::bind_thread() { SABLE_CUDA_CHECK(cudaSetDevice(device_)); }

cuda::WeightUploader* CudaBackend::uploader() {
  if (!cuda::pinned_weight_uploads_enabled()) return nullptr;
  if (!uploader_) uploader_ = std::make_unique<cuda::WeightUploader>();
  return uploader_.get();
}

Tensor CudaBackend::to_device(const Tensor& host) {
  if (host.device() == Device::kCUDA) return host;
  Tensor d = Tensor::empty(host.dtype(), host.shape(), *alloc_);
  if (cuda::WeightUploader* up = host.nbytes() >= (size_t(1) << 20) ? uploader() : nullptr)
    up->copy(d.data(), host.data(), host.nbytes(), stream_);
  else if (host.nbytes())
    SABLE_CUDA_CHECK(cudaMemcpyAsync(d.data(), host.data(), host.nbytes(), cudaMemcpyHostToDevice, stream_));
  // The host tensor may be freed or unmapped as soon as we return.
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return d;
}

void CudaBackend::copy_to_host(const Tensor& src, void* dst) {
  if (!src.nbytes()) return;
  const cudaMemcpyKind kind = src.device() == Device::kCUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
  SABLE_CUDA_CHECK(cudaMemcpyAsync(dst, src.data(), src.nbytes(), kind, stream_));
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::prepare_linear(LinearWeight& w) {
  cuda::prepare_linear(w, opts_.quantize_fp8 && !w.keep_precision, stream_, uploader());
}
void CudaBackend::prepare_experts(MoeExperts& e) { cuda::prepare_experts(e, opts_.quantize_fp8, stream_, uploader()); }
void CudaBackend::synchronize() { SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

bool CudaBackend::memory_info(size_t* free_bytes, size_t* total_bytes) {
  return cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess;
}

// The current device's (each rank's thread has its own current).
int CudaBackend::multiprocessors() const { return sm_count(); }
MlaSplitRule CudaBackend::mla_graph_split_rule() const { return cuda::mla_graph_split_rule(); }

void CudaBackend::embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out) {
  cuda::embedding(ids, table, row_begin, out, stream_);
}
void CudaBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  if (skipped(kSkipElementwise)) return;
  cuda::rms_norm(x, w, eps, out, stream_);
}
void CudaBackend::add_rms_norm(Tensor& r, const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  if (skipped(kSkipElementwise)) return;
  cuda::add_rms_norm(r, x, w, eps, out, stream_);
}
// Opt-in while it is measured: knob mla-front (SABLE_MLA_FRONT=1); one token.
bool CudaBackend::has_mla_front(int64_t tokens) const {
  return tokens == 1 && cuda::mla_front_enabled() && !skipped(kSkipElementwise) && !cuda::batch_invariant();
}
bool CudaBackend::mla_front(Tensor& residual, const Tensor* prev, const Tensor& input_ln, float eps,
                            const LinearWeight& w_qkv_a, const Tensor& q_a_ln, const LinearWeight& w_q_b, Tensor& qkv,
                            Tensor& q) {
  if (!has_mla_front(residual.dim(0)) || residual.dtype() != DType::F32 || (prev && prev->dtype() != DType::BF16) ||
      input_ln.dtype() != DType::BF16 || q_a_ln.dtype() != DType::BF16 || qkv.dtype() != DType::BF16 ||
      q.dtype() != DType::BF16 || w_qkv_a.weight.dtype() != DType::F8_E4M3 || w_q_b.weight.dtype() != DType::F8_E4M3)
    return false;
  cuda::MlaFrontArgs a;
  cuda::mla_front_set_weights(a, w_qkv_a, w_q_b);
  a.residual = residual.ptr<float>();
  a.prev = prev ? prev->ptr<__nv_bfloat16>() : nullptr;
  a.ln = input_ln.ptr<__nv_bfloat16>();
  a.qa_ln = q_a_ln.ptr<__nv_bfloat16>();
  a.qkv = qkv.ptr<__nv_bfloat16>();
  a.q = q.ptr<__nv_bfloat16>();
  a.H = int(residual.dim(1));
  a.Q = int(q_a_ln.numel());
  a.eps = eps;
  const int grid = cuda::mla_front_grid(a.N1);
  if (grid == 0) return false;
  a.w2_smem_rows = std::min((a.N2 + grid - 1) / grid, cuda::mla_front_max_smem_rows(a.Q));
  if (!cuda::mla_front_supported(a)) return false;
  a.bar_count = front_barrier_;
  a.bar_gen = front_barrier_ + 1;
  cuda::mla_front(a, stream_);
  return true;
}

void CudaBackend::linear(const Tensor& x, const LinearWeight& w, Tensor& out) {
  if (skipped(kSkipRouter) && out.dtype() == DType::F32 && out.dim(1) <= 1024) {  // the MoE router, not lm_head
    SABLE_CUDA_CHECK(cudaMemsetAsync(out.data(), 0, out.nbytes(), stream_));
    return;
  }
  cuda::linear(x, w, out, stream_);
}
void CudaBackend::silu_and_mul(const Tensor& g, const Tensor& u, Tensor& out) {
  if (skipped(kSkipElementwise)) return;
  cuda::silu_and_mul(g, u, out, stream_);
}
void CudaBackend::rope(Tensor& x, int offset, int rope_dim, const Tensor& pos, const RopeParams& p) {
  if (skipped(kSkipElementwise)) return;
  cuda::rope(x, offset, rope_dim, pos, p, stream_);
}
void CudaBackend::moe_route(const Tensor& logits, const Tensor& bias, const MoeRoutingParams& p, Tensor& ids,
                            Tensor& weights) {
  cuda::moe_route(logits, bias, p, ids, weights, stream_);
}
void CudaBackend::moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const MoeExperts& w,
                              Tensor& out) {
  cuda::moe_experts(x, ids, weights, w, out, stream_);
}
void CudaBackend::head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) {
  if (skipped(kSkipHeadMatmuls)) return;
  cuda::head_matmul(x, w, transposed, out, cublas_, *alloc_, stream_);
}
void CudaBackend::mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                               const RopeParams* rope) {
  if (skipped(kSkipHeadMatmuls)) return;
  if (rope && !absorb_rope_fused()) {  // A/B: RoPE in a launch of its own, as before the fusion
    cuda::mla_absorb_q(q, w_uk, q_latent, nullptr, nullptr, cublas_, *alloc_, stream_);
    cuda::rope(q_latent, int(w_uk.dim(2)), int(q.dim(2) - w_uk.dim(1)), *rope_positions, *rope, stream_);
    return;
  }
  cuda::mla_absorb_q(q, w_uk, q_latent, rope_positions, rope, cublas_, *alloc_, stream_);
}
void CudaBackend::mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                               const AttentionMetadata& m, Tensor& cache) {
  if (skipped(kSkipKvWrite)) return;
  cuda::mla_write_kv(kv, norm_w, eps, rope, m, cache, stream_);
}
void CudaBackend::mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe) {
  cuda::mla_read_kv(cache, slots, c_kv, k_pe, stream_);
}
void CudaBackend::mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0,
                                         int k_pos0, float scale, bool accumulate, Tensor& out, Tensor& lse) {
  cuda::mla_attention_expanded(q, kv, k_pe, q_pos0, k_pos0, scale, accumulate, out, lse, stream_);
}
void CudaBackend::mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float scale,
                                int v_dim, Tensor& out) {
  if (skipped(kSkipAttention)) return;
  cuda::mla_attention(q, cache, m, scale, v_dim, out, *alloc_, stream_);
}
void CudaBackend::add_inplace(Tensor& a, const Tensor& b) {
  if (skipped(kSkipElementwise)) return;
  cuda::add_inplace(a, b, stream_);
}
void CudaBackend::gather_rows(const Tensor& x, const Tensor& index, Tensor& out) {
  cuda::gather_rows(x, index, out, stream_);
}

void CudaBackend::copy_columns(const Tensor& x, int64_t col0, Tensor& out) {
  cuda::copy_columns(x, col0, out, stream_);
}
void CudaBackend::convert(const Tensor& src, Tensor& dst) { cuda::convert(src, dst, stream_); }

bool CudaBackend::sample_tokens(const Tensor& logits, const std::vector<TokenSamplingRow>& rows, int32_t* tokens) {
  const int64_t N = int64_t(rows.size());
  if (N == 0) return true;
  if (logits.dim(0) != N) throw std::invalid_argument("CudaBackend::sample_tokens: one parameter row per logits row");
  // One upload of every row's parameters, in 4-byte words: temperature,
  // top_p, min_p, top_k, draft, then the 8-byte seed and step at an even word.
  const int64_t w64 = (5 * N + 1) / 2 * 2;
  std::vector<uint32_t> host(size_t(w64 + 4 * N));
  auto* f = reinterpret_cast<float*>(host.data());
  auto* k = reinterpret_cast<int32_t*>(host.data() + 3 * N);
  auto* u = reinterpret_cast<uint64_t*>(host.data() + w64);
  for (int64_t i = 0; i < N; ++i) {
    const TokenSamplingRow& r = rows[size_t(i)];
    f[i] = r.temperature;
    f[N + i] = r.top_p;
    f[2 * N + i] = r.min_p;
    k[i] = r.top_k;
    k[N + i] = r.draft;
    u[i] = r.seed;
    u[N + i] = uint64_t(r.step);
  }
  Tensor params = empty(DType::I32, {int64_t(host.size())});
  copy_from_host(host.data(), params);
  Tensor out = empty(DType::I32, {N});
  // Only the split sampler reads scratch: no allocation (nor its clear) otherwise.
  Tensor scratch = sample_uses_scratch(N) ? empty(DType::U8, {sample_scratch_bytes(N, logits.dim(1))})
                                          : Tensor(nullptr, DType::U8, {0}, Device::kCUDA);
  const uint32_t* d = params.ptr<uint32_t>();
  cuda::SamplingParams p;
  p.temperature = reinterpret_cast<const float*>(d);
  p.top_p = reinterpret_cast<const float*>(d + N);
  p.min_p = reinterpret_cast<const float*>(d + 2 * N);
  p.top_k = reinterpret_cast<const int32_t*>(d + 3 * N);
  p.draft = reinterpret_cast<const int32_t*>(d + 4 * N);
  p.seed = reinterpret_cast<const uint64_t*>(d + w64);
  p.step = reinterpret_cast<const int64_t*>(d + w64 + 2 * N);
  // Which kernels the rows need (sampling.h): greedy rows need only the draw.
  const int64_t V = logits.dim(1);
  p.any_random = p.any_top_k = p.any_top_p = false;
  for (const TokenSamplingRow& r : rows) {
    if (!(r.temperature > 0.f) || r.top_k == 1) continue;
    p.any_random = true;
    p.any_top_k = p.any_top_k || (r.top_k > 0 && r.top_k < V);
    p.any_top_p = p.any_top_p || r.top_p < 1.f;
  }
  cuda::sample(logits, p, scratch, out, stream_);
  // Into pinned memory: the copy is queued behind the sampling, and the
  // stream is waited for once.
  void* pinned = staging_->host_buffer(size_t(N) * sizeof(int32_t));
  SABLE_CUDA_CHECK(cudaMemcpyAsync(pinned, out.data(), size_t(N) * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::memcpy(tokens, pinned, size_t(N) * sizeof(int32_t));
  return true;
}

std::unique_ptr<CudaBackend> make_cuda_backend(int device, const CudaBackendOptions& opts) {
  return std::make_unique<CudaBackend>(device, opts);
}

Backend& cuda_backend(int device) {
  static std::mutex mu;
  static CudaBackend* backends[64] = {};
  if (device < 0 || device >= 64) throw std::invalid_argument("cuda_backend: bad device index");
  std::lock_guard<std::mutex> lock(mu);
  if (!backends[device]) backends[device] = new CudaBackend(device, CudaBackendOptions{});  // never freed
  return *backends[device];
}

}  // namespace sable::cuda
