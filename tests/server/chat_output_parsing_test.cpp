// The chat endpoint's output parsing end to end against a fake engine that
// writes a script: tool calls (auto and named tool_choice), reasoning split
// from the answer, and where structured output starts when the model reasons.
#include <gtest/gtest.h>

#include "server/http_test_util.h"

namespace sable::server::testing {
namespace {

using nlohmann::json;

const char* kToolScript =
    "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n"
    "{\"zone\": \"CET\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
const char* kToolRequest = R"({"messages": [{"role": "user", "content": "Weather and time?"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
              {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}],
    "max_tokens": 200)";

TEST(HttpServerTest, ToolCallsWholeAndStreamed) {
  ServerConfig cfg;
  cfg.tool_call_parser = "deepseek_v3";
  FakeEngine::Options eo = big_vocab();
  eo.script = kToolScript;
  TestServer s(cfg, eo, true);
  auto r = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + "}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json j = json::parse(r.body());
  const json& c = j["choices"][0];
  EXPECT_EQ(c["finish_reason"], "tool_calls");
  EXPECT_EQ(c["message"]["content"], "Let me check.");
  ASSERT_EQ(c["message"]["tool_calls"].size(), 2u) << r.body();
  EXPECT_EQ(c["message"]["tool_calls"][0]["type"], "function");
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(c["message"]["tool_calls"][1]["function"]["name"], "get_time");
  EXPECT_EQ(c["message"]["tool_calls"][1]["function"]["arguments"], "{\"zone\": \"CET\"}");

  auto st = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + R"(, "stream": true})"));
  ASSERT_EQ(st.result_int(), 200u) << st.body();
  bool done = false;
  auto events = sse_payloads(st.body(), &done);
  EXPECT_TRUE(done);
  std::string content;
  std::vector<json> calls;
  std::string finish;
  for (const auto& e : events) {
    const json& d = e["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) content += d["content"].get<std::string>();
    if (d.contains("tool_calls"))
      for (const auto& t : d["tool_calls"]) {
        const size_t i = t["index"].get<size_t>();
        if (t.contains("id")) {
          ASSERT_EQ(i, calls.size()) << e.dump();
          EXPECT_EQ(t["type"], "function");
          calls.push_back({{"name", t["function"]["name"]}, {"arguments", ""}});
        }
        ASSERT_LT(i, calls.size()) << e.dump();
        calls[i]["arguments"] = calls[i]["arguments"].get<std::string>() + t["function"]["arguments"].get<std::string>();
      }
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(content, "Let me check.");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["name"], "get_weather");
  EXPECT_EQ(calls[0]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(calls[1]["name"], "get_time");
  EXPECT_EQ(calls[1]["arguments"], "{\"zone\": \"CET\"}");
  EXPECT_EQ(finish, "tool_calls");

  // tool_choice "none": the text as it is.
  auto none = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + R"(, "tool_choice": "none"})"));
  ASSERT_EQ(none.result_int(), 200u) << none.body();
  json n = json::parse(none.body());
  EXPECT_EQ(n["choices"][0]["message"]["content"], kToolScript);
  EXPECT_EQ(n["choices"][0]["finish_reason"], "stop");
}

// With a reasoning parser a schema constrains the answer, not the reasoning:
// the engine is asked to start it after </think>, unless the prompt has
// already closed the reasoning (here: a continued assistant message).
TEST(HttpServerTest, StructuredOutputStartsAfterTheReasoning) {
  const std::string body = R"({"messages": [{"role": "user", "content": "Colour?"}],
      "response_format": {"type": "json_object"}, "max_tokens": 5})";
  const std::string closed = R"({"messages": [{"role": "user", "content": "Colour?"},
      {"role": "assistant", "content": "<think>red</think>"}], "continue_final_message": true,
      "add_generation_prompt": false, "response_format": {"type": "json_object"}, "max_tokens": 5})";
  {
    ServerConfig cfg;
    cfg.reasoning_parser = "deepseek_r1";
    TestServer s(cfg, big_vocab(), /*with_tokenizer=*/true);
    ASSERT_EQ(roundtrip(s.port(), post("/v1/chat/completions", body)).result_int(), 200u);
    ASSERT_EQ(roundtrip(s.port(), post("/v1/chat/completions", closed)).result_int(), 200u);
    auto sub = s.engine().submitted();
    ASSERT_EQ(sub.size(), 2u);
    EXPECT_NE(sub[0].params.json_schema, nullptr);
    EXPECT_EQ(sub[0].params.structured_after, "</think>");
    EXPECT_EQ(sub[1].params.structured_after, "");
  }
  TestServer plain({}, big_vocab(), /*with_tokenizer=*/true);  // no reasoning parser: from the first token
  ASSERT_EQ(roundtrip(plain.port(), post("/v1/chat/completions", body)).result_int(), 200u);
  EXPECT_EQ(plain.engine().submitted().at(0).params.structured_after, "");
}

// deepseek_r1 after a prompt that already closed the reasoning (here a
// continued assistant message; DeepSeek-V3.1's template with thinking off
// ends the prompt the same way): the reply is content, whole and streamed.
TEST(HttpServerTest, ReplyAfterAClosedReasoningIsContent) {
  ServerConfig cfg;
  cfg.reasoning_parser = "deepseek_r1";
  FakeEngine::Options eo = big_vocab();
  eo.script = "Blue.</think> and green";
  TestServer s(cfg, eo, /*with_tokenizer=*/true);
  const std::string closed = R"({"messages": [{"role": "user", "content": "Colour?"},
      {"role": "assistant", "content": "<think>red</think>"}], "continue_final_message": true,
      "add_generation_prompt": false, "max_tokens": 200)";
  auto r = roundtrip(s.port(), post("/v1/chat/completions", closed + "}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json m = json::parse(r.body())["choices"][0]["message"];
  EXPECT_TRUE(m["reasoning"].is_null()) << m.dump();
  EXPECT_EQ(m["content"], "Blue.</think> and green");

  auto st = roundtrip(s.port(), post("/v1/chat/completions", closed + R"(, "stream": true})"));
  bool done = false;
  std::string content;
  for (const auto& e : sse_payloads(st.body(), &done)) {
    const json& d = e["choices"][0]["delta"];
    EXPECT_FALSE(d.contains("reasoning")) << d.dump();
    if (d.contains("content") && d["content"].is_string()) content += d["content"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(content, "Blue.</think> and green");

  // The same reply after an open prompt: reasoning up to </think>.
  auto open = roundtrip(s.port(), post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hi"}],
      "max_tokens": 200})"));
  json o = json::parse(open.body())["choices"][0]["message"];
  EXPECT_EQ(o["reasoning"], "Blue.");
  EXPECT_EQ(o["content"], " and green");
}

// --reasoning-parser deepseek_r1 with tool calls: reasoning_content, then
// the answer's content and calls, whole and streamed.
TEST(HttpServerTest, ReasoningThenToolCalls) {
  ServerConfig cfg;
  cfg.tool_call_parser = "deepseek_v3";
  cfg.reasoning_parser = "deepseek_r1";
  FakeEngine::Options eo = big_vocab();
  eo.script = std::string("Paris weather, so call get_weather.</think>\n\n") + kToolScript;
  TestServer s(cfg, eo, true);
  auto r = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + "}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json m = json::parse(r.body())["choices"][0]["message"];
  EXPECT_EQ(m["reasoning"], "Paris weather, so call get_weather.");
  EXPECT_EQ(m["reasoning_content"], m["reasoning"]);
  EXPECT_EQ(m["content"], "\n\nLet me check.");
  EXPECT_EQ(m["tool_calls"].size(), 2u);

  auto st = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + R"(, "stream": true})"));
  bool done = false;
  std::string reasoning, content;
  int calls = 0;
  for (const auto& e : sse_payloads(st.body(), &done)) {
    const json& d = e["choices"][0]["delta"];
    if (d.contains("reasoning")) {
      reasoning += d["reasoning"].get<std::string>();
      EXPECT_EQ(d["reasoning_content"], d["reasoning"]);
    }
    if (d.contains("content") && d["content"].is_string()) content += d["content"].get<std::string>();
    if (d.contains("tool_calls"))
      for (const auto& t : d["tool_calls"]) calls += t.contains("id");
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(reasoning, "Paris weather, so call get_weather.");
  EXPECT_EQ(content, "\n\nLet me check.");
  EXPECT_EQ(calls, 2);

  // Without tools the answer is content as it is.
  auto plain = roundtrip(s.port(), post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hi"}],
      "max_tokens": 200})"));
  json p = json::parse(plain.body())["choices"][0]["message"];
  EXPECT_EQ(p["reasoning_content"], "Paris weather, so call get_weather.");
  EXPECT_EQ(p["content"].get<std::string>().rfind("\n\nLet me check.<｜tool▁calls▁begin｜>", 0), 0u);
}

// tool_choice naming a function (no --tool-call-parser needed, as vLLM): the
// output is that function's arguments, whole and streamed; finish "stop".
TEST(HttpServerTest, NamedToolChoiceMakesTheOutputTheCall) {
  FakeEngine::Options eo = big_vocab();
  eo.script = R"({"city": "Paris"})";
  TestServer s({}, eo, true);
  const std::string named = std::string(kToolRequest) +
                            R"(, "tool_choice": {"type": "function", "function": {"name": "get_weather"}})";
  auto r = roundtrip(s.port(), post("/v1/chat/completions", named + "}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const json c = json::parse(r.body())["choices"][0];
  EXPECT_TRUE(c["message"]["content"].is_null()) << c.dump();
  ASSERT_EQ(c["message"]["tool_calls"].size(), 1u) << c.dump();
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["arguments"], eo.script);
  EXPECT_EQ(c["message"]["tool_calls"][0]["id"].get<std::string>().rfind("chatcmpl-tool-", 0), 0u);
  EXPECT_EQ(c["finish_reason"], "stop");

  auto st = roundtrip(s.port(), post("/v1/chat/completions", named + R"(, "stream": true})"));
  bool done = false;
  std::string args, name, finish;
  int ids = 0;
  for (const auto& e : sse_payloads(st.body(), &done)) {
    const json& d = e["choices"][0]["delta"];
    EXPECT_FALSE(d.contains("content") && d["content"].is_string() && !d["content"].get<std::string>().empty())
        << e.dump();
    if (d.contains("tool_calls"))
      for (const auto& t : d["tool_calls"]) {
        if (t.contains("id")) {
          ++ids;
          name = t["function"]["name"];
        }
        args += t["function"]["arguments"].get<std::string>();
      }
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(ids, 1);
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(args, eo.script);
  EXPECT_EQ(finish, "stop");

  auto unknown = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) +
      R"(, "tool_choice": {"type": "function", "function": {"name": "get_stock"}}})"));
  expect_error_schema(unknown, 400);
  EXPECT_NE(unknown.body().find("get_stock"), std::string::npos) << unknown.body();
}

// tool_choice "required" (no --tool-call-parser needed, as vLLM): the output
// is a list of calls, each a tool's name and parameters; they come back as
// tool_calls, whole and streamed, finishing "tool_calls".
TEST(HttpServerTest, RequiredToolChoiceMakesTheOutputAListOfCalls) {
  FakeEngine::Options eo = big_vocab();
  eo.script = R"([{"name": "get_weather", "parameters": {"city": "Paris"}}, {"name": "get_time", "parameters": {}}])";
  TestServer s({}, eo, true);
  const std::string req = std::string(kToolRequest) + R"(, "tool_choice": "required")";
  auto r = roundtrip(s.port(), post("/v1/chat/completions", req + "}"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const json c = json::parse(r.body())["choices"][0];
  EXPECT_TRUE(c["message"]["content"].is_null()) << c.dump();
  ASSERT_EQ(c["message"]["tool_calls"].size(), 2u) << c.dump();
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["arguments"], R"({"city": "Paris"})");
  EXPECT_EQ(c["message"]["tool_calls"][1]["function"]["name"], "get_time");
  EXPECT_EQ(c["message"]["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_EQ(c["finish_reason"], "tool_calls");

  auto st = roundtrip(s.port(), post("/v1/chat/completions", req + R"(, "stream": true})"));
  bool done = false;
  std::vector<std::string> names, args;
  std::string finish;
  for (const auto& e : sse_payloads(st.body(), &done)) {
    const json& d = e["choices"][0]["delta"];
    if (d.contains("tool_calls"))
      for (const auto& t : d["tool_calls"]) {
        const size_t i = t["index"].get<size_t>();
        if (t.contains("id")) {
          EXPECT_EQ(i, names.size());
          names.push_back(t["function"]["name"]);
          args.emplace_back();
        }
        ASSERT_LT(i, args.size());
        args[i] += t["function"]["arguments"].get<std::string>();
      }
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(names, (std::vector<std::string>{"get_weather", "get_time"}));
  EXPECT_EQ(args, (std::vector<std::string>{R"({"city": "Paris"})", "{}"}));
  EXPECT_EQ(finish, "tool_calls");
}

TEST(HttpServerTest, ToolsWithoutAParserAreRefused) {
  TestServer s({}, big_vocab(), true);
  auto r = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + "}"));
  expect_error_schema(r, 400);
  EXPECT_NE(r.body().find("--enable-auto-tool-choice"), std::string::npos) << r.body();
  auto ok = roundtrip(s.port(), post("/v1/chat/completions", std::string(kToolRequest) + R"(, "tool_choice": "none"})"));
  EXPECT_EQ(ok.result_int(), 200u) << ok.body();
}

}  // namespace
}  // namespace sable::server::testing
