// The benchmarks' shared clock (bench_cuda_attention, bench_cuda_gemm):
// median seconds per call of a CUDA call timed with events on stream s.
//   graph_seconds_per_call: `iters` calls fn(0 .. iters-1) captured into one
//     graph (as decode runs), the graph replayed `reps` times;
//   eager_seconds_per_call: fn launched directly `reps` times (long calls).
// fn runs once eagerly first (plans, workspace growth and lazy module loads
// stay out of the timing).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "cuda_bench_check.h"

// Median of `reps` event-timed runs of run() on s, in seconds.
inline double median_event_seconds(cudaStream_t s, const std::function<void()>& run, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<double> ts;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a, s));
    run();
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    ts.push_back(ms / 1e3);
  }
  CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

inline double graph_seconds_per_call(cudaStream_t s, const std::function<void(int)>& fn, int iters, int reps,
                                     cudaStreamCaptureMode mode) {
  fn(0);
  CK(cudaStreamSynchronize(s));
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, mode));
  for (int i = 0; i < iters; ++i) fn(i);
  CK(cudaStreamEndCapture(s, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));  // warm replay
  CK(cudaStreamSynchronize(s));
  const double t = median_event_seconds(
                       s, [&] { CK(cudaGraphLaunch(ge, s)); }, reps) /
                   iters;
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  return t;
}

inline double eager_seconds_per_call(cudaStream_t s, const std::function<void()>& fn, int reps) {
  fn();
  CK(cudaStreamSynchronize(s));
  return median_event_seconds(s, fn, reps);
}
