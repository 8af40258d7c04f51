// bad_words as vLLM tokenizes and applies them (engine/bad_words.h), on the
// DeepSeek-V3 tokenizer.
#include "engine/bad_words.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/engine_util.h"
#include "tokenizer/tokenizer.h"

namespace sable {
namespace {

TEST(BadWords, TheWordAndTheWordAfterASpace) {
  const Tokenizer& tok = *testing::tiny_model().tokenizer;
  auto ids = bad_words_token_ids(tok, {"  hello"});
  ASSERT_TRUE(ids.is_ok()) << ids.status().message();
  const auto plain = tok.encode("hello"), spaced = tok.encode(" hello");
  ASSERT_EQ(plain.size(), spaced.size());  // one token each in this vocabulary
  ASSERT_NE(plain.front(), spaced.front());
  EXPECT_EQ(*ids, (std::vector<std::vector<int32_t>>{plain, spaced}));
  EXPECT_FALSE(bad_words_token_ids(tok, {"   "}).is_ok());
}

TEST(BadWords, MaskTheLastTokenAfterTheRest) {
  std::vector<float> logits(10, 0.f);
  const std::vector<std::vector<int32_t>> words = {{3}, {7, 8, 9}};
  const std::vector<int32_t> out = {1, 7, 8};
  mask_bad_words(logits.data(), 10, words, out.data(), out.size());
  EXPECT_TRUE(std::isinf(logits[3]));  // one token: always
  EXPECT_TRUE(std::isinf(logits[9]));  // after 7 8
  EXPECT_EQ(logits[8], 0.f);
  std::fill(logits.begin(), logits.end(), 0.f);
  mask_bad_words(logits.data(), 10, words, out.data(), 2);  // after 1 7: no
  EXPECT_EQ(logits[9], 0.f);
  mask_bad_words(logits.data(), 10, words, out.data(), 0);  // nothing generated: only one-token words
  EXPECT_TRUE(std::isinf(logits[3]));
  EXPECT_EQ(logits[9], 0.f);
}

}  // namespace
}  // namespace sable
