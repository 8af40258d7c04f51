// --speculative-config as vLLM takes it (engine/speculative_config.h): the
// forms accepted, the defaults, and an error for everything else that names
// the key and the fix.
#include "engine/speculative_config.h"

#include <gtest/gtest.h>

#include <string>

namespace sable {
namespace {

using Method = SpeculativeConfig::Method;

SpeculativeConfig parse_ok(const std::string& json) {
  auto r = parse_speculative_config(json);
  EXPECT_TRUE(r.is_ok()) << json << ": " << r.status().message();
  return r.is_ok() ? *r : SpeculativeConfig{};
}

// The error's message, which must mention every one of `needles`.
void expect_error(const std::string& json, std::initializer_list<std::string> needles) {
  auto r = parse_speculative_config(json);
  ASSERT_FALSE(r.is_ok()) << json << " parsed";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind("--speculative-config: ", 0), 0u) << msg;
  for (const std::string& n : needles)
    EXPECT_NE(msg.find(n), std::string::npos) << json << " -> " << msg << "\n lacks: " << n;
}

TEST(SpeculativeConfig, EmptyIsDisabled) {
  for (const char* s : {"", "  ", "\n\t"}) {
    SpeculativeConfig c = parse_ok(s);
    EXPECT_FALSE(c.enabled());
    EXPECT_EQ(c.method, Method::kNone);
    EXPECT_EQ(c.num_speculative_tokens, 0);
  }
  EXPECT_FALSE(SpeculativeConfig{}.enabled());
}

TEST(SpeculativeConfig, DeepseekMtpAndMtpAreTheCheckpointsMtpLayer) {
  for (const char* s :
       {R"({"method": "deepseek_mtp", "num_speculative_tokens": 1})",
        R"({"method": "mtp", "num_speculative_tokens": 3})",
        R"({"method": "mtp", "model": "/models/DeepSeek-V3", "num_speculative_tokens": 3})",
        R"({"method": "deepseek_mtp", "model": "deepseek-ai/DeepSeek-R1", "num_speculative_tokens": 2})",
        R"({"method": "mtp", "model": null, "num_speculative_tokens": 16})"}) {
    SpeculativeConfig c = parse_ok(s);
    EXPECT_TRUE(c.enabled()) << s;
    EXPECT_EQ(c.method, Method::kMtp) << s;
  }
  EXPECT_EQ(parse_ok(R"({"method": "deepseek_mtp", "num_speculative_tokens": 1})").num_speculative_tokens, 1);
  EXPECT_EQ(parse_ok(R"({"method": "mtp", "num_speculative_tokens": 16})").num_speculative_tokens, 16);
}

TEST(SpeculativeConfig, MtpIgnoresThePromptLookupWindowAsVllmDoes) {
  SpeculativeConfig c =
      parse_ok(R"({"method": "mtp", "num_speculative_tokens": 2, "prompt_lookup_min": 2, "prompt_lookup_max": 4})");
  EXPECT_EQ(c.method, Method::kMtp);
  EXPECT_EQ(c.prompt_lookup_min, SpeculativeConfig{}.prompt_lookup_min);
  EXPECT_EQ(c.prompt_lookup_max, SpeculativeConfig{}.prompt_lookup_max);
  // Still type-checked: a wrong value is a mistake whatever the method.
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 2, "prompt_lookup_max": 0})",
               {"\"prompt_lookup_max\"", "[1, 64]"});
}

TEST(SpeculativeConfig, NgramWindowBothGiven) {
  SpeculativeConfig c =
      parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 2, "prompt_lookup_max": 4})");
  EXPECT_EQ(c.method, Method::kNgram);
  EXPECT_EQ(c.num_speculative_tokens, 3);
  EXPECT_EQ(c.prompt_lookup_min, 2);
  EXPECT_EQ(c.prompt_lookup_max, 4);
  c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 64, "prompt_lookup_max": 64})");
  EXPECT_EQ(c.prompt_lookup_min, 64);
}

TEST(SpeculativeConfig, NgramWindowOneGivenSetsTheOther) {
  SpeculativeConfig c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4})");
  EXPECT_EQ(c.prompt_lookup_min, 4);
  EXPECT_EQ(c.prompt_lookup_max, 4);
  c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 2})");
  EXPECT_EQ(c.prompt_lookup_min, 2);
  EXPECT_EQ(c.prompt_lookup_max, 2);
  c = parse_ok(
      R"({"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": null, "prompt_lookup_max": 3})");
  EXPECT_EQ(c.prompt_lookup_min, 3);
  EXPECT_EQ(c.prompt_lookup_max, 3);
}

TEST(SpeculativeConfig, NgramWindowDefaultIsVllms) {
  SpeculativeConfig c = parse_ok(R"({"method": "ngram", "num_speculative_tokens": 4})");
  EXPECT_EQ(c.method, Method::kNgram);
  EXPECT_EQ(c.num_speculative_tokens, 4);
  EXPECT_EQ(c.prompt_lookup_min, 5);
  EXPECT_EQ(c.prompt_lookup_max, 5);
}

TEST(SpeculativeConfig, NgramOlderSpellings) {
  // vLLM folds "[ngram]" into "ngram", and takes model "ngram" without a method as method ngram.
  for (const char* s :
       {R"({"method": "[ngram]", "num_speculative_tokens": 2})", R"({"model": "ngram", "num_speculative_tokens": 2})",
        R"({"model": "[ngram]", "num_speculative_tokens": 2, "prompt_lookup_max": 3})",
        R"({"method": "ngram", "model": "ngram", "num_speculative_tokens": 2})"}) {
    EXPECT_EQ(parse_ok(s).method, Method::kNgram) << s;
  }
}

TEST(SpeculativeConfig, IgnoredVllmKeysAreAccepted) {
  SpeculativeConfig c = parse_ok(R"({"method": "deepseek_mtp", "num_speculative_tokens": 1,
      "draft_tensor_parallel_size": 8, "quantization": "fp8", "max_model_len": 4096, "revision": "main",
      "code_revision": null, "enforce_eager": false, "disable_padded_drafter_batch": true})");
  EXPECT_EQ(c.method, Method::kMtp);
  EXPECT_EQ(c.num_speculative_tokens, 1);
  EXPECT_EQ(c.disable_by_batch_size, 0);  // absent: drafts at every batch size
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 2, "quantization": null})").method,
            Method::kNgram);
}

TEST(SpeculativeConfig, DisableByBatchSize) {
  EXPECT_EQ(
      parse_ok(R"({"method": "mtp", "num_speculative_tokens": 1, "disable_by_batch_size": 32})").disable_by_batch_size,
      32);
  EXPECT_EQ(parse_ok(R"({"method": "ngram", "num_speculative_tokens": 2, "disable_by_batch_size": null})")
                .disable_by_batch_size,
            0);
  // vLLM's bound: 1 would never draft.
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "disable_by_batch_size": 1})",
               {"\"disable_by_batch_size\" must be an integer >= 2", "got 1"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "disable_by_batch_size": "8"})",
               {"\"disable_by_batch_size\" must be an integer >= 2", "a string"});
}

TEST(SpeculativeConfig, MethodName) {
  EXPECT_STREQ(speculative_method_name(Method::kMtp), "mtp");
  EXPECT_STREQ(speculative_method_name(Method::kNgram), "ngram");
  EXPECT_STREQ(speculative_method_name(Method::kNone), "none");
}

TEST(SpeculativeConfig, MalformedJsonNamesThePositionAndTheForm) {
  expect_error(R"({method: "mtp"})",
               {"not valid JSON", "line 1, column 2", R"('{"method": "deepseek_mtp", "num_speculative_tokens": 1}')"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1)", {"not valid JSON", "column", "deepseek_mtp"});
  expect_error("deepseek_mtp", {"not valid JSON", "deepseek_mtp"});
}

TEST(SpeculativeConfig, NotAnObject) {
  expect_error(R"(["deepseek_mtp", 1])", {"expected a JSON object", "num_speculative_tokens", "(an array)"});
  expect_error(R"("deepseek_mtp")", {"expected a JSON object", "(a string)"});
  expect_error("1", {"expected a JSON object", "(an integer)"});
  expect_error("null", {"expected a JSON object"});
}

TEST(SpeculativeConfig, UnsupportedMethods) {
  for (const char* m :
       {"eagle", "eagle3", "medusa", "mlp_speculator", "draft_model", "suffix", "ngram_gpu", "MTP", "foo", ""}) {
    expect_error(std::string(R"({"method": ")") + m + R"(", "model": "x", "num_speculative_tokens": 2})",
                 {std::string("method \"") + m + "\" is not supported", "\"deepseek_mtp\"", "\"mtp\"", "\"ngram\""});
  }
  expect_error(R"({"method": 1, "num_speculative_tokens": 2})", {"\"method\" must be a string", "\"deepseek_mtp\""});
}

TEST(SpeculativeConfig, MissingMethod) {
  expect_error(R"({"model": "yuhuili/EAGLE-LLaMA3-Instruct-8B", "num_speculative_tokens": 2})",
               {"without \"method\"", "separate draft model", "\"method\": \"deepseek_mtp\"", "ngram"});
  expect_error(R"({"num_speculative_tokens": 2})", {"\"method\" is missing", "deepseek_mtp", "ngram"});
  expect_error(R"({})", {"\"method\" is missing"});
  expect_error(R"({"method": null, "num_speculative_tokens": 2})", {"\"method\" is missing"});
}

TEST(SpeculativeConfig, NumSpeculativeTokensRequiredInRange) {
  expect_error(R"({"method": "deepseek_mtp"})", {"\"num_speculative_tokens\" is missing", "[1, 16]"});
  expect_error(R"({"method": "ngram", "num_speculative_tokens": null})", {"\"num_speculative_tokens\" is missing"});
  for (const char* v : {"0", "-1", "17", "100000000000", "18446744073709551615"}) {
    expect_error(std::string(R"({"method": "mtp", "num_speculative_tokens": )") + v + "}",
                 {"\"num_speculative_tokens\" must be an integer in [1, 16]", std::string("got ") + v});
  }
}

TEST(SpeculativeConfig, WrongTypesNameTheKeyAndType) {
  expect_error(R"({"method": "mtp", "num_speculative_tokens": "2"})",
               {"\"num_speculative_tokens\" must be an integer", "got \"2\" (a string)"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 2.5})",
               {"\"num_speculative_tokens\" must be an integer", "(a number)"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 2.0})",
               {"\"num_speculative_tokens\" must be an integer"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": true})",
               {"\"num_speculative_tokens\" must be an integer", "(a boolean)"});
  expect_error(R"({"method": "mtp", "model": 3, "num_speculative_tokens": 1})", {"\"model\" must be a string"});
  expect_error(R"({"method": "ngram", "num_speculative_tokens": 1, "prompt_lookup_min": "2"})",
               {"\"prompt_lookup_min\" must be an integer", "(a string)"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "draft_tensor_parallel_size": "1"})",
               {"\"draft_tensor_parallel_size\" must be a positive integer"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "draft_tensor_parallel_size": 0})",
               {"\"draft_tensor_parallel_size\" must be a positive integer", "got 0"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "enforce_eager": 1})",
               {"\"enforce_eager\" must be true or false"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "quantization": 8})",
               {"\"quantization\" must be a string"});
}

TEST(SpeculativeConfig, NgramTakesNoDraftModel) {
  expect_error(R"({"method": "ngram", "model": "some/draft-model", "num_speculative_tokens": 2})",
               {"\"model\": \"some/draft-model\"", "\"method\": \"ngram\"", "remove \"model\""});
}

TEST(SpeculativeConfig, NgramWindowBounds) {
  expect_error(R"({"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 0})",
               {"\"prompt_lookup_min\" must be an integer in [1, 64]", "got 0"});
  expect_error(R"({"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 65})",
               {"\"prompt_lookup_max\" must be an integer in [1, 64]", "got 65"});
  expect_error(R"({"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 4, "prompt_lookup_max": 2})",
               {"\"prompt_lookup_min\" (4) must be <= \"prompt_lookup_max\" (2)"});
}

TEST(SpeculativeConfig, UnknownKeyNamesItAndTheAcceptedKeys) {
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "rejection_sample_method": "synthetic"})",
               {"unknown or unsupported key \"rejection_sample_method\"", "remove it", "num_speculative_tokens",
                "prompt_lookup_max", "draft_tensor_parallel_size", "disable_by_batch_size"});
  expect_error(R"({"method": "mtp", "num_speculative_tokens": 1, "num_speculative_token": 2})",
               {"\"num_speculative_token\""});
  // Unknown keys are reported even when the rest is wrong too: the first thing to fix.
  expect_error(R"({"speculative_model": "[ngram]"})", {"\"speculative_model\""});
}

}  // namespace
}  // namespace sable
