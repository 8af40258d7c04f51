#include "engine/bad_words.h"

#include <algorithm>
#include <limits>

#include "tokenizer/tokenizer.h"

namespace sable {

Result<std::vector<std::vector<int32_t>>> bad_words_token_ids(const Tokenizer& tok,
                                                              const std::vector<std::string>& words) {
  std::vector<std::vector<int32_t>> out;
  for (const std::string& w : words) {
    const size_t b = w.find_first_not_of(" \t\n\r\f\v");
    const std::string word = b == std::string::npos ? std::string() : w.substr(b);
    std::vector<int32_t> plain = tok.encode(word, /*add_special_tokens=*/false);
    if (plain.empty()) return invalid_argument("bad_words: '" + w + "' has no tokens");
    std::vector<int32_t> spaced = tok.encode(" " + word, /*add_special_tokens=*/false);
    const bool distinct = !spaced.empty() && spaced.front() != plain.front() && spaced.size() == plain.size();
    out.push_back(std::move(plain));
    if (distinct) out.push_back(std::move(spaced));
  }
  return out;
}

void mask_bad_words(float* logits, int64_t V, const std::vector<std::vector<int32_t>>& bad_words,
                    const int32_t* generated, size_t num_generated) {
  for (const auto& seq : bad_words) {
    if (seq.empty()) continue;
    const size_t prefix = seq.size() - 1;
    if (prefix > num_generated) continue;
    if (!std::equal(seq.begin(), seq.end() - 1, generated + (num_generated - prefix))) continue;
    const int32_t last = seq.back();
    if (last >= 0 && last < V) logits[last] = -std::numeric_limits<float>::infinity();
  }
}

}  // namespace sable
