// Random ids for requests and tool calls (not secrets: a seeded
// Mersenne Twister per thread).
#pragma once

#include <string>

namespace sable::server {

// 32 random hex digits.
std::string random_hex_id();

}  // namespace sable::server
