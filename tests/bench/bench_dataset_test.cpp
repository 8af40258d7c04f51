// "1000 in" must be 1000 tokens at the server: random prompts encode to
// exactly their target length with the model's tokenizer.
#include <gtest/gtest.h>

#include "bench/dataset.h"
#include "core/paths.h"
#include "tokenizer/tokenizer.h"

namespace sable::bench {
namespace {

std::shared_ptr<Tokenizer> dsv3_tokenizer() {
  static std::shared_ptr<Tokenizer> tok = [] {
    std::string dir = find_asset("tokenizers/deepseek-v3");
    auto t = Tokenizer::load(dir);
    return t.is_ok() ? *t : nullptr;
  }();
  return tok;
}

TEST(BenchDataset, RandomPromptsEncodeToTheirExactLength) {
  auto tok = dsv3_tokenizer();
  ASSERT_NE(tok, nullptr);
  DatasetOptions o;
  o.input_len = 200;
  o.output_len = 7;
  o.num_prompts = 6;
  o.seed = 3;
  auto p = make_prompts(o, tok.get(), tok->vocab_size());
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  ASSERT_EQ(p->size(), 6u);
  for (const BenchPrompt& b : *p) {
    EXPECT_EQ(b.prompt_len, 200);
    EXPECT_EQ(tok->encode(b.text, false).size(), 200u);
    EXPECT_EQ(b.ids, tok->encode(b.text, false));
    EXPECT_EQ(b.output_len, 7);
  }
  EXPECT_NE((*p)[0].text, (*p)[1].text);  // nothing shared for the prefix cache
  // Seeded.
  auto again = make_prompts(o, tok.get(), tok->vocab_size());
  EXPECT_EQ((*again)[5].text, (*p)[5].text);
}

TEST(BenchDataset, RangeRatioAndShareGptLikeLengths) {
  auto tok = dsv3_tokenizer();
  ASSERT_NE(tok, nullptr);
  DatasetOptions o;
  o.input_len = 64;
  o.output_len = 32;
  o.range_ratio = 0.5;
  o.num_prompts = 20;
  auto p = make_prompts(o, tok.get(), tok->vocab_size());
  ASSERT_TRUE(p.is_ok());
  for (const BenchPrompt& b : *p) {
    EXPECT_GE(b.prompt_len, 32);
    EXPECT_LE(b.prompt_len, 96);
    EXPECT_GE(b.output_len, 16);
    EXPECT_LE(b.output_len, 48);
  }
  o.name = "sharegpt-like";
  o.range_ratio = 0;
  auto s = make_prompts(o, tok.get(), tok->vocab_size());
  ASSERT_TRUE(s.is_ok());
  bool differ = false;
  for (const BenchPrompt& b : *s) {
    EXPECT_GE(b.output_len, 4);
    EXPECT_LE(b.output_len, 4 * 32);
    differ |= b.prompt_len != 64;
  }
  EXPECT_TRUE(differ);
}

TEST(BenchDataset, IdsWithoutATokenizerAndBadOptions) {
  DatasetOptions o;
  o.input_len = 16;
  o.num_prompts = 3;
  auto p = make_prompts(o, nullptr, 1000);
  ASSERT_TRUE(p.is_ok());
  for (const BenchPrompt& b : *p) {
    EXPECT_EQ(b.ids.size(), 16u);
    EXPECT_TRUE(b.text.empty());
    for (int32_t id : b.ids) EXPECT_LT(id, 1000);
  }
  o.name = "nope";
  EXPECT_FALSE(make_prompts(o, nullptr, 1000).is_ok());
  o.name = "random";
  o.num_prompts = 0;
  EXPECT_FALSE(make_prompts(o, nullptr, 1000).is_ok());
}

}  // namespace
}  // namespace sable::bench
