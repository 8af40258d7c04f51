// RMSNorm, and RMSNorm fused with the residual add: one block per row.
// Pass 1 accumulates the sum of squares in float32 (a fixed reduction tree,
// so the result does not depend on the batch); pass 2 re-reads the row (from
// L1/L2: a row of 7168 bf16 is 14 KB) and writes w * (x * inv_rms), the
// reference's order of operations.
//
// Residual dtype: add_rms_norm accepts a BF16 or an F32 residual stream. The
// reference (and the fixtures) keep it in float32; a BF16 residual rounds the
// running sum at every layer (61 times twice in the real model), which is
// what vLLM and HF-bf16 do. The caller chooses by the tensor it passes; the
// normalized output is always computed from the value actually stored, so
// the next layer sees exactly what the norm saw.
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"

namespace sable::cuda {
namespace {

// 1024 threads: a row of 7168 is one 8-wide vector per thread, so each pass
// is one load latency deep (256 threads took 4 dependent rounds: ~6 us for
// a decode token, ncu on the H200, run of 91fdc99). Fixed whatever the
// batch, so that the reduction tree, and the result, are the same for any T.
constexpr int kThreads = 1024;

template <typename TX, typename TW, typename TO, int VEC>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const TX* x, const TW* w, TO* out,
                                                            int64_t D, float eps) {
  pdl_begin();
  __shared__ float scratch[33];
  const int64_t row = blockIdx.x;
  const TX* xr = x + row * D;
  TO* o = out + row * D;
  float ss = 0.f;
  if constexpr (VEC == 8) {
    for (int64_t i = int64_t(threadIdx.x) * 8; i < D; i += kThreads * 8) {
      float v[8];
      load8(xr + i, v);
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
    }
  } else {
    for (int64_t i = threadIdx.x; i < D; i += kThreads) { float v = to_f32(xr[i]); ss += v * v; }
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(D) + eps);
  if constexpr (VEC == 8) {
    for (int64_t i = int64_t(threadIdx.x) * 8; i < D; i += kThreads * 8) {
      float v[8], g[8];
      load8(xr + i, v);
      load8(w + i, g);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = g[j] * (v[j] * inv);
      store8(o + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < D; i += kThreads)
      o[i] = from_f32<TO>(to_f32(w[i]) * (to_f32(xr[i]) * inv));
  }
}

template <typename TR, typename TX, typename TW, typename TO, int VEC>
__global__ void __launch_bounds__(kThreads) add_rms_norm_kernel(TR* residual, const TX* x, const TW* w,
                                                                TO* out, int64_t D, float eps) {
  pdl_begin();
  __shared__ float scratch[33];
  const int64_t row = blockIdx.x;
  TR* r = residual + row * D;
  const TX* xr = x + row * D;
  TO* o = out + row * D;
  float ss = 0.f;
  if constexpr (VEC == 8) {
    for (int64_t i = int64_t(threadIdx.x) * 8; i < D; i += kThreads * 8) {
      float a[8], b[8];
      load8(r + i, a);
      load8(xr + i, b);
#pragma unroll
      for (int j = 0; j < 8; ++j) a[j] = to_f32(from_f32<TR>(a[j] + b[j]));  // the stored value
      store8(r + i, a);
#pragma unroll
      for (int j = 0; j < 8; ++j) ss += a[j] * a[j];
    }
  } else {
    for (int64_t i = threadIdx.x; i < D; i += kThreads) {
      TR s = from_f32<TR>(to_f32(r[i]) + to_f32(xr[i]));
      r[i] = s;
      float v = to_f32(s);
      ss += v * v;
    }
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(D) + eps);
  // Each thread re-reads only the elements it wrote itself: no barrier needed.
  if constexpr (VEC == 8) {
    for (int64_t i = int64_t(threadIdx.x) * 8; i < D; i += kThreads * 8) {
      float v[8], g[8];
      load8(r + i, v);
      load8(w + i, g);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = g[j] * (v[j] * inv);
      store8(o + i, v);
    }
  } else {
    for (int64_t i = threadIdx.x; i < D; i += kThreads)
      o[i] = from_f32<TO>(to_f32(w[i]) * (to_f32(r[i]) * inv));
  }
}

bool vec_ok(int64_t D, std::initializer_list<const Tensor*> ts) {
  if (D % 8) return false;
  for (const Tensor* t : ts)
    if (!aligned8(t->data(), dtype_size(t->dtype()))) return false;
  return true;
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out, cudaStream_t stream) {
  const int64_t T = x.dim(0), D = x.numel() / x.dim(0);
  assert(weight.numel() == D && out.numel() == x.numel());
  if (T == 0) return;
  const bool vec = vec_ok(D, {&x, &weight, &out});
  SABLE_DISPATCH_ACT("rms_norm", x.dtype(), TX, {
    SABLE_DISPATCH_FLOAT("rms_norm", weight.dtype(), TW, {
      SABLE_DISPATCH_ACT("rms_norm", out.dtype(), TO, {
        if (vec)
          launch_pdl(rms_norm_kernel<TX, TW, TO, 8>, unsigned(T), kThreads, 0, stream, x.ptr<TX>(), weight.ptr<TW>(),
                     out.ptr<TO>(), D, eps);
        else
          launch_pdl(rms_norm_kernel<TX, TW, TO, 1>, unsigned(T), kThreads, 0, stream, x.ptr<TX>(), weight.ptr<TW>(),
                     out.ptr<TO>(), D, eps);
        SABLE_CUDA_LAUNCH_CHECK();
      });
    });
  });
}

void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out,
                  cudaStream_t stream) {
  const int64_t T = x.dim(0), D = x.numel() / x.dim(0);
  assert(residual.numel() == x.numel() && weight.numel() == D && out.numel() == x.numel());
  if (T == 0) return;
  const bool vec = vec_ok(D, {&residual, &x, &weight, &out});
  SABLE_DISPATCH_ACT("add_rms_norm", residual.dtype(), TR, {
    SABLE_DISPATCH_ACT("add_rms_norm", x.dtype(), TX, {
      SABLE_DISPATCH_FLOAT("add_rms_norm", weight.dtype(), TW, {
        SABLE_DISPATCH_ACT("add_rms_norm", out.dtype(), TO, {
          if (vec)
            launch_pdl(add_rms_norm_kernel<TR, TX, TW, TO, 8>, unsigned(T), kThreads, 0, stream, residual.ptr<TR>(),
                       x.ptr<TX>(), weight.ptr<TW>(), out.ptr<TO>(), D, eps);
          else
            launch_pdl(add_rms_norm_kernel<TR, TX, TW, TO, 1>, unsigned(T), kThreads, 0, stream, residual.ptr<TR>(),
                       x.ptr<TX>(), weight.ptr<TW>(), out.ptr<TO>(), D, eps);
          SABLE_CUDA_LAUNCH_CHECK();
        });
      });
    });
  });
}

}  // namespace sable::cuda
