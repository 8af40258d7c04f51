// Where a tokenizer comes from: --tokenizer DIR, else --model DIR, else (or
// when that directory has no tokenizer.json) the bundled DeepSeek-V3
// tokenizer, so that `sable serve` / `sable tokenize` work with no model.
#pragma once

#include <string>

#include "core/status.h"

namespace sable {

// The bundled DeepSeek-V3 tokenizer directory (assets/tokenizers/deepseek-v3),
// found next to the binary's source tree or via $SABLE_ASSETS.
Result<std::string> bundled_tokenizer_dir();

// Picks the directory to load. *fell_back is set when the bundled tokenizer
// was chosen because neither directory had a tokenizer.json.
Result<std::string> resolve_tokenizer_dir(const std::string& model_dir, const std::string& tokenizer_dir,
                                          bool* fell_back);

}  // namespace sable
