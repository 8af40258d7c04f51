// Deterministic random numbers. Philox-style counter hashing means a value
// depends only on (seed, stream, index), so random weights are the same
// whatever the thread count, and a request's sampling depends only on its own
// seed and step.
#pragma once

#include <cstdint>

namespace sable {

// SplitMix64 finaliser: a good 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// hash_counter(seed, stream, i) = mix64(hash_counter_base(seed, stream) + i):
// a loop over i computes the base once.
inline uint64_t hash_counter_base(uint64_t seed, uint64_t stream) { return mix64(seed ^ mix64(stream)); }

inline uint64_t hash_counter(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(hash_counter_base(seed, stream) + index);
}

// Uniform in [0, 1) with 24 bits of precision.
inline float uniform01(uint64_t h) { return float(h >> 40) * 0x1p-24f; }

// Sequential generator for code that draws a stream of values.
class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  uint64_t next_u64() { return hash_counter(seed_, stream_, counter_++); }
  float uniform() { return uniform01(next_u64()); }
  // Standard normal via Box-Muller.
  float normal();

 private:
  uint64_t seed_, stream_, counter_ = 0;
};

}  // namespace sable
