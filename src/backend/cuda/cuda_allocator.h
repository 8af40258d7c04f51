// A caching device allocator: memory is taken from the driver (cudaMalloc)
// once and then recycled, so that the forward pass never calls cudaMalloc or
// cudaFree in steady state (both synchronize the device, and neither may run
// while a CUDA graph is being captured).
//
// Invariants:
// - Blocks are recycled by exact rounded size (512 B granules up to 1 MiB,
//   2 MiB granules above). A decode step asks for the same sizes every step,
//   so after the first step every request is a cache hit.
// - All work runs on the backend's one compute stream; a block freed while
//   kernels that use it are still queued may be handed out again at once,
//   because the next user's kernels queue behind them on the same stream.
//   Work on another stream must synchronize with the compute stream before
//   its memory is freed (none exists today).
// - Graph pools make graph capture safe: while pool k is current, requests
//   are served from and freed into pool k only (a block always returns to the
//   pool it came from). Memory a captured graph uses then never changes hands
//   outside that pool between replays. Graphs that never replay at once may
//   share a pool (a runner's); a graph pool serves a request from the
//   smallest free block that holds it when none of its size is free, so that
//   graphs captured largest first reuse each other's memory.
// - With zero_fill on (the default) and the knob alloc-zero-fill at 1 (not
//   the default), every allocation is cleared by an async memset on the
//   compute stream (one memset launch per allocation; under capture, a
//   memset node). Tensor::zeros is cleared either way (allocate_zeroed).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace sable::cuda {

// Knob "alloc-zero-fill" (SABLE_ALLOC_ZERO_FILL): 0 turns the zero fill off
// in every allocator, including under graph capture, where each cleared
// allocation is a memset node between two kernels. False for a value other
// than 0 or 1.
bool set_alloc_zero_fill(int on);

struct AllocatorStats {
  size_t in_use = 0;        // bytes handed out (rounded)
  size_t cached = 0;        // bytes held in free lists
  size_t peak_in_use = 0;
  size_t driver_allocs = 0; // cudaMalloc calls so far
};

class CudaAllocator final : public Allocator {
 public:
  CudaAllocator(int device, cudaStream_t stream);
  ~CudaAllocator() override;
  CudaAllocator(const CudaAllocator&) = delete;
  CudaAllocator& operator=(const CudaAllocator&) = delete;

  Device device() const override { return Device::kCUDA; }
  void* allocate(size_t bytes) override;
  // Cleared on the stream unless allocate() already clears (zero fill on).
  void* allocate_zeroed(size_t bytes) override;
  void deallocate(void* p, size_t bytes) override;

  // Returns every cached (free) block of every pool to the driver.
  void release_cached();
  // Pool 0 is the eager pool; graph pools are 1.. (CudaBackend::capture_graph).
  void set_current_pool(int pool);
  int current_pool() const;
  void set_zero_fill(bool on);
  AllocatorStats stats() const;

  static size_t round_size(size_t bytes);

 private:
  struct Block { size_t size; int pool; };
  void* driver_alloc(size_t rounded);

  int device_;
  cudaStream_t stream_;
  mutable std::mutex mu_;
  int pool_ = 0;
  bool zero_fill_ = true;
  // pool -> rounded size -> free blocks
  std::unordered_map<int, std::unordered_map<size_t, std::vector<void*>>> free_;
  std::unordered_map<void*, Block> live_;
  AllocatorStats stats_;
};

}  // namespace sable::cuda
