// Host side of the tensor memory accelerator (TMA): the tensor maps that
// cp.async.bulk.tensor reads (sm90_async.cuh, tma_load_2d / tma_load_3d).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <initializer_list>

namespace sable::cuda {

// A tiled map over a bf16 tensor at `base` (16-byte aligned): `dims` its
// extents, innermost first (1 to 5 of them); `strides` the byte strides of
// dims[1..] (multiples of 16); `box` the box extents read per copy (each
// <= 256, the innermost box * 2 <= 128 bytes). Boxes land in shared memory
// with the 128-byte swizzle, rows of 128 bytes: the K-major (or MN-major)
// layout wgmma reads. Elements outside the tensor read as zero. Throws
// std::runtime_error naming what the driver refused.
CUtensorMap tensor_map_bf16(const void* base, std::initializer_list<uint64_t> dims,
                            std::initializer_list<uint64_t> strides, std::initializer_list<uint32_t> box);

// The same over bytes (FP8 data, or any data copied as it is), with the
// swizzle named: CU_TENSOR_MAP_SWIZZLE_128B (innermost box <= 128 bytes) or
// _64B (<= 64 bytes: rows of 64 bytes in 512-byte swizzle atoms).
CUtensorMap tensor_map_u8(const void* base, std::initializer_list<uint64_t> dims,
                          std::initializer_list<uint64_t> strides, std::initializer_list<uint32_t> box,
                          CUtensorMapSwizzle swizzle);

}  // namespace sable::cuda
