#include "backend/cuda/batch_invariant.h"

#include <cstdlib>
#include <string>

namespace sable::cuda {
namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

bool g_batch_invariant = env_flag("SABLE_BATCH_INVARIANT") || env_flag("VLLM_BATCH_INVARIANT");

}  // namespace

void set_batch_invariant(bool on) { g_batch_invariant = on; }
bool batch_invariant() { return g_batch_invariant; }

}  // namespace sable::cuda
