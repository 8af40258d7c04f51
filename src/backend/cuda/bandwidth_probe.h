// Device memory bandwidth, measured: the ceilings benchmark floors divide by.
#pragma once

namespace sable::cuda {

// Bytes read + written per second by a 4 GiB device-to-device cudaMemcpy
// (median of 10). The reference ceiling; 0 when allocation fails.
double measure_copy_bandwidth();

// Bytes read per second by a kernel that streams a 4 GiB buffer once with
// 16-byte non-allocating loads, four independent loads in flight per thread
// (median of 10). A decode step only reads its weights, and on the H200 a read
// stream runs faster than a copy's read + write (the BF16 decode steps
// measured below their copy floor), so this is the tighter ceiling for a step.
double measure_read_bandwidth();

}  // namespace sable::cuda
