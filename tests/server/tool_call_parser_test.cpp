// Tool-call parsing (server/tool_call_parser.h). The texts are what the
// models' own chat templates render for an assistant turn with tool calls
// (DeepSeek-V3's and Qwen3's, from assets/), so the parser reads back exactly
// the format the model was trained to write; streaming in any split must give
// what the whole text gives.
#include "server/tool_call_parser.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "engine/json_matcher.h"
#include "engine/json_schema.h"
#include "server/errors.h"
#include "server/required_tool_calls.h"
#include "tokenizer/tokenizer.h"

namespace sable::server {
namespace {

using nlohmann::json;

std::shared_ptr<Tokenizer> load_tokenizer(const std::string& name) {
  auto t = Tokenizer::load(std::string(SABLE_SOURCE_DIR) + "/assets/tokenizers/" + name);
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? *t : nullptr;
}

// Two calls, one with non-ASCII arguments.
json tool_calls() {
  return json::array({
      {{"id", "call_1"}, {"type", "function"},
       {"function", {{"name", "get_weather"}, {"arguments", R"({"city": "Paris", "unit": "celsius"})"}}}},
      {{"id", "call_2"}, {"type", "function"},
       {"function", {{"name", "get_time"}, {"arguments", R"({"zone": "Zürich ☀"})"}}}},
  });
}

// The assistant turn as the template renders it, after `marker`, up to `end`.
std::string rendered_turn(Tokenizer& tok, const json& messages, const std::string& marker, const std::string& end) {
  auto r = tok.apply_chat_template(messages, false, json::object());
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  std::string s = r.is_ok() ? *r : "";
  const size_t a = s.rfind(marker);
  EXPECT_NE(a, std::string::npos) << s;
  s = s.substr(a + marker.size());
  const size_t e = s.rfind(end);
  if (e != std::string::npos) s.erase(e);
  return s;
}

void expect_calls(const ParsedToolCalls& p, const json& expected) {
  ASSERT_EQ(p.calls.size(), expected.size());
  for (size_t i = 0; i < p.calls.size(); ++i) {
    EXPECT_EQ(p.calls[i].name, expected[i]["function"]["name"]);
    // The same JSON (the template may reformat an object's arguments).
    const json& want = expected[i]["function"]["arguments"];
    EXPECT_EQ(json::parse(p.calls[i].arguments), want.is_string() ? json::parse(want.get<std::string>()) : want)
        << p.calls[i].arguments;
    EXPECT_EQ(p.calls[i].id.rfind("chatcmpl-tool-", 0), 0u);
    EXPECT_EQ(p.calls[i].id.size(), std::string("chatcmpl-tool-").size() + 32);
  }
  if (p.calls.size() == 2) EXPECT_NE(p.calls[0].id, p.calls[1].id);
}

// A --tool-call-parser by name, or "required": tool_choice "required"'s list.
std::unique_ptr<ToolCallParser> make_parser(const std::string& name) {
  return name == "required" ? make_required_tool_call_parser() : make_tool_call_parser(name);
}

// The text fed in pieces cut at `cuts` (sorted byte offsets), deltas joined.
ParsedToolCalls stream(const std::string& parser, const std::string& text, const std::vector<size_t>& cuts) {
  auto p = make_parser(parser);
  ParsedToolCalls out;
  std::vector<ToolCallDelta> pieces;
  size_t at = 0;
  for (size_t c : cuts) {
    p->feed(std::string_view(text).substr(at, c - at), out.content, pieces);
    at = c;
  }
  p->feed(std::string_view(text).substr(at), out.content, pieces);
  p->finish(out.content, pieces);
  int expect_index = 0;
  for (const auto& d : pieces) {
    if (d.first) {
      EXPECT_EQ(d.index, expect_index++);
      out.calls.push_back({d.id, d.name, ""});
    } else {
      EXPECT_EQ(d.index, expect_index - 1);
      EXPECT_TRUE(d.id.empty() && d.name.empty());
    }
    out.calls.back().arguments += d.arguments;
  }
  return out;
}

// Byte by byte, at every single cut, and at random cuts: all as the whole.
void expect_streaming_equals_whole(const std::string& parser, const std::string& text) {
  auto whole_parser = make_parser(parser);
  const ParsedToolCalls whole = parse_tool_calls(*whole_parser, text);
  auto same = [&](const ParsedToolCalls& s, const std::string& how) {
    EXPECT_EQ(s.content, whole.content) << how;
    ASSERT_EQ(s.calls.size(), whole.calls.size()) << how;
    for (size_t i = 0; i < s.calls.size(); ++i) {
      EXPECT_EQ(s.calls[i].name, whole.calls[i].name) << how;
      EXPECT_EQ(s.calls[i].arguments, whole.calls[i].arguments) << how;
    }
  };
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  same(stream(parser, text, every), "byte by byte");
  for (size_t i = 1; i < text.size(); ++i) same(stream(parser, text, {i}), "one cut at " + std::to_string(i));
  std::mt19937 rng(7);
  for (int k = 0; k < 50; ++k) {
    std::vector<size_t> cuts;
    for (size_t at = 0;;) {
      at += 1 + rng() % 12;
      if (at >= text.size()) break;
      cuts.push_back(at);
    }
    same(stream(parser, text, cuts), "random cuts " + std::to_string(k));
  }
}

TEST(ToolCallParserTest, DeepSeekV3ReadsWhatItsTemplateWrites) {
  auto tok = load_tokenizer("deepseek-v3");
  ASSERT_TRUE(tok);
  json msgs = json::array({{{"role", "user"}, {"content", "Weather and time?"}},
                           {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", tool_calls()}}});
  // Generation ends at <｜end▁of▁sentence｜> (EOS), which is not in the text.
  std::string out = rendered_turn(*tok, msgs, "<｜Assistant｜>", "<｜end▁of▁sentence｜>");
  ASSERT_NE(out.find("<｜tool▁calls▁begin｜>"), std::string::npos) << out;
  const std::string text = "Let me check both.\n\n" + out;
  auto p = make_tool_call_parser("deepseek_v3");
  ParsedToolCalls got = parse_tool_calls(*p, text);
  EXPECT_EQ(got.content, "Let me check both.\n\n");
  expect_calls(got, tool_calls());
  EXPECT_EQ(p->num_calls(), 2);
  expect_streaming_equals_whole("deepseek_v3", text);
}

TEST(ToolCallParserTest, DeepSeekV3OneCallWithoutSectionEnd) {
  // The template writes <｜tool▁calls▁end｜> only after a second call; a
  // single call ends at EOS.
  auto tok = load_tokenizer("deepseek-v3");
  ASSERT_TRUE(tok);
  json one = json::array({tool_calls()[0]});
  json msgs = json::array({{{"role", "user"}, {"content", "Weather?"}},
                           {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", one}}});
  std::string out = rendered_turn(*tok, msgs, "<｜Assistant｜>", "<｜end▁of▁sentence｜>");
  auto p = make_tool_call_parser("deepseek_v3");
  ParsedToolCalls got = parse_tool_calls(*p, out);
  EXPECT_EQ(got.content, "");
  expect_calls(got, one);
  expect_streaming_equals_whole("deepseek_v3", out);
}

TEST(ToolCallParserTest, DeepSeekV31Format) {
  const std::string text =
      "Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\", \"unit\": "
      "\"celsius\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"zone\": \"Zürich ☀\"}"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  auto p = make_tool_call_parser("deepseek_v31");
  ParsedToolCalls got = parse_tool_calls(*p, text);
  EXPECT_EQ(got.content, "Sure.");
  expect_calls(got, tool_calls());
  expect_streaming_equals_whole("deepseek_v31", text);
}

TEST(ToolCallParserTest, HermesReadsWhatQwen3TemplateWrites) {
  auto tok = load_tokenizer("qwen3");
  ASSERT_TRUE(tok);
  // Qwen3's template writes object arguments with tojson, strings as they are.
  json calls = tool_calls();
  calls[0]["function"]["arguments"] = json{{"city", "Paris"}, {"unit", "celsius"}};
  json msgs = json::array({{{"role", "user"}, {"content", "Weather and time?"}},
                           {{"role", "assistant"}, {"content", "I will look."}, {"tool_calls", calls}}});
  std::string out = rendered_turn(*tok, msgs, "<|im_start|>assistant\n", "<|im_end|>");
  ASSERT_NE(out.find("<tool_call>"), std::string::npos) << out;
  auto p = make_tool_call_parser("hermes");
  ParsedToolCalls got = parse_tool_calls(*p, out);
  EXPECT_EQ(got.content.substr(got.content.size() - 13), "I will look.\n") << got.content;
  expect_calls(got, calls);
  expect_streaming_equals_whole("hermes", out);
}

TEST(ToolCallParserTest, TextWithoutCallsIsContentExactly) {
  // Near-markers must come out as content, whatever the cuts.
  const std::string text =
      "a < b, <tool and <tool_cal; <｜tool▁call and <｜tool▁calls▁begin not closed: 2 < 3 ```json\n{}\n``` ☀";
  for (const std::string name : {"deepseek_v3", "deepseek_v31", "hermes"}) {
    auto p = make_tool_call_parser(name);
    ParsedToolCalls got = parse_tool_calls(*p, text);
    EXPECT_EQ(got.content, text) << name;
    EXPECT_TRUE(got.calls.empty()) << name;
    expect_streaming_equals_whole(name, text);
  }
}

TEST(ToolCallParserTest, CutShortInTheArguments) {
  // max_tokens reached inside a call: the call and the arguments so far.
  const std::string text =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Pa";
  auto p = make_tool_call_parser("deepseek_v3");
  ParsedToolCalls got = parse_tool_calls(*p, text);
  EXPECT_EQ(got.content, "");
  ASSERT_EQ(got.calls.size(), 1u);
  EXPECT_EQ(got.calls[0].name, "get_weather");
  EXPECT_EQ(got.calls[0].arguments, "{\"city\": \"Pa");
  expect_streaming_equals_whole("deepseek_v3", text);
}

TEST(ToolCallParserTest, HermesBodyThatIsNotACallStaysContent) {
  const std::string text = "Look: <tool_call>not json</tool_call> done";
  auto p = make_tool_call_parser("hermes");
  ParsedToolCalls got = parse_tool_calls(*p, text);
  EXPECT_EQ(got.content, text);
  EXPECT_TRUE(got.calls.empty());
  // Never closed: content as well.
  auto q = make_tool_call_parser("hermes");
  ParsedToolCalls open = parse_tool_calls(*q, "x <tool_call>{\"name\": \"f\"");
  EXPECT_EQ(open.content, "x <tool_call>{\"name\": \"f\"");
  EXPECT_TRUE(open.calls.empty());
}

// tool_choice "required": the schema's list of calls read back into calls,
// the arguments being each "parameters" value's text, whole or streamed.
TEST(ToolCallParserTest, RequiredListReadsWhatItsSchemaAccepts) {
  const json tools =
      json::array({{{"type", "function"},
                    {"function",
                     {{"name", "get_weather"},
                      {"parameters",
                       {{"type", "object"},
                        {"properties", {{"city", {{"type", "string"}}}, {"unit", {{"enum", {"c", "f"}}}}}},
                        {"required", {"city"}}}}}}},
                   {{"type", "function"}, {"function", {{"name", "get_time"}}}}});
  auto schema = JsonSchema::compile(required_tool_calls_schema(tools));
  ASSERT_TRUE(schema.is_ok()) << schema.status().to_string();
  const std::string text =
      R"([{"name": "get_weather", "parameters": {"city": "Z\u00fcrich \"old\" [town]", "unit": "c"}}, )"
      R"({"name":"get_time","parameters":{}}, {"name": "get_weather", "parameters": {"city": "Paris"}}])";
  JsonMatcher m(**schema);
  ASSERT_TRUE(m.accept(std::string_view(text)));
  EXPECT_TRUE(m.complete());
  auto p = make_required_tool_call_parser();
  const ParsedToolCalls whole = parse_tool_calls(*p, text);
  EXPECT_TRUE(whole.content.empty());
  ASSERT_EQ(whole.calls.size(), 3u);
  EXPECT_EQ(whole.calls[0].name, "get_weather");
  EXPECT_EQ(whole.calls[0].arguments, R"({"city": "Z\u00fcrich \"old\" [town]", "unit": "c"})");
  EXPECT_EQ(whole.calls[1].name, "get_time");
  EXPECT_EQ(whole.calls[1].arguments, "{}");
  EXPECT_EQ(whole.calls[2].arguments, R"({"city": "Paris"})");
  expect_streaming_equals_whole("required", text);
  // Cut short inside the second call's parameters: what came so far.
  const ParsedToolCalls cut = parse_tool_calls(*make_required_tool_call_parser(), text.substr(0, text.find("{}}") + 1));
  ASSERT_EQ(cut.calls.size(), 2u);
  EXPECT_EQ(cut.calls[1].arguments, "{");

  // Tools the schema cannot hold: a name given twice, no name.
  EXPECT_THROW(required_tool_calls_schema(json::array({tools[0], tools[0]})), ApiException);
  EXPECT_THROW(required_tool_calls_schema(json::array({{{"type", "function"}, {"function", json::object()}}})),
               ApiException);
}

TEST(ToolCallParserTest, Names) {
  for (const auto& n : tool_call_parser_names()) EXPECT_NE(make_tool_call_parser(n), nullptr) << n;
  EXPECT_EQ(make_tool_call_parser("mistral"), nullptr);
  EXPECT_EQ(make_tool_call_parser(""), nullptr);
}

}  // namespace
}  // namespace sable::server
