// out[t] = table[ids[t] - row_begin]: one block per token, 8-element vector
// copies with conversion to the output dtype; zeros for an id outside the
// table's rows (another tensor-parallel rank's part of the vocabulary).
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"

namespace sable::cuda {
namespace {

template <typename TT, typename TO, int VEC>
__global__ void embedding_kernel(const int32_t* ids, const TT* table, TO* out, int64_t H, int64_t V,
                                 int64_t row_begin) {
  pdl_begin();
  const int t = blockIdx.x;
  const int32_t id = ids[t];
  TO* o = out + int64_t(t) * H;
  if (id < 0) {  // validated upstream; write NaN rather than read out of bounds
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) o[i] = from_f32<TO>(__int_as_float(0x7fc00000));
    return;
  }
  const int64_t r = int64_t(id) - row_begin;
  if (r < 0 || r >= V) {  // another rank's row: this rank adds nothing
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) o[i] = from_f32<TO>(0.f);
    return;
  }
  const TT* row = table + r * H;
  if constexpr (VEC == 8) {
    for (int64_t i = int64_t(threadIdx.x) * 8; i < H; i += int64_t(blockDim.x) * 8) {
      float v[8];
      load8(row + i, v);
      store8(o + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < H; i += blockDim.x) o[i] = from_f32<TO>(to_f32(row[i]));
  }
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out, cudaStream_t stream) {
  const int64_t T = ids.numel(), H = table.dim(1), V = table.dim(0);
  assert(out.dim(0) == T && out.numel() == T * H);
  if (T == 0) return;
  const bool vec = H % 8 == 0 && aligned8(table.data(), dtype_size(table.dtype())) &&
                   aligned8(out.data(), dtype_size(out.dtype()));
  SABLE_DISPATCH_FLOAT("embedding", table.dtype(), TT, {
    SABLE_DISPATCH_ACT("embedding", out.dtype(), TO, {
      if (vec)
        launch_pdl(embedding_kernel<TT, TO, 8>, unsigned(T), 128, 0, stream, ids.ptr<int32_t>(), table.ptr<TT>(),
                   out.ptr<TO>(), H, V, row_begin);
      else
        launch_pdl(embedding_kernel<TT, TO, 1>, unsigned(T), 128, 0, stream, ids.ptr<int32_t>(), table.ptr<TT>(),
                   out.ptr<TO>(), H, V, row_begin);
      SABLE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace sable::cuda
