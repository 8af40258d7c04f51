// out = silu(gate) * up, elementwise in float32: g / (1 + exp(-g)) * u as the
// reference. 8 elements per thread with 16-byte accesses when aligned.
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"

namespace sable::cuda {
namespace {

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.f + expf(-g)) * u; }

template <typename TG, typename TU, typename TO, int VEC>
__global__ void silu_and_mul_kernel(const TG* g, const TU* u, TO* o, int64_t n) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * VEC;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * VEC; i < n; i += stride) {
    if constexpr (VEC == 8) {
      float a[8], b[8];
      load8(g + i, a);
      load8(u + i, b);
#pragma unroll
      for (int j = 0; j < 8; ++j) a[j] = silu_mul(a[j], b[j]);
      store8(o + i, a);
    } else {
      o[i] = from_f32<TO>(silu_mul(to_f32(g[i]), to_f32(u[i])));
    }
  }
}

}  // namespace

void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out, cudaStream_t stream) {
  const int64_t n = gate.numel();
  assert(up.numel() == n && out.numel() == n);
  if (n == 0) return;
  const bool vec = n % 8 == 0 && aligned8(gate.data(), dtype_size(gate.dtype())) &&
                   aligned8(up.data(), dtype_size(up.dtype())) && aligned8(out.data(), dtype_size(out.dtype()));
  const int threads = 256;
  SABLE_DISPATCH_ACT("silu_and_mul", gate.dtype(), TG, {
    SABLE_DISPATCH_ACT("silu_and_mul", up.dtype(), TU, {
      SABLE_DISPATCH_ACT("silu_and_mul", out.dtype(), TO, {
        if (vec) {
          unsigned blocks = std::min<unsigned>(ceil_div(n / 8, threads), 65535u * 8);
          launch_pdl(silu_and_mul_kernel<TG, TU, TO, 8>, blocks, threads, 0, stream, gate.ptr<TG>(), up.ptr<TU>(),
                     out.ptr<TO>(), n);
        } else {
          unsigned blocks = std::min<unsigned>(ceil_div(n, threads), 65535u * 8);
          launch_pdl(silu_and_mul_kernel<TG, TU, TO, 1>, blocks, threads, 0, stream, gate.ptr<TG>(), up.ptr<TU>(),
                     out.ptr<TO>(), n);
        }
        SABLE_CUDA_LAUNCH_CHECK();
      });
    });
  });
}

}  // namespace sable::cuda
