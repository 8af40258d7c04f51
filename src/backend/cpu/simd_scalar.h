// Portable "vector" traits for the kernel templates (gemm_kernel.inc): 8
// float lanes in an array, plain multiply-add. The fallback for CPUs without
// AVX2 and the SABLE_CPU_ISA=scalar setting; the same accumulator structure
// as the SIMD variants, so it is batch-invariant in the same way.
#pragma once

#include <cstdint>
#include <cstring>

namespace sable::cpu::scalar {

struct Simd {
  static constexpr const char* kName = "scalar";
  static constexpr int V = 8;
  static constexpr int kDirectMaxT = 2, kDirectR = 2, kDirectR1 = 2;
  static constexpr int kPanelR = 2, kPanelTT = 2;
  static constexpr int kNnTT = 2, kNnNV = 1;
  struct F { float v[V]; };

  static F zero() { return F{}; }
  static F bcast(float x) { F r; for (int i = 0; i < V; ++i) r.v[i] = x; return r; }
  static F load(const float* p) { F r; std::memcpy(r.v, p, sizeof r.v); return r; }
  static F load_part(const float* p, int n) { F r{}; std::memcpy(r.v, p, size_t(n) * 4); return r; }
  static void store(float* p, F x) { std::memcpy(p, x.v, sizeof x.v); }
  static F fma(F a, F b, F c) { for (int i = 0; i < V; ++i) c.v[i] += a.v[i] * b.v[i]; return c; }
  static F mul(F a, F b) { for (int i = 0; i < V; ++i) a.v[i] *= b.v[i]; return a; }
  static float fma1(float a, float b, float c) { return c + a * b; }
  static float hsum(F x) {
    float h[4], q[2];
    for (int i = 0; i < 4; ++i) h[i] = x.v[i] + x.v[i + 4];
    for (int i = 0; i < 2; ++i) q[i] = h[i] + h[i + 2];
    return q[0] + q[1];
  }

  static float bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
  static F from_f32(const void* p) { return load(static_cast<const float*>(p)); }
  static F from_bf16(const void* p) {
    uint16_t h[V];
    std::memcpy(h, p, sizeof h);
    F r;
    for (int i = 0; i < V; ++i) r.v[i] = bits(uint32_t(h[i]) << 16);
    return r;
  }
  static float f16(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    if (e == 0x1f) return bits(sign | 0x7f800000u | (m << 13));
    // Normals and subnormals alike: magnitude bits at f32 bit 13, times 2^112.
    const float mag = bits((uint32_t(h & 0x7fffu)) << 13) * 0x1p112f;
    return sign ? -mag : mag;
  }
  static F from_f16(const void* p) {
    uint16_t h[V];
    std::memcpy(h, p, sizeof h);
    F r;
    for (int i = 0; i < V; ++i) r.v[i] = f16(h[i]);
    return r;
  }
  static F fp8_mag(const void* p, uint8_t* b) {
    std::memcpy(b, p, V);
    F r;
    for (int i = 0; i < V; ++i) r.v[i] = bits(uint32_t(b[i] & 0x7f) << 20);
    return r;
  }
  static F with_sign(F x, const uint8_t* b) {
    for (int i = 0; i < V; ++i)
      if (b[i] & 0x80) x.v[i] = -x.v[i];
    return x;
  }
  static F from_fp8(const void* p, F m) {
    uint8_t b[V];
    return with_sign(mul(fp8_mag(p, b), m), b);
  }
  static F from_fp8(const void* p, F m, F m2) {
    uint8_t b[V];
    return with_sign(mul(mul(fp8_mag(p, b), m), m2), b);
  }
};

}  // namespace sable::cpu::scalar
