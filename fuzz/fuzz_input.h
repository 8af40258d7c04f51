// Shared by the structured-output fuzz targets: the input split into a head
// (a schema or a pattern) and a text, and the matcher's general properties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "engine/json_matcher.h"

namespace fuzz {

// The first byte picks where the head ends and the text starts.
inline std::pair<std::string_view, std::string_view> split_input(const uint8_t* data, size_t size) {
  const size_t split = 1 + (size > 1 ? data[0] % (size - 1) : 0);
  return {std::string_view(reinterpret_cast<const char*>(data + 1), split - 1),
          std::string_view(reinterpret_cast<const char*>(data + split), size - split)};
}

// Matches `text` into `whole` at once and into a copy byte by byte: both must
// take the same bytes and agree on completeness, and a rejected byte must
// leave the state key as it was. Returns whether the whole text was taken.
inline bool check_bytewise(sable::JsonMatcher& whole, std::string_view text) {
  sable::JsonMatcher step = whole;
  const bool whole_ok = whole.accept(text);
  size_t taken = 0;
  std::string before, after;
  for (; taken < text.size(); ++taken) {
    step.state_key(before);
    if (!step.accept(uint8_t(text[taken]))) {
      step.state_key(after);
      if (before != after) abort();
      break;
    }
  }
  if (whole_ok != (taken == text.size())) abort();
  if (whole_ok && whole.complete() != step.complete()) abort();
  return whole_ok;
}

}  // namespace fuzz
