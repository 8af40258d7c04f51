// Programmatic dependent launch (sm_90): a kernel launched by launch_pdl may
// be scheduled while the kernel before it on the stream is still finishing,
// so its launch, CTA dispatch and whatever it does before pdl_wait() overlap
// the previous kernel's tail. At batch 1 a decode step is ~100 kernels of a
// few microseconds each, and those boundaries are a large part of the step.
//
// The contract, kept by every kernel launched this way:
//  - pdl_wait() comes before the kernel reads anything an earlier kernel
//    wrote and before it writes anything (it returns once the previous grid
//    has completed and its memory is visible; it is a no-op in a kernel
//    launched without the attribute);
//  - pdl_launch_dependents() after it lets the next kernel be scheduled early
//    (it starts only when every CTA of this one has called it or exited).
// Only reads of data no kernel writes (weights, kernel arguments) may precede
// the wait: the streaming GEMM starts its weight loads there.
// CUDA graphs keep these as programmatic edges. SABLE_PDL=0 launches
// normally (for comparison).
#pragma once

#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/pdl.h"

namespace sable::cuda {

__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_launch_dependents() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}
// The usual opening of a kernel: wait, then let the next one be scheduled.
__device__ __forceinline__ void pdl_begin() {
  pdl_wait();
  pdl_launch_dependents();
}

template <typename... Params, typename... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  SABLE_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...));
}

}  // namespace sable::cuda
