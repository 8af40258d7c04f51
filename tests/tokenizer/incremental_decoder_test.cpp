// Streaming detokenization: UTF-8-safe deltas, stop strings across token
// boundaries that never leak, skip_special_tokens, and agreement with decode().
#include <gtest/gtest.h>

#include "tokenizer/incremental_decoder.h"
#include "tokenizer/utf8.h"
#include "tokenizer_util.h"

namespace sable {
namespace {

std::string stream_all(IncrementalDecoder& d, const std::vector<int32_t>& ids, bool* stopped = nullptr) {
  std::string out;
  for (int32_t id : ids) {
    auto s = d.push(id);
    EXPECT_TRUE(utf8_valid(s.delta));
    out += s.delta;
    if (s.stopped) {
      if (stopped) *stopped = true;
      return out;
    }
  }
  out += d.flush();
  return out;
}

TEST(IncrementalDecoder, EqualsDecodeOnHfCases) {
  for (const char* name : {"deepseek-v3", "qwen3"}) {
    const auto tok = test::bundled_tokenizer(name);
    const auto data = test::read_test_json(std::string("data/tokenizer/") + name + ".json");
    for (const char* section : {"encode", "decode"}) {
      for (const auto& c : data[section]) {
        const auto ids = c["ids"].get<std::vector<int32_t>>();
        for (bool skip : {false, true}) {
          IncrementalDecoder d(tok, skip, {});
          const std::string s = stream_all(d, ids);
          EXPECT_EQ(s, tok->decode(ids, skip)) << name << " " << test::ids_str(ids);
          EXPECT_EQ(d.text(), s);
        }
      }
    }
  }
}

TEST(IncrementalDecoder, NeverSplitsACharacter) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  // Byte-level tokens for the four bytes of 😀 (F0 9F 98 80), one at a time.
  std::vector<int32_t> ids;
  for (const char* ch : {"ð", "Ł", "ĺ", "Ģ"}) ids.push_back(*tok->token_to_id(ch));
  IncrementalDecoder d(tok, false, {});
  EXPECT_EQ(d.push(ids[0]).delta, "");
  EXPECT_EQ(d.push(ids[1]).delta, "");
  EXPECT_EQ(d.push(ids[2]).delta, "");
  EXPECT_EQ(d.push(ids[3]).delta, "😀");
  // An unfinished character at the end becomes U+FFFD on flush, as decode does.
  IncrementalDecoder d2(tok, false, {});
  d2.push(ids[0]);
  d2.push(ids[1]);
  EXPECT_EQ(d2.flush(), "\ufffd");
  EXPECT_EQ(tok->decode({ids[0], ids[1]}), "\ufffd");
}

TEST(IncrementalDecoder, StopStringAcrossTokensNeverLeaks) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  const std::string text = "The answer is 42.\n\nObservation: done";
  const auto ids = tok->encode(text);
  IncrementalDecoder d(tok, false, {"Observation:"});
  std::string out;
  bool stopped = false;
  std::string matched;
  for (int32_t id : ids) {
    auto s = d.push(id);
    out += s.delta;
    EXPECT_EQ(out.find("Obs"), std::string::npos) << "a stop-string prefix leaked: " << out;
    if (s.stopped) {
      stopped = true;
      matched = s.matched_stop;
      break;
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(matched, "Observation:");
  EXPECT_EQ(out, "The answer is 42.\n\n");
  EXPECT_TRUE(d.push(ids[0]).stopped);
  EXPECT_EQ(d.flush(), "");
}

TEST(IncrementalDecoder, IncludeStopAndEarliestMatch) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  const auto ids = tok->encode("alpha beta gamma delta");
  IncrementalDecoder d(tok, false, {"delta", "beta"}, /*include_stop_str_in_output=*/true);
  bool stopped = false;
  const std::string out = stream_all(d, ids, &stopped);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "alpha beta");
}

TEST(IncrementalDecoder, HeldBackTextIsReleasedWhenItCannotMatch) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  const auto ids = tok->encode("a <end of text");
  IncrementalDecoder d(tok, false, {"<end>"});
  bool stopped = false;
  const std::string out = stream_all(d, ids, &stopped);
  EXPECT_FALSE(stopped);
  EXPECT_EQ(out, "a <end of text");
}

TEST(IncrementalDecoder, StopInsideSpecialTokensIsSkippedWhenSkipping) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  std::vector<int32_t> ids = tok->encode("Hi");
  ids.push_back(1);  // <｜end▁of▁sentence｜>
  IncrementalDecoder keep(tok, false, {"end▁of"});
  bool stopped = false;
  EXPECT_EQ(stream_all(keep, ids, &stopped), "Hi<｜");
  EXPECT_TRUE(stopped);
  IncrementalDecoder skip(tok, true, {"end▁of"});
  stopped = false;
  EXPECT_EQ(stream_all(skip, ids, &stopped), "Hi");
  EXPECT_FALSE(stopped);
}

}  // namespace
}  // namespace sable
