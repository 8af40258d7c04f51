// Element types and their scalar conversions. Conversions are exact where the
// format allows (bf16/f16/fp8 -> f32) and round-to-nearest-even the other way.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace sable {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I32, I64, U8, BOOL, F64, I8, I16, U16, U32, U64 };

// Bytes per element.
size_t dtype_size(DType t);
// The safetensors spelling ("BF16", "F8_E4M3", ...).
const char* dtype_name(DType t);
// Parses the safetensors spelling; nullopt for unknown names.
std::optional<DType> parse_dtype(std::string_view name);

inline float bits_to_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t f32_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities,
// 0x7f/0xff are NaN; max finite 448. Decoding places the 7 magnitude bits at
// the bottom of an f32 exponent/mantissa and rescales by 2^120, which is exact
// for normals and subnormals alike; the SIMD kernels use the same trick.
inline float fp8_e4m3_to_f32(uint8_t b) {
  if ((b & 0x7f) == 0x7f) return std::nanf("");
  float mag = bits_to_f32(uint32_t(b & 0x7f) << 20) * 0x1p120f;
  return (b & 0x80) ? -mag : mag;
}
// Round to nearest even, saturating to +-448 (as torch's float8_e4m3fn cast
// does for finite inputs that exceed the range). Inline and without branches
// (each case computed, then selected): the dummy-weight generator converts
// billions of values, and as a call with float tests and a libm rounding
// call it kept the generator's loops from vectorizing.
inline uint8_t f32_to_fp8_e4m3(float f) {
  const uint32_t u = f32_to_bits(f), au = u & 0x7fffffffu, sign = (u >> 24) & 0x80u;
  // Normal results: round the mantissa to 3 bits, ties to even, rebias 127 -> 7.
  const uint32_t r = au + 0x7ffffu + ((au >> 20) & 1u);
  const uint32_t e = (r >> 23) - 120, m = (r >> 20) & 7;
  const uint32_t normal = (e > 15 || (e == 15 && m == 7)) ? 0x7eu : (e << 3) | m;
  // |f| < 2^-6, subnormal results (quantum 2^-9): |f| * 2^9 is exact and
  // below 8; adding 2^23 rounds it to an integer, ties to even (as nearbyint
  // does in the default rounding mode), which is then the low bits of the
  // sum's mantissa. Computed for every input and kept only for these: on the
  // bits, no float -> int conversion (undefined out of range), so the
  // compiler vectorizes it.
  const uint32_t sub = f32_to_bits(bits_to_f32(au) * 0x1p9f + 0x1p23f) - 0x4b000000u;
  uint32_t v = au < 0x3c800000u ? sub : normal;
  v = au >= 0x43e00000u ? 0x7eu : v;                    // |f| >= 448 and inf: saturate
  return uint8_t(au > 0x7f800000u ? 0x7fu : sign | v);  // NaN: 0x7f
}

}  // namespace sable
