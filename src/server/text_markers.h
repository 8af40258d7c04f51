// Finding markers (tool-call tags, <think>) in text that arrives in pieces.
#pragma once

#include <algorithm>
#include <string_view>

namespace sable::server {

// Length of the longest suffix of s that is a proper prefix of marker: the
// bytes that may be the start of the marker, to hold back until more text
// tells.
inline size_t partial_marker_suffix(std::string_view s, std::string_view marker) {
  if (marker.empty()) return 0;
  const size_t max = std::min(s.size(), marker.size() - 1);
  for (size_t n = max; n > 0; --n)
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

}  // namespace sable::server
