// In-place rotary embedding of x[t, h, offset : offset + rope_dim]: one
// thread per (head, pair), blocks of 256 along grid.y for each token (one
// block per token looped 16 times over DeepSeek-V3's 128 heads x 32 pairs:
// 10.5 us for a decode token on the H200, ncu run of ea5d55a).
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_common.cuh"

namespace sable::cuda {
namespace {

template <typename T>
__global__ void rope_kernel(T* x, const int32_t* positions, int heads, int64_t stride, int offset,
                            int rope_dim, RopeArgs r) {
  pdl_begin();
  const int64_t t = blockIdx.x;
  const int32_t pos = positions[t];
  const int half = rope_dim / 2;
  for (int k = blockIdx.y * blockDim.x + threadIdx.x; k < heads * half; k += gridDim.y * blockDim.x) {
    const int h = k / half, i = k % half;
    T* v = x + (t * heads + h) * stride + offset;
    int a, b;
    rope_pair(i, rope_dim, r.interleaved, a, b);
    float x0 = to_f32(v[a]), x1 = to_f32(v[b]);
    rope_rotate(x0, x1, pos, i, r);
    v[a] = from_f32<T>(x0);
    v[b] = from_f32<T>(x1);
  }
}

}  // namespace

void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions, const RopeParams& p,
          cudaStream_t stream) {
  const int64_t T = x.dim(0), heads = x.dim(1), stride = x.dim(2);
  assert(offset + rope_dim <= stride && rope_dim % 2 == 0 && p.inv_freq.device() == Device::kCUDA);
  if (T == 0) return;
  RopeArgs r{p.inv_freq.ptr<float>(), p.attention_factor, p.interleaved};
  const int64_t pairs = heads * rope_dim / 2;
  const int threads = int(std::min<int64_t>(256, std::max<int64_t>(32, pairs)));
  const dim3 grid(unsigned(T), unsigned(std::min<int64_t>(ceil_div(pairs, threads), 65535)));
  SABLE_DISPATCH_ACT("rope", x.dtype(), T_, {
    launch_pdl(rope_kernel<T_>, grid, threads, 0, stream, x.ptr<T_>(), positions.ptr<int32_t>(), int(heads), stride,
               offset, rope_dim, r);
    SABLE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace sable::cuda
