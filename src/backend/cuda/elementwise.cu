// add_inplace (a += b), gather_rows (out[i] = x[index[i]]) and copy_columns
// (out[t] = x[t, col0 : col0 + n]).
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"

namespace sable::cuda {
namespace {

template <typename TA, typename TB, int VEC>
__global__ void add_inplace_kernel(TA* a, const TB* b, int64_t n) {
  pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x * VEC;
  for (int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * VEC; i < n; i += stride) {
    if constexpr (VEC == 8) {
      float x[8], y[8];
      load8(a + i, x);
      load8(b + i, y);
#pragma unroll
      for (int j = 0; j < 8; ++j) x[j] += y[j];
      store8(a + i, x);
    } else {
      a[i] = from_f32<TA>(to_f32(a[i]) + to_f32(b[i]));
    }
  }
}

// One block per output row; rows are copied as 16-byte words when the row
// size allows, else as bytes.
template <typename W>
__global__ void gather_rows_kernel(const char* x, const int32_t* index, char* out, int64_t rows,
                                   int64_t row_words) {
  pdl_begin();
  const int64_t i = blockIdx.x;
  const int32_t r = index[i];
  W* o = reinterpret_cast<W*>(out) + i * row_words;
  if (r < 0 || r >= rows) return;  // validated by the caller; never read out of bounds
  const W* s = reinterpret_cast<const W*>(x) + int64_t(r) * row_words;
  for (int64_t j = threadIdx.x; j < row_words; j += blockDim.x) o[j] = s[j];
}

// One block per row; words of W (16 bytes when the offsets allow).
template <typename W>
__global__ void copy_columns_kernel(const char* x, char* out, int64_t ld_words, int64_t col0_words,
                                    int64_t n_words) {
  pdl_begin();
  const int64_t t = blockIdx.x;
  const W* s = reinterpret_cast<const W*>(x) + t * ld_words + col0_words;
  W* o = reinterpret_cast<W*>(out) + t * n_words;
  for (int64_t j = threadIdx.x; j < n_words; j += blockDim.x) o[j] = s[j];
}

}  // namespace

void add_inplace(Tensor& a, const Tensor& b, cudaStream_t stream) {
  const int64_t n = a.numel();
  assert(b.numel() == n);
  if (n == 0) return;
  const bool vec = n % 8 == 0 && aligned8(a.data(), dtype_size(a.dtype())) && aligned8(b.data(), dtype_size(b.dtype()));
  const int threads = 256;
  SABLE_DISPATCH_ACT("add_inplace", a.dtype(), TA, {
    SABLE_DISPATCH_ACT("add_inplace", b.dtype(), TB, {
      if (vec)
        launch_pdl(add_inplace_kernel<TA, TB, 8>, std::min<unsigned>(ceil_div(n / 8, threads), 1u << 20), threads, 0,
                   stream, a.ptr<TA>(), b.ptr<TB>(), n);
      else
        launch_pdl(add_inplace_kernel<TA, TB, 1>, std::min<unsigned>(ceil_div(n, threads), 1u << 20), threads, 0,
                   stream, a.ptr<TA>(), b.ptr<TB>(), n);
      SABLE_CUDA_LAUNCH_CHECK();
    });
  });
}

void gather_rows(const Tensor& x, const Tensor& index, Tensor& out, cudaStream_t stream) {
  const int64_t N = index.numel();
  if (N == 0) return;
  const size_t row = x.dim(0) ? x.nbytes() / size_t(x.dim(0)) : 0;
  assert(out.dim(0) == N && out.nbytes() == size_t(N) * row && out.dtype() == x.dtype());
  const bool wide = row % 16 == 0 && reinterpret_cast<uintptr_t>(x.data()) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(out.data()) % 16 == 0;
  if (wide)
    launch_pdl(gather_rows_kernel<uint4>, unsigned(N), 128, 0, stream, x.ptr<char>(), index.ptr<int32_t>(),
               out.ptr<char>(), x.dim(0), int64_t(row / 16));
  else
    launch_pdl(gather_rows_kernel<char>, unsigned(N), 128, 0, stream, x.ptr<char>(), index.ptr<int32_t>(),
               out.ptr<char>(), x.dim(0), int64_t(row));
  SABLE_CUDA_LAUNCH_CHECK();
}

void copy_columns(const Tensor& x, int64_t col0, Tensor& out, cudaStream_t stream) {
  const int64_t T = x.dim(0), D = x.dim(1), n = out.dim(1);
  assert(out.dim(0) == T && out.dtype() == x.dtype() && col0 >= 0 && col0 + n <= D);
  if (T == 0 || n == 0) return;
  const int64_t es = int64_t(dtype_size(x.dtype()));
  const bool wide = (D * es) % 16 == 0 && (col0 * es) % 16 == 0 && (n * es) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(x.data()) % 16 == 0 && reinterpret_cast<uintptr_t>(out.data()) % 16 == 0;
  if (wide)
    launch_pdl(copy_columns_kernel<uint4>, unsigned(T), 128, 0, stream, x.ptr<char>(), out.ptr<char>(), D * es / 16,
               col0 * es / 16, n * es / 16);
  else
    launch_pdl(copy_columns_kernel<char>, unsigned(T), 128, 0, stream, x.ptr<char>(), out.ptr<char>(), D * es,
               col0 * es, n * es);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
