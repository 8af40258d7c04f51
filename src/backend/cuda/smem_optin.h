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

}  // namespace sable::cuda
