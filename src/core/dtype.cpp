#include "core/dtype.h"

#include <array>

namespace sable {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 2;
    case DType::F8_E4M3: case DType::U8: case DType::I8: case DType::BOOL: return 1;
    case DType::I64: case DType::F64: case DType::U64: return 8;
  }
  return 0;
}

namespace {
struct Name { DType t; const char* s; };
constexpr std::array<Name, 14> kNames{{
    {DType::F32, "F32"}, {DType::F16, "F16"}, {DType::BF16, "BF16"},
    {DType::F8_E4M3, "F8_E4M3"}, {DType::I32, "I32"}, {DType::I64, "I64"},
    {DType::U8, "U8"}, {DType::BOOL, "BOOL"}, {DType::F64, "F64"},
    {DType::I8, "I8"}, {DType::I16, "I16"}, {DType::U16, "U16"},
    {DType::U32, "U32"}, {DType::U64, "U64"},
}};
}  // namespace

const char* dtype_name(DType t) {
  for (const auto& n : kNames) if (n.t == t) return n.s;
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& n : kNames) if (name == n.s) return n.t;
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));
  // exp==0 (subnormal/zero) is handled by the same rescale: 2^-24 * man.
  if (exp == 0) {
    float v = float(man) * 0x1p-24f;
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t u = f32_to_bits(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.f) return sign | 0x7c00;
  if (a < 0x1p-14f) {  // subnormal: quantum 2^-24
    return sign | uint16_t(std::nearbyint(a * 0x1p24f));
  }
  uint32_t au = f32_to_bits(a);
  au += 0xfffu + ((au >> 13) & 1u);
  return sign | uint16_t(((au >> 13) - (112u << 10)) & 0x7fff);
}

}  // namespace sable
