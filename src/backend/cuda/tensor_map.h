// Host side of the tensor memory accelerator (TMA): the tensor maps that
// cp.async.bulk.tensor reads (sm90_async.cuh, tma_load_2d).
#pragma once

#include <cuda.h>

#include <cstdint>

namespace sable::cuda {

// A 2-D tiled map over a row-major bf16 matrix [rows x cols] at `base`
// (16-byte aligned, row stride `row_bytes`, a multiple of 16), read in boxes
// of [box_rows x box_cols] with the 128-byte swizzle (box_cols * 2 <= 128),
// so a box lands in shared memory in the K-major layout wgmma reads. Throws
// std::runtime_error naming the argument the driver refused.
CUtensorMap tensor_map_2d_bf16(const void* base, uint64_t rows, uint64_t cols, uint64_t row_bytes, uint32_t box_rows,
                               uint32_t box_cols);

}  // namespace sable::cuda
