// tests/data/tokenizer/<name>.json, generated from Hugging Face tokenizers and
// jinja2 by scripts/gen_tokenizer_cases.py, for both bundled tokenizers.
#include <gtest/gtest.h>

#include "tokenizer_util.h"
#include "tokenizer/utf8.h"

namespace sable {
namespace {

using test::ids_str;

class HfCases : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    data_ = test::read_test_json("data/tokenizer/" + GetParam() + ".json");
    tok_ = test::bundled_tokenizer(GetParam());
  }
  nlohmann::ordered_json data_;
  std::shared_ptr<const Tokenizer> tok_;
};

TEST_P(HfCases, Encode) {
  ASSERT_GT(data_["encode"].size(), 300u);
  int failures = 0;
  for (const auto& c : data_["encode"]) {
    const std::string text = c["text"];
    const auto want = c["ids"].get<std::vector<int32_t>>();
    const auto got = tok_->encode(text);
    EXPECT_EQ(got, want) << "text: " << text << "\n got " << ids_str(got) << "\nwant " << ids_str(want);
    failures += got != want;
    if (failures > 10) break;
  }
}

TEST_P(HfCases, Decode) {
  for (const char* section : {"encode", "decode"}) {
    for (const auto& c : data_[section]) {
      const auto ids = c["ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(tok_->decode(ids, false), c["decoded"].get<std::string>()) << ids_str(ids);
      EXPECT_EQ(tok_->decode(ids, true), c["decoded_skip_special"].get<std::string>()) << ids_str(ids);
    }
  }
}

// Ill-formed UTF-8 is repaired as Python's bytes.decode("utf-8", "replace")
// does before encoding (docs/tokenizer.md).
TEST_P(HfCases, InvalidUtf8) {
  ASSERT_GT(data_["invalid_utf8"].size(), 10u);
  for (const auto& c : data_["invalid_utf8"]) {
    const std::string hex = c["bytes_hex"];
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    EXPECT_EQ(utf8_lossy(bytes), c["repaired"].get<std::string>()) << hex;
    EXPECT_EQ(tok_->encode(bytes), c["ids"].get<std::vector<int32_t>>()) << hex;
  }
}

TEST_P(HfCases, ChatTemplate) {
  ASSERT_GT(data_["chat_template"].size(), 10u);
  for (const auto& c : data_["chat_template"]) {
    auto text = tok_->apply_chat_template(c["messages"], c["add_generation_prompt"].get<bool>(), c["extra_vars"]);
    const std::string where = c["messages"].dump() + " agp=" + c["add_generation_prompt"].dump();
    if (c.contains("error")) {
      EXPECT_FALSE(text.is_ok()) << "jinja2 raised " << c["error"] << " but Sable rendered: " << where;
      continue;
    }
    ASSERT_TRUE(text.is_ok()) << text.status().to_string() << "\n" << where;
    EXPECT_EQ(*text, c["text"].get<std::string>()) << where;
    EXPECT_EQ(tok_->encode(*text), c["ids"].get<std::vector<int32_t>>()) << where;
  }
}

INSTANTIATE_TEST_SUITE_P(Bundled, HfCases, ::testing::Values("deepseek-v3", "qwen3"),
                         [](const auto& info) { return info.param == "qwen3" ? std::string("Qwen3") : std::string("DeepSeekV3"); });

}  // namespace
}  // namespace sable
