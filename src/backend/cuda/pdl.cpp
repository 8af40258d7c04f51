// The switch of programmatic dependent launch (pdl.cuh).
#include <cstdlib>

namespace sable::cuda {

bool pdl_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("SABLE_PDL");
    return !(e && *e == '0');
  }();
  return on;
}

}  // namespace sable::cuda
