// API keys: `Authorization: Bearer <key>` compared in constant time against
// each configured key. Health, metrics, version and ping stay open so that
// probes and Prometheus need no secret (as in vLLM).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sable::server {

// True when a and b are equal; the time taken depends only on b's length
// (b is the secret), never on where the first difference is.
bool constant_time_equal(std::string_view a, std::string_view secret);

// True when the Authorization header carries one of the keys (or no keys
// are configured).
bool authorized(const std::vector<std::string>& keys, std::string_view authorization_header);

// Paths that never need a key.
bool is_open_path(std::string_view path);

}  // namespace sable::server
