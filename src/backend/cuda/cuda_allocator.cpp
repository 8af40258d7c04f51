#include "backend/cuda/cuda_allocator.h"

#include <cstdio>
#include <new>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {
namespace {
// Knob "alloc-zero-fill": 0 (the default) leaves blocks as they are,
// whatever set_zero_fill says: what must be zero is cleared by
// allocate_zeroed (Tensor::zeros, the KV cache). 1 clears every block
// handed out, as set_zero_fill(true) asks, at ~0.1 ms a decode step of 58
// memset nodes (H200, record 2026-12-06-81e6389; every CUDA test passed
// without it on an H100, record 2026-12-06-h100-knobs-on).
TuningValue g_zero_fill{"SABLE_ALLOC_ZERO_FILL", 0, [](int v) { return v == 0 || v == 1; }};
}  // namespace

bool set_alloc_zero_fill(int on) { return g_zero_fill.set(on); }

CudaAllocator::CudaAllocator(int device, cudaStream_t stream) : device_(device), stream_(stream) {}

CudaAllocator::~CudaAllocator() {
  // Live blocks belong to tensors that may outlive the backend in static
  // teardown; only cached blocks go back. Errors are ignored here: the
  // driver may already be shutting down.
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [pool, sizes] : free_)
    for (auto& [size, blocks] : sizes)
      for (void* p : blocks) cudaFree(p);
}

size_t CudaAllocator::round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void* CudaAllocator::driver_alloc(size_t rounded) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, rounded);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear; retry after returning the cache
    // Free lists may hold enough in other sizes: give them back and retry.
    // Only the shared pool: a graph pool's free blocks are the memory its
    // captured kernels use on every replay.
    for (auto& [pool, sizes] : free_)
      for (auto& [size, blocks] : sizes) {
        if (pool != 0) continue;
        for (void* q : blocks) SABLE_CUDA_CHECK(cudaFree(q));
        stats_.cached -= size * blocks.size();
        blocks.clear();
      }
    e = cudaMalloc(&p, rounded);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      // stderr, not the logger: sable_cuda links below sable_lib.
      std::fprintf(stderr, "CUDA out of memory: asked for %.1f MiB, %.1f MiB in use by Sable, %.1f MiB free of %.1f MiB\n",
                   double(rounded) / (1 << 20), double(stats_.in_use) / (1 << 20), double(free_b) / (1 << 20),
                   double(total_b) / (1 << 20));
      throw std::bad_alloc();
    }
  }
  ++stats_.driver_allocs;
  return p;
}

void* CudaAllocator::allocate(size_t bytes) {
  const size_t rounded = round_size(bytes);
  void* p = nullptr;
  bool zero = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& sizes = free_[pool_];
    size_t size = rounded;
    auto* bucket = &sizes[rounded];
    if (bucket->empty() && pool_ != 0) {
      // A graph pool that graphs share, captured largest first: the
      // smallest free block that holds the request, whatever its size, so
      // that a smaller step reuses a larger one's memory.
      for (auto& [s, blocks] : sizes)
        if (!blocks.empty() && s > rounded && (size == rounded || s < size)) size = s;
      bucket = &sizes[size];
    }
    if (!bucket->empty()) {
      p = bucket->back();
      bucket->pop_back();
      stats_.cached -= size;
    } else {
      p = driver_alloc(size);
    }
    live_[p] = Block{size, pool_};
    stats_.in_use += size;
    if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
    zero = zero_fill_ && g_zero_fill.get() == 1;
  }
  if (zero) SABLE_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  return p;
}

void* CudaAllocator::allocate_zeroed(size_t bytes) {
  bool cleared = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cleared = zero_fill_;
  }
  cleared = cleared && g_zero_fill.get() == 1;
  void* p = allocate(bytes);
  if (!cleared) SABLE_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
  return p;
}

void CudaAllocator::deallocate(void* p, size_t) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return;  // not ours (never happens); ignore rather than corrupt
  const Block b = it->second;
  live_.erase(it);
  free_[b.pool][b.size].push_back(p);
  stats_.in_use -= b.size;
  stats_.cached += b.size;
}

void CudaAllocator::release_cached() {
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [pool, sizes] : free_)
    for (auto& [size, blocks] : sizes) {
      if (pool != 0) continue;  // graph pools stay: their graphs replay into them
      for (void* q : blocks) SABLE_CUDA_CHECK(cudaFree(q));
      stats_.cached -= size * blocks.size();
      blocks.clear();
    }
}

void CudaAllocator::set_current_pool(int pool) {
  std::lock_guard<std::mutex> lock(mu_);
  pool_ = pool;
}

int CudaAllocator::current_pool() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pool_;
}

void CudaAllocator::set_zero_fill(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  zero_fill_ = on;
}

AllocatorStats CudaAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace sable::cuda
