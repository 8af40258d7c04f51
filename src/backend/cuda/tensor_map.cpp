#include "backend/cuda/tensor_map.h"

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace sable::cuda {
namespace {

// cuTensorMapEncodeTiled lives in the driver (libcuda); the runtime hands
// out its address, so the binary needs no link to libcuda.
PFN_cuTensorMapEncodeTiled_v12000 encode_fn() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess || p == nullptr)
      throw std::runtime_error("CUDA: the driver has no cuTensorMapEncodeTiled (TMA needs a CUDA 12+ driver)");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

template <typename T>
std::string join(std::initializer_list<T> v) {
  std::string s;
  for (T x : v) s += (s.empty() ? "" : " x ") + std::to_string(x);
  return s;
}

}  // namespace

namespace {

CUtensorMap encode(const char* what, CUtensorMapDataType dtype, const void* base, std::initializer_list<uint64_t> dims,
                   std::initializer_list<uint64_t> strides, std::initializer_list<uint32_t> box,
                   CUtensorMapSwizzle swizzle) {
  const size_t rank = dims.size();
  if (rank < 1 || rank > 5 || strides.size() + 1 != rank || box.size() != rank)
    throw std::runtime_error("CUDA tensor map: " + std::to_string(rank) + " dims, " + std::to_string(strides.size()) +
                             " strides, " + std::to_string(box.size()) + " box extents do not match");
  cuuint64_t d[5], st[4];
  cuuint32_t b[5], elem[5];
  size_t i = 0;
  for (uint64_t x : dims) d[i++] = x;
  i = 0;
  for (uint64_t x : strides) st[i++] = x;
  i = 0;
  for (uint32_t x : box) {
    elem[i] = 1;
    b[i++] = x;
  }
  CUtensorMap map{};
  const CUresult r =
      encode_fn()(&map, dtype, cuuint32_t(rank), const_cast<void*>(base), d, st, b, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw std::runtime_error(std::string("CUDA: cuTensorMapEncodeTiled refused a ") + what + " map of [" + join(dims) +
                             "] (strides " + join(strides) + " B, box " + join(box) + "): error " +
                             std::to_string(int(r)));
  return map;
}

}  // namespace

CUtensorMap tensor_map_bf16(const void* base, std::initializer_list<uint64_t> dims,
                            std::initializer_list<uint64_t> strides, std::initializer_list<uint32_t> box) {
  return encode("bf16", CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, base, dims, strides, box, CU_TENSOR_MAP_SWIZZLE_128B);
}

CUtensorMap tensor_map_u8(const void* base, std::initializer_list<uint64_t> dims,
                          std::initializer_list<uint64_t> strides, std::initializer_list<uint32_t> box,
                          CUtensorMapSwizzle swizzle) {
  return encode("u8", CU_TENSOR_MAP_DATA_TYPE_UINT8, base, dims, strides, box, swizzle);
}

}  // namespace sable::cuda
