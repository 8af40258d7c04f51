// The Tokenizer API beyond the HF cases: ids and special tokens, BOS handling,
// added-token options (checked against tokenizers 0.23 on the same tiny
// tokenizer), NFC, load errors.
#include <gtest/gtest.h>

#include <fstream>

#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"
#include "tokenizer_util.h"

namespace sable {
namespace {

TEST(TokenizerApi, DeepSeekIdsAndSpecialTokens) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  EXPECT_EQ(tok->vocab_size(), 128815);
  EXPECT_EQ(tok->bos_id(), 0);
  EXPECT_EQ(tok->eos_id(), 1);
  EXPECT_EQ(tok->token_to_id("<｜User｜>"), 128803);
  EXPECT_EQ(tok->token_to_id("Hello"), 19923);
  EXPECT_FALSE(tok->token_to_id("no such token").has_value());
  EXPECT_TRUE(tok->is_special(0));
  EXPECT_FALSE(tok->is_special(19923));
  EXPECT_FALSE(tok->is_special(-1));
  EXPECT_FALSE(tok->is_special(1 << 30));
  EXPECT_TRUE(tok->has_chat_template());
  // add_bos_token is true in tokenizer_config.json.
  EXPECT_EQ(tok->encode("Hello", true), (std::vector<int32_t>{0, 19923}));
  EXPECT_EQ(tok->encode("Hello", false), (std::vector<int32_t>{19923}));
  // Unknown ids are skipped by decode, as tokenizers does.
  EXPECT_EQ(tok->decode({19923, -5, 1 << 30, 19923}), "HelloHello");
  EXPECT_EQ(tok->decode({0, 19923, 1}, true), "Hello");
}

TEST(TokenizerApi, QwenHasNoBos) {
  const auto tok = test::bundled_tokenizer("qwen3");
  EXPECT_FALSE(tok->bos_id().has_value());
  EXPECT_EQ(tok->eos_id(), tok->token_to_id("<|im_end|>"));
  EXPECT_EQ(tok->encode("Hello", true), tok->encode("Hello", false));
}

TEST(TokenizerApi, EmptyInput) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  EXPECT_TRUE(tok->encode("").empty());
  EXPECT_EQ(tok->decode({}), "");
}

TEST(TokenizerApi, LongRunsTakeTheHeapPathAndRoundTrip) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  for (const std::string s : {std::string(5000, ' '), std::string(3000, 'a'), std::string(2000, '\n'),
                              std::string(999, '9')}) {
    EXPECT_EQ(tok->decode(tok->encode(s)), s);
  }
}

// A tiny byte-level tokenizer whose added tokens use lstrip/rstrip/single_word;
// the expected ids come from tokenizers 0.23.3 on the same JSON.
std::shared_ptr<Tokenizer> tiny_tokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  int n = 0;
  std::vector<int> printable;
  for (int b = 0; b < 256; ++b) {
    const bool p = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string ch;
    utf8_append(ch, p ? b : 256 + n++);
    vocab[ch] = b;
  }
  vocab["ab"] = 256;
  vocab["\u0120a"] = 257;
  auto added = [](int id, const char* content, bool single, bool l, bool r, bool norm, bool special) {
    return nlohmann::json{{"id", id}, {"content", content}, {"single_word", single}, {"lstrip", l},
                          {"rstrip", r}, {"normalized", norm}, {"special", special}};
  };
  nlohmann::json tj = {
      {"added_tokens", {added(258, "<L>", false, true, false, false, true), added(259, "<R>", false, false, true, false, false),
                        added(260, "tok", true, false, false, false, false), added(261, "<LR>", false, true, true, true, true)}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "\u0120 a"}}}}};
  auto t = Tokenizer::from_json(tj, nlohmann::json());
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return *t;
}

TEST(TokenizerApi, AddedTokenStripAndSingleWord) {
  const auto tok = tiny_tokenizer();
  using V = std::vector<int32_t>;
  EXPECT_EQ(tok->encode("x  <L>y"), (V{120, 258, 121}));
  EXPECT_EQ(tok->decode(tok->encode("x  <L>y")), "x<L>y");
  EXPECT_EQ(tok->decode(tok->encode("x  <L>y"), true), "xy");
  EXPECT_EQ(tok->encode("x<R>  \n y"), (V{120, 259, 121}));
  EXPECT_EQ(tok->encode("a tok b"), (V{97, 32, 260, 32, 98}));
  EXPECT_EQ(tok->encode("atok b"), (V{97, 116, 111, 107, 32, 98}));
  EXPECT_EQ(tok->encode("a tokb"), (V{97, 32, 116, 111, 107, 98}));
  EXPECT_EQ(tok->encode("tok"), (V{260}));
  EXPECT_EQ(tok->encode(" ab  <LR>  ab"), (V{32, 256, 261, 256}));
  EXPECT_EQ(tok->encode("ab ab"), (V{256, 32, 256}));
  EXPECT_EQ(tok->encode("x\u3000<L>"), (V{120, 258}));
}

TEST(TokenizerApi, LoadErrorsAreStatuses) {
  EXPECT_FALSE(Tokenizer::load("/nonexistent/dir").is_ok());
  nlohmann::json bad = {{"model", {{"type", "WordPiece"}, {"vocab", nlohmann::json::object()}}}};
  auto r = Tokenizer::from_json(bad, nlohmann::json());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("WordPiece"), std::string::npos);
  nlohmann::json bad_merge = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"a b"}}}}};
  EXPECT_FALSE(Tokenizer::from_json(bad_merge, nlohmann::json()).is_ok());
  nlohmann::json bad_regex = {{"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}}},
                              {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
  EXPECT_FALSE(Tokenizer::from_json(bad_regex, nlohmann::json()).is_ok());
}

TEST(Nfc, ComposesReordersAndLeavesNfcAlone) {
  EXPECT_EQ(nfc_normalize("e\u0301"), "\u00e9");
  EXPECT_EQ(nfc_normalize("\u1100\u1161\u11a8"), "\uac01");                  // conjoining jamo
  EXPECT_EQ(nfc_normalize("q\u0307\u0323"), "q\u0323\u0307");                 // canonical order
  EXPECT_EQ(nfc_normalize("\u212b"), "\u00c5");                               // singleton (Angstrom)
  EXPECT_EQ(nfc_normalize("\u1e0b\u0323"), "\u1e0d\u0307");                   // recompose after reorder
  EXPECT_FALSE(nfc_may_change("plain ascii and 한국어 and 中文"));
  EXPECT_TRUE(nfc_may_change("e\u0301"));
}

TEST(Utf8, LossyMatchesPythonReplace) {
  // bytes.decode("utf-8", "replace") results.
  EXPECT_EQ(utf8_lossy("\xe2\x82("), "\ufffd(");
  EXPECT_EQ(utf8_lossy("\xf0\x9f\x98"), "\ufffd");
  EXPECT_EQ(utf8_lossy("\xed\xa0\x80"), "\ufffd\ufffd\ufffd");
  EXPECT_EQ(utf8_lossy("\xc0\xaf"), "\ufffd\ufffd");
  EXPECT_EQ(utf8_lossy("ok"), "ok");
  EXPECT_EQ(utf8_stable_prefix_len("ab\xe2\x82"), 2u);
  EXPECT_EQ(utf8_stable_prefix_len("ab\xff"), 3u);  // never completable: final now
  EXPECT_EQ(utf8_stable_prefix_len("\xf0\x9f\x98\x80"), 4u);
}

}  // namespace
}  // namespace sable
