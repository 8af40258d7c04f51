// What the kernel benchmarks of the non-GEMM ops share (bench_cuda_attention,
// bench_cuda_ops): the backend and stream of the run, random device inputs,
// the graph and eager clocks, the ceilings measured in the same run (a
// device-to-device copy and a cuBLAS bf16 GEMM at 8192^3) and the
// bandwidth row. Each benchmark is one executable that includes this once, so
// the run's state is inline globals here rather than a library.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_info.h"
#include "core/dtype.h"
#include "cuda_bench_check.h"
#include "cuda_graph_timing.h"

namespace sable::bench_cuda {

inline FILE* g_json = nullptr;  // --json FILE: one object a row
inline cuda::CudaBackend* g_be = nullptr;
inline cudaStream_t g_s;
inline double g_copy_gbps = 0, g_gemm_tflops = 0;  // measure_ceilings()

// Fast host pseudo-random bf16 in about [-2, 2] (xorshift; not zeros: zeros
// time differently).
inline void fill_random_bf16(std::vector<uint16_t>& v, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& e : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const float f = (float(uint32_t(x >> 40) & 0xFFFF) / 32768.f - 1.f) * 2.f;
    e = f32_to_bf16(f);
  }
}

// A device BF16 tensor of random values: a 32 MiB random block repeated.
inline Tensor random_device_bf16(Shape shape, uint64_t seed) {
  Tensor t = g_be->empty(DType::BF16, shape);
  const size_t n = size_t(t.numel()), chunk = std::min<size_t>(n, size_t(16) << 20);
  std::vector<uint16_t> h(chunk);
  fill_random_bf16(h, seed);
  for (size_t off = 0; off < n; off += chunk) {
    const size_t m = std::min(chunk, n - off);
    CK(cudaMemcpyAsync(t.ptr<uint16_t>() + off, h.data(), m * 2, cudaMemcpyHostToDevice, g_s));
    CK(cudaStreamSynchronize(g_s));
  }
  return t;
}

inline Tensor device_i32(const std::vector<int32_t>& v, Shape shape) {
  Tensor h = Tensor::empty(DType::I32, shape);
  std::memcpy(h.data(), v.data(), v.size() * 4);
  return g_be->to_device(h);
}

// Seconds per call: fn(i) captured `iters` times into a graph, replayed.
inline double time_graph(const std::function<void(int)>& fn, int iters = 20, int reps = 7) {
  return graph_seconds_per_call(g_s, fn, iters, reps, cudaStreamCaptureModeRelaxed);
}

// Seconds per call, eager, for long calls.
inline double time_eager(const std::function<void()>& fn, int reps = 3) {
  return eager_seconds_per_call(g_s, fn, reps);
}

// The run's ceilings, printed and written as the "ceilings" row.
inline void measure_ceilings() {
  const size_t n = size_t(1) << 30;  // 1 Gi bf16 = 2 GiB
  Tensor a = random_device_bf16({int64_t(n)}, 1), b = g_be->empty(DType::BF16, {int64_t(n)});
  const double t =
      time_eager([&] { CK(cudaMemcpyAsync(b.data(), a.data(), n * 2, cudaMemcpyDeviceToDevice, g_s)); }, 10);
  g_copy_gbps = 2.0 * double(n) * 2 / t / 1e9;
  const int M = 8192;
  Tensor x = random_device_bf16({M, M}, 2), w = random_device_bf16({M, M}, 3), y = g_be->empty(DType::BF16, {M, M});
  cublasHandle_t h = g_be->cublas();
  const float alpha = 1.f, beta = 0.f;
  const double tg = time_eager(
      [&] {
        if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, M, M, M, &alpha, w.data(), CUDA_R_16BF, M, x.data(), CUDA_R_16BF,
                         M, &beta, y.data(), CUDA_R_16BF, M, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
          std::fprintf(stderr, "cublasGemmEx failed\n");
          std::exit(1);
        }
      },
      10);
  g_gemm_tflops = 2.0 * M * double(M) * M / tg / 1e12;
  std::printf("ceilings: device-to-device copy %.0f GB/s (read + write), cuBLAS bf16 GEMM 8192^3 %.0f TFLOP/s\n\n",
              g_copy_gbps, g_gemm_tflops);
  if (g_json)
    std::fprintf(g_json, "{\"op\":\"ceilings\",\"copy_GBps\":%.1f,\"gemm_bf16_TFLOPs\":%.1f}\n", g_copy_gbps,
                 g_gemm_tflops);
}

// --json FILE: the rows' file, opened for writing; false (after saying so)
// where it cannot be.
inline bool open_json(const char* program, const char* path) {
  g_json = std::fopen(path, "w");
  if (!g_json) std::fprintf(stderr, "%s: --json %s: cannot open it for writing\n", program, path);
  return g_json != nullptr;
}

// The run's start: the device named, a backend without zero-filled
// allocations (the tables time kernels, not memsets) as g_be / g_s, and the
// ceilings measured. nullptr where there is no CUDA device (the program then
// prints that and exits 0, as CI machines have none).
inline std::unique_ptr<cuda::CudaBackend> start_run(const char* program) {
  if (cuda::device_count() == 0) {
    std::printf("%s: no CUDA device\n", program);
    return nullptr;
  }
  std::printf("device: %s\n", cuda::device_description(0).c_str());
  cuda::CudaBackendOptions opts;
  opts.zero_fill_allocations = false;
  auto be = cuda::make_cuda_backend(0, opts);
  g_be = be.get();
  g_s = be->stream();
  measure_ceilings();
  return be;
}

// One row of a bandwidth-bound op: time, GB/s and the share of the copy.
inline void report_bw(const char* op, const char* shape, double t, double bytes) {
  const double gbps = bytes / t / 1e9;
  std::printf("%-16s %-22s | %9.2f us %9.0f GB/s %6.1f%%\n", op, shape, t * 1e6, gbps, 100 * gbps / g_copy_gbps);
  if (g_json)
    std::fprintf(g_json, "{\"op\":\"%s\",\"shape\":\"%s\",\"us\":%.3f,\"GBps\":%.1f,\"pct_copy\":%.1f}\n", op, shape,
                 t * 1e6, gbps, 100 * gbps / g_copy_gbps);
}

}  // namespace sable::bench_cuda
