#include "tokenizer/tokenizer_dir.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace sable {
namespace {

bool has_tokenizer(const std::string& dir) {
  std::error_code ec;
  return !dir.empty() && std::filesystem::is_regular_file(std::filesystem::path(dir) / "tokenizer.json", ec);
}

}  // namespace

Result<std::string> bundled_tokenizer_dir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SABLE_ASSETS")) candidates.push_back(std::string(env) + "/tokenizers/deepseek-v3");
#ifdef SABLE_SOURCE_DIR
  candidates.push_back(std::string(SABLE_SOURCE_DIR) + "/assets/tokenizers/deepseek-v3");
#endif
  // A relocated install: <prefix>/bin/sable next to <prefix>/assets.
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / "assets/tokenizers/deepseek-v3").string());
    candidates.push_back((exe.parent_path().parent_path() / "assets/tokenizers/deepseek-v3").string());
  }
  for (const auto& c : candidates)
    if (has_tokenizer(c)) return c;
  return not_found("the bundled DeepSeek-V3 tokenizer was not found (set SABLE_ASSETS to the assets/ folder)");
}

Result<std::string> resolve_tokenizer_dir(const std::string& model_dir, const std::string& tokenizer_dir,
                                          bool* fell_back) {
  *fell_back = false;
  if (!tokenizer_dir.empty()) {
    if (has_tokenizer(tokenizer_dir)) return tokenizer_dir;
    return not_found("no tokenizer.json in --tokenizer " + tokenizer_dir);
  }
  if (has_tokenizer(model_dir)) return model_dir;
  *fell_back = true;
  return bundled_tokenizer_dir();
}

}  // namespace sable
