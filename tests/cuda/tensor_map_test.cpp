// tensor_map_bf16 / _u8 (TMA tensor maps, host side): what it refuses and how it
// says so. The shape check runs without a driver; the driver's own refusals
// need a GPU.
#include "backend/cuda/tensor_map.h"

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "cuda_test_util.h"

namespace sable {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(CudaTensorMap, MismatchedDimsStridesAndBoxAreRefusedByName) {
  alignas(16) static char buf[256];
  const std::string e = error_of([] { cuda::tensor_map_bf16(buf, {64, 2}, {}, {64, 2}); });
  EXPECT_NE(e.find("2 dims, 0 strides, 2 box extents do not match"), std::string::npos) << e;
  EXPECT_NE(error_of([] { cuda::tensor_map_bf16(buf, {}, {}, {}); }).find("do not match"), std::string::npos);
  EXPECT_NE(error_of([] { cuda::tensor_map_bf16(buf, {64, 2}, {128}, {64}); }).find("do not match"),
            std::string::npos);
}

TEST(CudaTensorMap, DriverRefusalNamesTheMap) {
  SABLE_REQUIRE_GPU();
  Tensor t = cudatest::gpu().empty(DType::BF16, {64, 64});
  // A 100-byte row stride is not a multiple of 16: the driver refuses it.
  const std::string e = error_of([&] { cuda::tensor_map_bf16(t.data(), {64, 16}, {100}, {64, 16}); });
  EXPECT_NE(e.find("refused a bf16 map of [64 x 16] (strides 100 B, box 64 x 16)"), std::string::npos) << e;
  // A valid map encodes.
  EXPECT_EQ(error_of([&] { cuda::tensor_map_bf16(t.data(), {64, 64}, {128}, {64, 64}); }), "");
}

TEST(CudaTensorMap, ByteMapsNameTheirTypeAndCheckTheSwizzleSpan) {
  SABLE_REQUIRE_GPU();
  Tensor t = cudatest::gpu().empty(DType::BF16, {64, 64});
  // The 64-byte swizzle takes rows of at most 64 bytes (the MoE weights' 2 KB blocks: 32 rows x 64 B).
  EXPECT_EQ(error_of([&] { cuda::tensor_map_u8(t.data(), {64, 128}, {64}, {64, 32}, CU_TENSOR_MAP_SWIZZLE_64B); }), "");
  const std::string e = error_of([&] {
    cuda::tensor_map_u8(t.data(), {128, 64}, {128}, {128, 32}, CU_TENSOR_MAP_SWIZZLE_64B);
  });
  EXPECT_NE(e.find("refused a u8 map of [128 x 64] (strides 128 B, box 128 x 32)"), std::string::npos) << e;
}

}  // namespace
}  // namespace sable
