#include "server/auth.h"

#include <cctype>

namespace sable::server {

bool constant_time_equal(std::string_view a, std::string_view secret) {
  // Walk the secret's length whatever a's length is, so that neither the
  // length nor the content of a guess leaks through timing.
  volatile unsigned char diff = (a.size() != secret.size()) ? 1 : 0;
  for (size_t i = 0; i < secret.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ static_cast<unsigned char>(secret[i]));
  }
  return diff == 0;
}

bool authorized(const std::vector<std::string>& keys, std::string_view header) {
  if (keys.empty()) return true;
  // "Bearer" is case-insensitive (RFC 6750); one or more spaces follow it.
  if (header.size() < 7) return false;
  static constexpr std::string_view kBearer = "bearer";
  for (size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != kBearer[i]) return false;
  if (header[6] != ' ') return false;
  std::string_view token = header.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  bool ok = false;
  for (const auto& k : keys) ok |= constant_time_equal(token, k);  // no early exit
  return ok;
}

bool is_open_path(std::string_view path) {
  // vLLM checks the key only under /v1; its probes and /load stay open.
  return path == "/health" || path == "/metrics" || path == "/version" || path == "/ping" || path == "/load";
}

}  // namespace sable::server
