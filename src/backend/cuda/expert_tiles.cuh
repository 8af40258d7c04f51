// The tiled layout of the MoE experts' prepared weights (PreparedExperts).
//
// A weight of N rows x K elements is stored as 4 KB tiles of 32 rows x 128
// bytes of K (64 bf16 or 128 FP8), row tile major: tile (rt, kt) at byte
// (rt * KT + kt) * 4096 with KT = ceil(K * esz / 128); rows past N and bytes
// past K are zero. Inside a tile the 16-byte vectors sit in the order in
// which a warp of the streaming GEMM consumes them (gemm_stream.cu): vector
// i = c * 4 + r of lane l = g * 4 + q at byte i * 512 + l * 16 holds row
// (r >> 1) * 16 + (r & 1) * 8 + g, bytes c * 64 + q * 16 .. +15 of the tile.
//
// Why: a stage of the streaming GEMM is then one contiguous 4 KB read (eight
// 512-byte warp loads) instead of 32 row pieces of 128 bytes, K bytes apart.
// Measured on an H200 (bench_cuda_stream_read, no math): the row pattern reads
// an FP8 7168 x 18432 weight at 3.5-3.6 TB/s, the tiled one at 4.0-4.15 TB/s
// (a flat read: 4.03). The grouped wgmma kernel reads the same tiles with a
// per-chunk address (tile_offset).
#pragma once

#include <cstdint>

namespace sable::cuda {

constexpr int kExpertTileRows = 32;
constexpr int kExpertTileKBytes = 128;
constexpr int kExpertTileBytes = kExpertTileRows * kExpertTileKBytes;  // 4096

// K tiles per row tile for K elements of esz bytes.
constexpr int64_t expert_k_tiles(int64_t K, int64_t esz) {
  return (K * esz + kExpertTileKBytes - 1) / kExpertTileKBytes;
}
// Bytes of one N x K weight in the tiled layout.
constexpr int64_t expert_tiled_bytes(int64_t N, int64_t K, int64_t esz) {
  return (N + kExpertTileRows - 1) / kExpertTileRows * expert_k_tiles(K, esz) * kExpertTileBytes;
}

// Byte offset inside a tile of the 16-byte chunk `ch` (0..7) of tile row `row` (0..31).
__host__ __device__ __forceinline__ uint32_t expert_tile_offset(int row, int ch) {
  const int r = ((row >> 4) << 1) | ((row >> 3) & 1), g = row & 7, c = ch >> 2, q = ch & 3;
  return uint32_t((c * 4 + r) * 512 + (g * 4 + q) * 16);
}

}  // namespace sable::cuda
