// What CUDA devices this process can use. Compiled only with SABLE_CUDA; the
// rest of Sable asks through backend/device_select.h, which works without it.
#pragma once

#include <string>

namespace sable::cuda {

// Number of usable CUDA devices (0 when no driver or no device).
int device_count();
// "NVIDIA H200, 139 GiB, sm_90" for messages and bench records.
std::string device_description(int device);
// Free and total bytes on the device.
bool device_memory(int device, size_t* free_bytes, size_t* total_bytes);
// Streaming multiprocessors of the current device (cached per device; 132,
// an H100/H200's count, when the driver cannot say). Grids of persistent
// kernels and split heuristics size themselves from it.
int sm_count();

}  // namespace sable::cuda
