// The knobs of the carried L2 prefetches (l2_prefetch.h).
#include "backend/cuda/l2_prefetch.h"

#include "backend/cuda/tuning_value.h"

namespace sable::cuda {
namespace {

TuningValue g_mask{"SABLE_MLA_PREFETCH", 0, [](int v) { return v >= 0 && v <= 3; }};
TuningValue g_mb{"SABLE_MLA_PREFETCH_MB", 16, [](int v) { return v >= 0 && v <= 4096; }};

}  // namespace

int l2_carry_mask() { return g_mask.get(); }
bool set_l2_carry_mask(int mask) { return g_mask.set(mask); }
int l2_carry_mb() { return g_mb.get(); }
bool set_l2_carry_mb(int mb) { return g_mb.set(mb); }

}  // namespace sable::cuda
