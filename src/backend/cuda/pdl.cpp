// The switch of programmatic dependent launch (pdl.cuh).
#include "backend/cuda/pdl.h"

#include "backend/cuda/tuning_value.h"

namespace sable::cuda {

namespace {
TuningValue g_pdl{"SABLE_PDL", 1, [](int v) { return v == 0 || v == 1; }};
}  // namespace

bool pdl_enabled() { return g_pdl.get() == 1; }

void set_pdl_enabled(bool on) { g_pdl.set(on ? 1 : 0); }

}  // namespace sable::cuda
