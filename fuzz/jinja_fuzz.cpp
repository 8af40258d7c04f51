// libFuzzer target: the chat-template interpreter on arbitrary template
// source, rendered against a fixed conversation with small limits. Any input
// must end in output or a TemplateError: no crash, hang or runaway memory.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "weather in Seoul? 😀"},
    {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Seoul"}}}]},
    {"role": "tool", "content": "{\"temp\": 3}"},
    {"role": "assistant", "content": "<think>r</think>It is 3°C."}])");
  static const auto extra = nlohmann::ordered_json::parse(R"({"tools": [{"type": "function",
      "function": {"name": "get_weather", "parameters": {"type": "object"}}}], "enable_thinking": false})");
  static const auto specials = nlohmann::ordered_json::parse(R"({"bos_token": "<s>", "eos_token": "</s>"})");
  sable::jinja::Limits limits;
  limits.max_steps = 200'000;
  limits.max_output = 1 << 20;
  limits.max_items = 1 << 16;
  limits.max_call_depth = 16;
  sable::ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size), limits);
  auto r = t.render(messages, (size & 1) != 0, extra, specials);
  (void)r;
  return 0;
}
