// The switch of programmatic dependent launch (pdl.cuh).
#include "backend/cuda/pdl.h"

#include <cstdlib>

namespace sable::cuda {

namespace {
int g_pdl = -1;  // -1: SABLE_PDL decides (on unless "0")
}  // namespace

bool pdl_enabled() {
  if (g_pdl < 0) {
    const char* e = std::getenv("SABLE_PDL");
    g_pdl = (e && *e == '0') ? 0 : 1;
  }
  return g_pdl == 1;
}

void set_pdl_enabled(bool on) { g_pdl = on ? 1 : 0; }

}  // namespace sable::cuda
