// dst = src converted elementwise between float dtypes (F32, BF16, F16,
// F8_E4M3): through float32, rounding to nearest even; FP8 saturates to +-448
// as core's f32_to_fp8_e4m3 does. Same dtype: a device-to-device copy.
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"

namespace sable::cuda {
namespace {

template <typename TS, typename TD, int VEC>
__global__ void convert_kernel(const TS* s, TD* d, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * VEC;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * VEC; i < n; i += stride) {
    if constexpr (VEC == 8) {
      float v[8];
      load8(s + i, v);
      store8(d + i, v);
    } else {
      d[i] = from_f32<TD>(to_f32(s[i]));
    }
  }
}

}  // namespace

void convert(const Tensor& src, Tensor& dst, cudaStream_t stream) {
  const int64_t n = src.numel();
  assert(dst.numel() == n);
  if (n == 0) return;
  if (src.dtype() == dst.dtype()) {
    SABLE_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.nbytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const bool vec = n % 8 == 0 && aligned8(src.data(), dtype_size(src.dtype())) &&
                   aligned8(dst.data(), dtype_size(dst.dtype()));
  const int threads = 256;
  SABLE_DISPATCH_FLOAT("convert", src.dtype(), TS, {
    SABLE_DISPATCH_FLOAT("convert", dst.dtype(), TD, {
      if (vec)
        convert_kernel<TS, TD, 8><<<std::min<unsigned>(ceil_div(n / 8, threads), 1u << 20), threads, 0, stream>>>(
            src.ptr<TS>(), dst.ptr<TD>(), n);
      else
        convert_kernel<TS, TD, 1><<<std::min<unsigned>(ceil_div(n, threads), 1u << 20), threads, 0, stream>>>(
            src.ptr<TS>(), dst.ptr<TD>(), n);
      SABLE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace sable::cuda
