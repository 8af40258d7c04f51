#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

TEST(Smoke, Loads) {
  auto t = sable::Tokenizer::load(SABLE_TEST_DATA "/../assets/tokenizers/deepseek-v3");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
}
