// Device memory bandwidth, measured: the ceilings benchmark floors divide by.
#pragma once

namespace sable::cuda {

// Bytes read + written per second by a 4 GiB device-to-device cudaMemcpy
// (median of 10). The reference ceiling; 0 when allocation fails.
double measure_copy_bandwidth();

// Bytes read per second by a kernel that streams a 4 GiB buffer once, each CTA
// a contiguous chunk, with 16-byte non-allocating loads, four in flight per
// thread (median of 10). A decode step only reads its weights, and the BF16
// decode steps read faster than the copy rate (below their copy floor), so a
// read stream is the tighter ceiling where this probe reaches it.
double measure_read_bandwidth();

}  // namespace sable::cuda
