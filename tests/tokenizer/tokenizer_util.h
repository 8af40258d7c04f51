// Helpers shared by the tokenizer tests: the bundled tokenizers (loaded once)
// and JSON test data.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace sable::test {

// "deepseek-v3" or "qwen3" from assets/tokenizers/; aborts the test on failure.
std::shared_ptr<const Tokenizer> bundled_tokenizer(const std::string& name);
// Parses a JSON file under tests/ (key order kept).
nlohmann::ordered_json read_test_json(const std::string& relative_path);
// A printable rendering of ids for failure messages.
std::string ids_str(const std::vector<int32_t>& ids);

}  // namespace sable::test
