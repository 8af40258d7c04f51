// guided_regex's pattern compiler and matcher on arbitrary input: no crash
// or hang (sizes are capped); the first byte splits the input into a pattern
// and a text. Checked on every compiled pattern: every transition is dead or
// a state; has_next() is true exactly when some byte leads on; the matcher
// over a regex schema passes fuzz_input.h's checks, and is complete exactly
// where the DFA accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/json_matcher.h"
#include "engine/json_schema.h"
#include "engine/regex_dfa.h"
#include "fuzz_input.h"

using sable::JsonMatcher;
using sable::JsonSchema;
using sable::RegexDfa;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto [pattern, text] = fuzz::split_input(data, size);
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
  JsonMatcher whole(**schema);
  const bool whole_ok = fuzz::check_bytewise(whole, text);
  if (whole_ok && whole.complete() != dfa->matches(text)) abort();
  return 0;
}
