// Kernels that use more than 48 KB of dynamic shared memory must opt in,
// per device (cudaFuncSetAttribute acts on the current device's context):
// a kernel set up once for the first GPU would fail to launch on a second
// one in the same process. allow_dynamic_smem remembers each (device,
// kernel) pair and the largest size granted, and calls CUDA only when that
// grows; cheap enough to call before every launch.
#pragma once

#include <cstddef>

namespace sable::cuda {

void allow_dynamic_smem(const void* kernel, size_t bytes);

template <typename... Params>
void allow_dynamic_smem(void (*kernel)(Params...), size_t bytes) {
  allow_dynamic_smem(reinterpret_cast<const void*>(kernel), bytes);
}

// CTAs of `threads` threads and `smem` bytes of dynamic shared memory that
// one SM of the current device holds at once (opting in first; the occupancy
// API, remembered per device and kernel). Launchers size grids and split
// counts by it, so that a kernel's registers and shared memory, not a
// constant, say how many CTAs share an SM.
int ctas_per_sm(const void* kernel, int threads, size_t smem);

template <typename... Params>
int ctas_per_sm(void (*kernel)(Params...), int threads, size_t smem) {
  return ctas_per_sm(reinterpret_cast<const void*>(kernel), threads, smem);
}

}  // namespace sable::cuda
