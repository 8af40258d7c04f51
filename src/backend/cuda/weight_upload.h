// Weight uploads through pinned memory. A cudaMemcpyAsync from pageable host
// memory (a dummy weight just generated, or a page of an mmapped checkpoint)
// goes through the driver's own small staging buffer, one piece after
// another, while the host waits; this copies the source into two pinned
// chunks with the CPU threads of the calling thread's pool and queues each
// chunk's DMA while the next one fills. Used at load only (prepare_linear,
// prepare_experts, to_device); opt-in (SABLE_PINNED_WEIGHTS=1) until a device
// run shows the load faster with it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace sable::cuda {

class WeightUploader {
 public:
  // Two pinned chunks of chunk_bytes each; if the host cannot pin them,
  // copy() falls back to plain cudaMemcpyAsync.
  explicit WeightUploader(size_t chunk_bytes = size_t(32) << 20);
  ~WeightUploader();
  WeightUploader(const WeightUploader&) = delete;
  WeightUploader& operator=(const WeightUploader&) = delete;

  // Queues a copy of n bytes of host memory at src to device memory at dst on
  // stream and returns once src may be freed (every byte is in pinned memory
  // or already on the device). Later work on stream sees the bytes.
  void copy(void* dst, const void* src, size_t n, cudaStream_t stream);
  bool pinned() const { return buf_[0] != nullptr; }

 private:
  size_t chunk_;
  char* buf_[2] = {nullptr, nullptr};
  cudaEvent_t done_[2] = {nullptr, nullptr};  // the DMA out of each chunk
  int next_ = 0;
};

// SABLE_PINNED_WEIGHTS=1: the CUDA backend uploads weights through a
// WeightUploader. Read once.
bool pinned_weight_uploads_enabled();

}  // namespace sable::cuda
