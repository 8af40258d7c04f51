// Host side of programmatic dependent launch (pdl.cuh): the switch.
#pragma once

namespace sable::cuda {

// On unless SABLE_PDL=0 (read at the first launch; tuning_value.h).
bool pdl_enabled();
// Testing knob (knobs.h): launches from now on with or without PDL.
void set_pdl_enabled(bool on);

}  // namespace sable::cuda
