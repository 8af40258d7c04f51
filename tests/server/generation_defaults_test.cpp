// The model's generation config as default sampling parameters (vLLM's
// --generation-config auto): what is read, and how requests use it.
#include "server/generation_defaults.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "server/openai_protocol.h"

namespace sable::server {
namespace {

// A folder holding generation_config.json with `json`, removed with the test process's other folders.
std::string dir_with(const std::string& json) {
  static const auto root = std::filesystem::temp_directory_path() / ("sable-gencfg-" + std::to_string(::getpid()));
  static const struct Cleanup {
    ~Cleanup() { std::filesystem::remove_all(root); }
  } cleanup;
  const auto d = root / std::to_string(std::hash<std::string>{}(json));
  std::filesystem::create_directories(d);
  std::ofstream(d / "generation_config.json") << json;
  return d.string();
}

TEST(GenerationDefaults, ReadsWhatDiffersFromHuggingFaceDefaults) {
  // A DeepSeek-style file (do_sample, temperature 0.6, top_p 0.95), plus fields at
  // Hugging Face's defaults (no override).
  auto d = load_generation_defaults(dir_with(
      R"({"_from_model_config": true, "bos_token_id": 0, "eos_token_id": 1, "do_sample": true,
          "temperature": 0.6, "top_p": 0.95, "top_k": 50, "repetition_penalty": 1.0, "max_new_tokens": 512})"));
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_FLOAT_EQ(*d->temperature, 0.6f);
  EXPECT_FLOAT_EQ(*d->top_p, 0.95f);
  EXPECT_FALSE(d->top_k.has_value());
  EXPECT_FALSE(d->repetition_penalty.has_value());
  EXPECT_EQ(*d->max_tokens, 512);
  EXPECT_EQ(d->describe(), "temperature=0.6, top_p=0.95, max_tokens=512");
  // No file: no defaults; a broken one names the file and the field.
  auto none = load_generation_defaults(std::filesystem::temp_directory_path().string() + "/sable-no-such-dir");
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  auto bad = load_generation_defaults(dir_with(R"({"temperature": "hot"})"));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("temperature"), std::string::npos);
  EXPECT_FALSE(load_generation_defaults(dir_with("not json")).is_ok());
  EXPECT_FALSE(load_generation_defaults(dir_with(R"({"top_p": 0})")).is_ok());
}

TEST(GenerationDefaults, RequestsTakeThemForFieldsTheyOmit) {
  ProtocolLimits l;
  l.defaults.temperature = 0.6f;
  l.defaults.top_p = 0.95f;
  l.defaults.top_k = 20;
  l.defaults.max_tokens = 100;
  const std::string msgs = R"("messages": [{"role": "user", "content": "hi"}])";
  ChatRequest c = parse_chat_request(parse_json_body("{" + msgs + "}"), l);
  EXPECT_FLOAT_EQ(c.params.temperature, 0.6f);
  EXPECT_FLOAT_EQ(c.params.top_p, 0.95f);
  EXPECT_EQ(c.params.top_k, 20);
  // The default max_tokens (the rest of the context) is capped by max_new_tokens.
  EXPECT_EQ(resolve_max_tokens(c, 10, 4096, true), 100);
  EXPECT_EQ(resolve_max_tokens(c, 4050, 4096, true), 46);
  // A request's own fields win, null included as "absent".
  ChatRequest o = parse_chat_request(
      parse_json_body("{" + msgs + R"(, "temperature": 0, "top_p": null, "top_k": -1, "max_tokens": 7})"), l);
  EXPECT_FLOAT_EQ(o.params.temperature, 0.f);
  EXPECT_FLOAT_EQ(o.params.top_p, 0.95f);
  EXPECT_EQ(o.params.top_k, -1);
  EXPECT_EQ(resolve_max_tokens(o, 10, 4096, true), 7);
  // Without a generation config: OpenAI's defaults.
  ChatRequest plain = parse_chat_request(parse_json_body("{" + msgs + "}"), ProtocolLimits{});
  EXPECT_FLOAT_EQ(plain.params.temperature, 1.f);
  EXPECT_FLOAT_EQ(plain.params.top_p, 1.f);
  EXPECT_EQ(resolve_max_tokens(plain, 10, 4096, true), 4086);
}

}  // namespace
}  // namespace sable::server
