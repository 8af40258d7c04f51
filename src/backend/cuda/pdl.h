// Host side of programmatic dependent launch (pdl.cuh): the switch.
#pragma once

namespace sable::cuda {

// On unless SABLE_PDL=0 (read at the first launch; tuning_value.h).
bool pdl_enabled();
// Testing knob (knobs.h): launches from now on with or without PDL.
void set_pdl_enabled(bool on);

// Scheduling priority launch_pdl gives its kernels (cudaLaunchAttributePriority;
// 0: none, the stream's). CudaBackend::fork sets it for its side work under the
// knob "branch-priority", so that the side's CTAs are dispatched ahead of
// the main chain's pending ones.
void set_launch_priority(int priority);
int launch_priority();

}  // namespace sable::cuda
