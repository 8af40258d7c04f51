// AVX-512 vector traits for the kernel templates (gemm_kernel.inc). Only
// gemm_avx512.cpp includes this; it is compiled with the AVX-512 flags and
// everything here lives in namespace avx512, so no AVX-512 code can be
// picked by the linker for a baseline caller.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace sable::cpu::avx512 {

struct Simd {
  static constexpr const char* kName = "avx512";
  static constexpr int V = 16;  // floats per vector = the reduction width
  // Register tiles (32 zmm): decode (T <= 3) streams 8 weight rows at once
  // (kDirectR1 for one token); larger T uses 4 rows x 6 tokens = 24
  // accumulators.
  static constexpr int kDirectMaxT = 3, kDirectR = 8, kDirectR1 = 8;
  static constexpr int kPanelR = 4, kPanelTT = 6;
  static constexpr int kNnTT = 4, kNnNV = 4;
  using F = __m512;

  static F zero() { return _mm512_setzero_ps(); }
  static F bcast(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  // Lanes [n, V) read as zero (no access past p + n).
  static F load_part(const float* p, int n) { return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1u), p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static float fma1(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  // The one horizontal-sum tree every dot product ends with: halves, then
  // quarters, then pairs.
  static float hsum(F v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
  }

  // V stored weights -> float32 (exact).
  static F from_f32(const void* p) { return _mm512_loadu_ps(static_cast<const float*>(p)); }
  static F from_bf16(const void* p) {
    __m256i h = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static F from_f16(const void* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p))); }
  // FP8 E4M3: sign-extend each byte, shift left by 20 and keep bit 31 (the
  // sign, from the extension) and bits 26..20 (the 7 magnitude bits): an
  // f32 of the same sign whose value is the fp8 value * 2^-120, exactly
  // (normals and subnormals). `m` carries 2^120 (times the block scale when
  // that stays finite), `m2` the scale otherwise; the product's sign is the
  // reference's (fp8 * scale) sign in every case.
  static F fp8_bits(const void* p) {
    const __m512i b = _mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p)));
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_slli_epi32(b, 20), _mm512_set1_epi32(int(0x87f00000u))));
  }
  static F from_fp8(const void* p, F m) { return _mm512_mul_ps(fp8_bits(p), m); }
  static F from_fp8(const void* p, F m, F m2) { return _mm512_mul_ps(_mm512_mul_ps(fp8_bits(p), m), m2); }
};

}  // namespace sable::cpu::avx512
