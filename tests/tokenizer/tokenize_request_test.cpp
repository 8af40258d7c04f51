// The JSON-lines protocol of `sable tokenize` (and the server's /tokenize):
// one answer per request, errors as {"error": ...}, and the CLI end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenize_request.h"
#include "tokenizer/tokenizer_dir.h"
#include "tokenizer_util.h"

namespace sable {
namespace {

using J = nlohmann::ordered_json;

TEST(TokenizeRequest, TextIdsAndMessages) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  EXPECT_EQ(handle_tokenize_request(*tok, J::parse(R"({"text": "Hello"})")).dump(), R"({"ids":[19923]})");
  EXPECT_EQ(handle_tokenize_request(*tok, J::parse(R"({"text": "Hello", "add_special_tokens": true})")).dump(),
            R"({"ids":[0,19923]})");
  EXPECT_EQ(handle_tokenize_request(*tok, J::parse(R"({"ids": [0, 19923]})")).dump(),
            R"({"text":"<｜begin▁of▁sentence｜>Hello"})");
  EXPECT_EQ(handle_tokenize_request(*tok, J::parse(R"({"ids": [0, 19923], "skip_special_tokens": true})")).dump(),
            R"({"text":"Hello"})");
  const J r = handle_tokenize_request(
      *tok, J::parse(R"({"messages": [{"role": "user", "content": "Hello"}], "add_generation_prompt": true})"));
  EXPECT_EQ(r["text"], "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜>");
  EXPECT_EQ(r["ids"], J::parse("[0, 128803, 19923, 128804]"));
}

TEST(TokenizeRequest, BadRequestsGetErrors) {
  const auto tok = test::bundled_tokenizer("deepseek-v3");
  for (const char* bad : {R"([1, 2])", R"({})", R"({"text": 5})", R"({"ids": "x"})", R"({"ids": [1.5]})",
                          R"({"ids": [-1]})", R"({"ids": [99999999]})", R"({"text": "a", "ids": [1]})",
                          R"({"messages": "hi"})", R"({"messages": [1]})",
                          R"({"messages": [], "add_generation_prompt": "yes"})",
                          R"({"messages": [{"role": "user"}], "chat_template_kwargs": 3})"}) {
    const J r = handle_tokenize_request(*tok, J::parse(bad));
    EXPECT_TRUE(r.contains("error")) << bad << " -> " << r.dump();
  }
  // A template error (raise_exception or a type error) is an error line too.
  auto t2 = Tokenizer::load(std::string(SABLE_TEST_DATA) + "/../assets/tokenizers/qwen3");
  ASSERT_TRUE(t2.is_ok());
  const J r = handle_tokenize_request(**t2, J::parse(R"({"messages": [{"role": "assistant", "content": null}]})"));
  ASSERT_TRUE(r.contains("error"));
  EXPECT_NE(r["error"].get<std::string>().find("line"), std::string::npos) << r.dump();
}

TEST(TokenizerDir, FallsBackToBundled) {
  bool fell_back = false;
  auto d = resolve_tokenizer_dir("", "", &fell_back);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_TRUE(fell_back);
  d = resolve_tokenizer_dir("/nonexistent", "", &fell_back);
  ASSERT_TRUE(d.is_ok());
  EXPECT_TRUE(fell_back);
  const std::string qwen = std::string(SABLE_TEST_DATA) + "/../assets/tokenizers/qwen3";
  d = resolve_tokenizer_dir(qwen, "", &fell_back);
  ASSERT_TRUE(d.is_ok());
  EXPECT_FALSE(fell_back);
  EXPECT_EQ(*d, qwen);
  EXPECT_FALSE(resolve_tokenizer_dir("", "/nonexistent", &fell_back).is_ok());
}

// `sable tokenize` end to end (skipped when the binary was not built).
TEST(TokenizeCli, JsonLinesInAndOut) {
  const char* bin = std::getenv("SABLE_BINARY");
  std::string binary = bin ? bin : SABLE_BINARY;
  if (!std::ifstream(binary).good()) GTEST_SKIP() << "no sable binary at " << binary;
  const std::string in = ::testing::TempDir() + "/tokenize_in.jsonl";
  {
    std::ofstream f(in);
    f << R"({"text": "Hello"})" << "\n"
      << "not json\n"
      << R"({"ids": [19923, 19923]})" << "\n"
      << R"({"messages": [{"role": "user", "content": "Hello"}], "add_generation_prompt": true})" << "\n";
  }
  const std::string cmd = binary + " tokenize < " + in + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0);
  std::istringstream lines(out);
  std::string l;
  std::vector<J> got;
  while (std::getline(lines, l)) got.push_back(J::parse(l));
  ASSERT_EQ(got.size(), 4u) << out;
  EXPECT_EQ(got[0].dump(), R"({"ids":[19923]})");
  EXPECT_TRUE(got[1].contains("error"));
  EXPECT_EQ(got[2].dump(), R"({"text":"HelloHello"})");
  EXPECT_EQ(got[3]["ids"], J::parse("[0, 128803, 19923, 128804]"));
}

}  // namespace
}  // namespace sable
