// tests/fixtures/tokenizer-shared.json: DeepSeek-V3 encode/decode and chat
// template cases from Hugging Face (ground truth; never edited here).
#include <gtest/gtest.h>

#include <set>

#include "tokenizer_util.h"

namespace sable {
namespace {

using test::bundled_tokenizer;
using test::ids_str;

TEST(TokenizerFixture, EncodeAndDecodeExact) {
  const auto fx = test::read_test_json("fixtures/tokenizer-shared.json");
  const auto tok = bundled_tokenizer("deepseek-v3");
  ASSERT_GT(fx["encode"].size(), 50u);
  for (const auto& c : fx["encode"]) {
    const std::string text = c["text"];
    const auto want = c["ids"].get<std::vector<int32_t>>();
    const auto got = tok->encode(text);
    EXPECT_EQ(got, want) << "text: " << text << "\n got " << ids_str(got) << "\nwant " << ids_str(want);
    // The fixture decodes with special tokens kept (decode's default).
    EXPECT_EQ(tok->decode(want), c["decoded"].get<std::string>()) << "ids " << ids_str(want);
  }
}

// Fixture chat cases whose "ids" disagree with Hugging Face's own tokenizer
// on the fixture's own "text": the fixture has the whitespace and non-ASCII
// letters dropped (e.g. "You are helpful." -> You|are|help|ful|.), which
// tokenizers.Tokenizer.encode(text) does not produce (checked with
// tokenizers 0.23.3; tests/data/tokenizer/deepseek-v3.json holds HF's ids
// for the same conversations). Reported upstream; the text of these cases is
// still checked exactly.
const std::set<size_t> kFixtureIdDefects = {2, 3, 4, 5, 6, 7};

TEST(TokenizerFixture, ChatTemplateTextExactAndIdsMatchHF) {
  const auto fx = test::read_test_json("fixtures/tokenizer-shared.json");
  const auto hf = test::read_test_json("data/tokenizer/deepseek-v3.json");
  const auto tok = bundled_tokenizer("deepseek-v3");
  ASSERT_EQ(fx["chat_template"].size(), 8u);
  for (size_t i = 0; i < fx["chat_template"].size(); ++i) {
    const auto& c = fx["chat_template"][i];
    auto text = tok->apply_chat_template(c["messages"], c["add_generation_prompt"].get<bool>(),
                                         nlohmann::ordered_json::object());
    ASSERT_TRUE(text.is_ok()) << text.status().to_string();
    EXPECT_EQ(*text, c["text"].get<std::string>()) << "case " << i;
    const auto ids = tok->encode(*text);
    const auto want = c["ids"].get<std::vector<int32_t>>();
    if (!kFixtureIdDefects.count(i)) {
      EXPECT_EQ(ids, want) << "case " << i;
      continue;
    }
    // A defect case: the fixture must still differ (else drop it from the
    // list), and Sable must agree with HF's ids for the same conversation.
    EXPECT_NE(ids, want) << "fixture case " << i << " now matches: remove it from kFixtureIdDefects";
    bool found = false;
    for (const auto& h : hf["chat_template"]) {
      if (h["messages"] != c["messages"] || h["add_generation_prompt"] != c["add_generation_prompt"]) continue;
      found = true;
      EXPECT_EQ(h["text"].get<std::string>(), *text) << "case " << i;
      EXPECT_EQ(ids, h["ids"].get<std::vector<int32_t>>()) << "case " << i;
    }
    EXPECT_TRUE(found) << "no HF reference for fixture case " << i << " (re-run scripts/gen_tokenizer_cases.py)";
  }
}

}  // namespace
}  // namespace sable
