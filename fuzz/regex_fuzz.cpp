// guided_regex's pattern compiler and matcher on arbitrary input: no crash
// or hang (sizes are capped); the first byte splits the input into a pattern
// and a text. Checked on every compiled pattern: every transition is dead or
// a state; has_next() is true exactly when some byte leads on; the matcher
// over a regex schema accepts a text whole iff byte by byte, and is complete
// exactly where the DFA accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/json_matcher.h"
#include "engine/json_schema.h"
#include "engine/regex_dfa.h"

using sable::JsonMatcher;
using sable::JsonSchema;
using sable::RegexDfa;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = 1 + (size > 1 ? data[0] % (size - 1) : 0);
  const std::string_view pattern(reinterpret_cast<const char*>(data + 1), split - 1);
  const std::string_view text(reinterpret_cast<const char*>(data + split), size - split);
  auto dfa = RegexDfa::compile(pattern);
  if (!dfa.is_ok()) return 0;
  const size_t n = dfa->num_states();
  for (uint32_t s = 0; s < n; ++s) {
    bool live = false;
    for (int b = 0; b < 256; ++b) {
      const uint32_t t = dfa->next(s, uint8_t(b));
      if (t != RegexDfa::kDead && t >= n) abort();
      live = live || t != RegexDfa::kDead;
    }
    if (live != dfa->has_next(s)) abort();
  }
  auto schema = JsonSchema::regex(pattern);
  if (!schema.is_ok()) abort();  // it compiled above
  JsonMatcher whole(**schema), step(**schema);
  const bool whole_ok = whole.accept(text);
  size_t taken = 0;
  while (taken < text.size() && step.accept(uint8_t(text[taken]))) ++taken;
  if (whole_ok != (taken == text.size())) abort();
  if (whole_ok && whole.complete() != dfa->matches(text)) abort();
  return 0;
}
