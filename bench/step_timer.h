// The median wall time of a GPU (or CPU) step for the end-to-end benchmarks:
// warm-up runs, then each timed run ends with the backend's synchronize.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

#include "backend/backend.h"

namespace sable {

struct StepTimer {
  Backend& be;
  template <typename F>
  double median_ms(F&& f, int warmup, int iters) {
    for (int i = 0; i < warmup; ++i) f();
    be.synchronize();
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      f();
      be.synchronize();
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }
};

}  // namespace sable
