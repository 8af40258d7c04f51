// AVX2 + FMA + F16C vector traits for the kernel templates
// (gemm_kernel.inc). Only gemm_avx2.cpp includes this (compiled with those
// flags); everything lives in namespace avx2.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace sable::cpu::avx2 {

struct Simd {
  static constexpr const char* kName = "avx2";
  static constexpr int V = 8;
  // 16 ymm registers: 4 rows x 3 tokens = 12 accumulators, 3 x, 1 weight;
  // one token streams 8 rows.
  static constexpr int kDirectMaxT = 3, kDirectR = 4, kDirectR1 = 8;
  static constexpr int kPanelR = 4, kPanelTT = 3;
  static constexpr int kNnTT = 3, kNnNV = 3;
  using F = __m256;

  static F zero() { return _mm256_setzero_ps(); }
  static F bcast(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load_part(const float* p, int n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
  }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static float fma1(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  static float hsum(F v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }

  static F from_f32(const void* p) { return _mm256_loadu_ps(static_cast<const float*>(p)); }
  static F from_bf16(const void* p) {
    __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static F from_f16(const void* p) { return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
  // FP8 E4M3 as in simd_avx512.h: sign-extended bytes << 20, sign and the 7
  // magnitude bits kept, times the block multipliers.
  static F fp8_bits(const void* p) {
    const __m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(b, 20), _mm256_set1_epi32(int(0x87f00000u))));
  }
  static F from_fp8(const void* p, F m) { return _mm256_mul_ps(fp8_bits(p), m); }
  static F from_fp8(const void* p, F m, F m2) { return _mm256_mul_ps(_mm256_mul_ps(fp8_bits(p), m), m2); }
};

}  // namespace sable::cpu::avx2
