#include "server/random_id.h"

#include <chrono>
#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace sable::server {

std::string random_hex_id() {
  thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd() ^
           uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  }());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

}  // namespace sable::server
