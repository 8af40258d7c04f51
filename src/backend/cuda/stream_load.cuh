// The load of data read once: 16 bytes through the non-coherent path without
// allocating in L1 (weights streamed by the GEMV-like kernels: each byte is
// used by one thread, and keeping it would only evict what is reused).
#pragma once

#include <cuda_runtime.h>

namespace sable::cuda {

__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

}  // namespace sable::cuda
