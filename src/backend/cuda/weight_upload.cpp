#include "backend/cuda/weight_upload.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_check.h"
#include "core/thread_pool.h"

namespace sable::cuda {

WeightUploader::WeightUploader(size_t chunk_bytes) : chunk_(std::max<size_t>(chunk_bytes, 1 << 20)) {
  for (int b = 0; b < 2; ++b) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, chunk_, cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();  // pinning refused (a container's limit): plain copies then
      if (buf_[0]) cudaFreeHost(buf_[0]);
      buf_[0] = nullptr;
      return;
    }
    buf_[b] = static_cast<char*>(p);
  }
  for (auto& e : done_) SABLE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
}

WeightUploader::~WeightUploader() {
  // Best effort, as the backend's own teardown: the driver may be going away.
  for (auto& e : done_)
    if (e) {
      cudaEventSynchronize(e);
      cudaEventDestroy(e);
    }
  for (char* b : buf_)
    if (b) cudaFreeHost(b);
}

void WeightUploader::copy(void* dst, const void* src, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (!pinned()) {
    SABLE_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream));
    return;
  }
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  for (size_t off = 0; off < n; off += chunk_) {
    const size_t len = std::min(chunk_, n - off);
    const int b = next_;
    next_ ^= 1;
    // The chunk's previous DMA has read it (an event never recorded is complete).
    SABLE_CUDA_CHECK(cudaEventSynchronize(done_[b]));
    char* pin = buf_[b];
    // Host to pinned with the pool's threads: one thread's memcpy, with the
    // page faults of a freshly mapped source, is the slow part.
    ThreadPool::global().parallel_for(int64_t(len), int64_t(1) << 20, [&](int64_t lo, int64_t hi) {
      std::memcpy(pin + lo, s + off + size_t(lo), size_t(hi - lo));
    });
    SABLE_CUDA_CHECK(cudaMemcpyAsync(d + off, pin, len, cudaMemcpyHostToDevice, stream));
    SABLE_CUDA_CHECK(cudaEventRecord(done_[b], stream));
  }
}

bool pinned_weight_uploads_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("SABLE_PINNED_WEIGHTS");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

}  // namespace sable::cuda
