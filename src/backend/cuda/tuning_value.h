// One tuning choice of the CUDA backend, read where the code decides: the
// value a testing setter gave, or else (resolved at first use) the
// environment variable's when it is a valid integer, else the default. The
// SABLE_* overrides and the runtime knobs of knobs.h (bench_gpu_e2e --ab)
// share it. Not thread-safe: set between launches.
#pragma once

#include <cerrno>
#include <cstdlib>

namespace sable::cuda {

class TuningValue {
 public:
  TuningValue(const char* env, int dflt, bool (*valid)(int)) : env_(env), dflt_(dflt), valid_(valid) {}

  int get() {
    if (!resolved_) {
      value_ = dflt_;
      if (const char* e = std::getenv(env_)) {
        char* end = nullptr;
        errno = 0;
        const long v = std::strtol(e, &end, 10);
        if (end != e && *end == '\0' && errno == 0 && v >= -(1L << 30) && v <= (1L << 30) && valid_(int(v)))
          value_ = int(v);
      }
      resolved_ = true;
    }
    return value_;
  }
  // False (and unchanged) for a value the choice does not take.
  bool set(int v) {
    if (!valid_(v)) return false;
    value_ = v;
    resolved_ = true;
    return true;
  }

 private:
  const char* env_;
  int dflt_;
  bool (*valid_)(int);
  int value_ = 0;
  bool resolved_ = false;
};

}  // namespace sable::cuda
