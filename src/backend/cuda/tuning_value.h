// One tuning choice of the CUDA backend, read where the code decides: the
// value a testing setter gave, or else (resolved at first use) the
// environment variable's when it is a valid integer, else the default. The
// SABLE_* overrides and the runtime knobs of knobs.h (bench_gpu_e2e --ab)
// share it. get() is safe from several threads at once (the tensor-parallel
// ranks' threads reach a choice's first use together): the value is one
// atomic, and two threads resolving it at once compute the same value.
// set() is for tests and benchmarks, between launches.
#pragma once

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace sable::cuda {

class TuningValue {
 public:
  TuningValue(const char* env, int dflt, bool (*valid)(int)) : env_(env), dflt_(dflt), valid_(valid) {}

  int get() {
    int v = value_.load(std::memory_order_relaxed);
    if (v != kUnresolved) return v;
    // Resolve and publish unless a setter got there first.
    const int resolved = from_env();
    return value_.compare_exchange_strong(v, resolved, std::memory_order_relaxed) ? resolved : v;
  }
  // False (and unchanged) for a value the choice does not take.
  bool set(int v) {
    if (!valid_(v)) return false;
    value_.store(v, std::memory_order_relaxed);
    return true;
  }

 private:
  // The environment's value is bounded to +-2^30, so INT_MIN is never one.
  static constexpr int kUnresolved = INT_MIN;

  // The environment variable's value when it is a valid integer, else the default.
  int from_env() const {
    if (const char* e = std::getenv(env_)) {
      char* end = nullptr;
      errno = 0;
      const long v = std::strtol(e, &end, 10);
      if (end != e && *end == '\0' && errno == 0 && v >= -(1L << 30) && v <= (1L << 30) && valid_(int(v)))
        return int(v);
    }
    return dflt_;
  }

  const char* env_;
  int dflt_;
  bool (*valid_)(int);
  std::atomic<int> value_{kUnresolved};
};

}  // namespace sable::cuda
