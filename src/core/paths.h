// Locating Sable's bundled assets (tokenizer files for the demo model) at run
// time: $SABLE_ASSETS, then <exe>/../assets, <exe>/../share/sable/assets,
// /usr/share/sable/assets, then the source tree the binary was built from.
#pragma once

#include <string>

namespace sable {

// The assets folder holding `relative` (e.g. "tokenizers/deepseek-v3"), or
// "" when none does.
std::string find_asset(const std::string& relative);

}  // namespace sable
