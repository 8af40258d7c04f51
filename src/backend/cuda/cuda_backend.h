// The CUDA backend: the op table of backend/backend.h on one GPU. BF16
// activations (router logits and anything the caller asks for in F32 stay
// F32), one compute stream, a caching device allocator, a cuBLAS handle with
// a fixed workspace. Every op only enqueues work on the stream (no host
// synchronization, no cudaMalloc in steady state), so a forward pass can be
// captured in a CUDA graph; to_device/copy_to_host/prepare_* synchronize.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "backend/backend.h"
#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/cuda_allocator.h"
#include "backend/cuda/pinned_staging.h"
#include "backend/cuda/weight_upload.h"

struct cublasContext;

namespace sable::cuda {

struct CudaBackendOptions {
  // --quantization fp8: BF16/F16/F32 linear and expert weights are quantized
  // at load into the DeepSeek-V3 128x128-block FP8 format.
  bool quantize_fp8 = false;
  // --batch-invariant (see cuda::set_batch_invariant in gemm.h).
  bool batch_invariant = false;
  // The latent KV cache dtype (BF16 now; FP8 later). The runner allocates the
  // cache; the attention kernels dispatch on the tensor's dtype.
  DType kv_cache_dtype = DType::BF16;
  // See CudaAllocator: Tensor::zeros() on the device relies on it.
  bool zero_fill_allocations = true;
  size_t cublas_workspace_bytes = size_t(32) << 20;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, const CudaBackendOptions& opts);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return "cuda"; }
  Device device() const override { return Device::kCUDA; }
  Allocator& allocator() override { return *alloc_; }
  DType activation_dtype() const override { return DType::BF16; }
  bool batch_invariant() const override { return cuda::batch_invariant(); }

  Tensor to_device(const Tensor& host) override;
  void copy_to_host(const Tensor& src, void* dst) override;
  void prepare_linear(LinearWeight& w) override;
  void prepare_experts(MoeExperts& e) override;
  void synchronize() override;
  void bind_thread() override;
  bool memory_info(size_t* free_bytes, size_t* total_bytes) override;
  void copy_from_host(const void* src, Tensor& dst) override;
  void copy_from_host_2d(const void* src, size_t src_pitch, Tensor& dst, size_t offset, size_t dst_pitch, size_t width,
                         size_t rows) override;
  // cuda_graph.cu: a graph's allocations go to `pool` (new_graph_pool), or to a pool of its own when 0.
  std::shared_ptr<void> capture_graph(const std::function<void()>& fn, int pool) override;
  int new_graph_pool() override { return next_graph_pool_++; }
  void replay_graph(void* graph) override;
  int graph_kernels(const void* graph) const override;
  int graph_memsets(const void* graph) const override;
  int multiprocessors() const override;
  MlaSplitRule mla_graph_split_rule() const override;

  void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out) override;
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void linear(const Tensor& x, const LinearWeight& w, Tensor& out) override;
  bool mla_front(Tensor& residual, const Tensor* prev, const Tensor& input_ln, float eps, const LinearWeight& w_qkv_a,
                 const Tensor& q_a_ln, const LinearWeight& w_q_b, Tensor& qkv, Tensor& q) override;
  bool has_mla_front(int64_t tokens) const override;
  void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out) override;
  void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions, const RopeParams& p) override;
  void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p, Tensor& topk_ids,
                 Tensor& topk_weights) override;
  void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const MoeExperts& w,
                   Tensor& out) override;
  void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) override;
  void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                    const RopeParams* rope) override;
  void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                    const AttentionMetadata& m, Tensor& cache) override;
  void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float softmax_scale,
                     int v_dim, Tensor& out) override;
  void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe) override;
  void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                              float softmax_scale, bool accumulate, Tensor& out, Tensor& lse) override;
  void add_inplace(Tensor& a, const Tensor& b) override;
  void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) override;
  void copy_columns(const Tensor& x, int64_t col0, Tensor& out) override;
  void convert(const Tensor& src, Tensor& dst) override;
  bool sample_tokens(const Tensor& logits, const std::vector<TokenSamplingRow>& rows, int32_t* tokens) override;

  // For the runner (graphs, memory planning), the sampler and tests.
  cudaStream_t stream() const { return stream_; }
  CudaAllocator& cuda_allocator() { return *alloc_; }
  cublasContext* cublas() const { return cublas_; }
  int device_index() const { return device_; }
  const CudaBackendOptions& options() const { return opts_; }

 private:
  int device_;
  CudaBackendOptions opts_;
  cudaStream_t stream_ = nullptr;
  cublasContext* cublas_ = nullptr;
  void* cublas_ws_ = nullptr;
  std::unique_ptr<CudaAllocator> alloc_;
  int next_graph_pool_ = 1;
  unsigned* front_barrier_ = nullptr;       // mla_front's grid barrier: two words, zeroed once
  std::unique_ptr<PinnedStaging> staging_;  // small uploads without waiting for the stream
  std::unique_ptr<cuda::WeightUploader> uploader_;  // weights at load (SABLE_PINNED_WEIGHTS=1), made at first use
  cuda::WeightUploader* uploader();
};

// A backend with its own stream and allocator. Tensors it allocated must be
// released before it is destroyed.
std::unique_ptr<CudaBackend> make_cuda_backend(int device = 0, const CudaBackendOptions& opts = {});

// The process-wide backend of a device with default options (never
// destroyed, so tensors may outlive any scope).
Backend& cuda_backend(int device = 0);

}  // namespace sable::cuda
