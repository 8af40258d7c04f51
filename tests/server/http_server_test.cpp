// The HTTP server end to end against a fake engine: routing, errors, limits,
// keep-alive, streaming, disconnects and the drain.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "server/http_test_util.h"

namespace sable::server::testing {
namespace {

using nlohmann::json;

TEST(HttpServerTest, InfoEndpoints) {
  TestServer s;
  auto h = roundtrip(s.port(), get("/health"));
  EXPECT_EQ(h.result_int(), 200u);
  EXPECT_TRUE(h.body().empty());
  auto v = roundtrip(s.port(), get("/version"));
  EXPECT_TRUE(json::parse(v.body()).contains("version"));
  auto m = json::parse(roundtrip(s.port(), get("/v1/models")).body());
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 2u);
  EXPECT_EQ(m["data"][0]["id"], "test-model");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(m["data"][0]["max_model_len"], 4096);
  auto one = roundtrip(s.port(), get("/v1/models/alias"));
  EXPECT_EQ(json::parse(one.body())["id"], "alias");
  expect_error_schema(roundtrip(s.port(), get("/v1/models/nope")), 404);
  auto metrics = roundtrip(s.port(), get("/metrics"));
  EXPECT_NE(metrics.body().find("vllm:num_requests_running{engine=\"0\",model_name=\"test-model\"} 0.0"),
            std::string::npos);
  EXPECT_NE(metrics.body().find("process_resident_memory_bytes"), std::string::npos);
}

TEST(HttpServerTest, HealthIs500WithTheCauseOnceTheEngineStoppedForGood) {
  TestServer s;
  s.engine().set_fatal_error("CUDA error: an illegal memory access was encountered");
  auto h = roundtrip(s.port(), get("/health"));
  expect_error_schema(h, 500);
  EXPECT_NE(h.body().find("illegal memory access"), std::string::npos) << h.body();
  EXPECT_NE(h.body().find("restart"), std::string::npos) << h.body();
}

TEST(HttpServerTest, NotFoundAndMethodNotAllowed) {
  TestServer s;
  expect_error_schema(roundtrip(s.port(), get("/v1/nothing")), 404);
  auto r = roundtrip(s.port(), get("/v1/completions"));
  expect_error_schema(r, 405);
  EXPECT_EQ(r[boost::beast::http::field::allow], "POST");
  expect_error_schema(roundtrip(s.port(), post("/health", "{}")), 405);
  expect_error_schema(roundtrip(s.port(), "DELETE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
}

TEST(HttpServerTest, ApiKey) {
  ServerConfig cfg;
  cfg.api_keys = {"sekrit"};
  TestServer s(cfg);
  expect_error_schema(roundtrip(s.port(), get("/v1/models")), 401);
  expect_error_schema(roundtrip(s.port(), get("/v1/models", "Authorization: Bearer wrong\r\n")), 401);
  EXPECT_EQ(roundtrip(s.port(), get("/v1/models", "Authorization: Bearer sekrit\r\n")).result_int(), 200u);
  EXPECT_EQ(roundtrip(s.port(), get("/health")).result_int(), 200u);
  EXPECT_EQ(roundtrip(s.port(), get("/metrics")).result_int(), 200u);
  expect_error_schema(roundtrip(s.port(), post("/tokenize", R"({"prompt": "x"})")), 401);
}

TEST(HttpServerTest, CompletionWholeResponse) {
  TestServer s;
  auto r = roundtrip(s.port(), post("/v1/completions", R"({"model": "test-model", "prompt": [1, 2, 3],
      "max_tokens": 4, "n": 2})", "X-Request-Id: my-req-1\r\n"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(r["x-request-id"], "my-req-1");
  json j = json::parse(r.body());
  EXPECT_EQ(j["id"], "cmpl-my-req-1");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "test-model");
  EXPECT_TRUE(j["created"].is_number_integer());
  ASSERT_EQ(j["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    EXPECT_EQ(j["choices"][i]["finish_reason"], "length");
    EXPECT_FALSE(j["choices"][i]["text"].get<std::string>().empty());
    EXPECT_TRUE(j["choices"][i]["logprobs"].is_null());
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);
  EXPECT_EQ(j["usage"]["total_tokens"], 11);
  ASSERT_EQ(s.engine().submitted().size(), 1u);
  EXPECT_EQ(s.engine().submitted()[0].params.max_tokens, 4);
  EXPECT_EQ(s.engine().submitted()[0].params.n, 2);
}

TEST(HttpServerTest, CompletionManyPromptsAndLogprobs) {
  TestServer s;
  auto r = roundtrip(s.port(), post("/v1/completions", R"({"prompt": [[1], [2, 3]], "max_tokens": 2,
      "n": 2, "logprobs": 2})"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json j = json::parse(r.body());
  ASSERT_EQ(j["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    const json& lp = j["choices"][i]["logprobs"];
    EXPECT_EQ(lp["tokens"].size(), 2u);
    EXPECT_EQ(lp["token_logprobs"].size(), 2u);
    EXPECT_EQ(lp["top_logprobs"].size(), 2u);
    EXPECT_EQ(lp["text_offset"][0], 0);
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);
}

TEST(HttpServerTest, CompletionStreamWithUsage) {
  TestServer s;
  auto r = roundtrip(s.port(), post("/v1/completions", R"({"prompt": [5, 6], "max_tokens": 5, "stream": true,
      "stream_options": {"include_usage": true}})"));
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_NE(std::string(r[boost::beast::http::field::content_type]).find("text/event-stream"), std::string::npos);
  bool done = false;
  auto events = sse_payloads(r.body(), &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 2u);
  std::string id = events[0]["id"];
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["id"], id);
    EXPECT_EQ(events[i]["object"], "text_completion");
    EXPECT_TRUE(events[i]["usage"].is_null());
    text += events[i]["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "length");
  const json& last = events.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], 5);
  EXPECT_EQ(last["usage"]["prompt_tokens"], 2);
  EXPECT_FALSE(text.empty());
}

TEST(HttpServerTest, ChatStreamRoleFirstSameId) {
  TestServer s({}, big_vocab(), /*with_tokenizer=*/true);
  auto r = roundtrip(s.port(), post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "Hi"}],
      "max_tokens": 3, "stream": true, "n": 2, "logprobs": true, "top_logprobs": 2})"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  bool done = false;
  auto events = sse_payloads(r.body(), &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 4u);
  std::string id = events[0]["id"];
  EXPECT_EQ(id.rfind("chatcmpl-", 0), 0u);
  // A role delta for each choice first.
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[1]["choices"][0]["delta"]["role"], "assistant");
  int finished = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e["id"], id);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json& c = e["choices"][0];
    if (c["delta"].contains("content") && !c["delta"]["content"].get<std::string>().empty()) {
      ASSERT_TRUE(c["logprobs"].is_object()) << e.dump();
      const json& entry = c["logprobs"]["content"][0];
      EXPECT_TRUE(entry["token"].is_string());
      EXPECT_TRUE(entry["bytes"].is_array());
      EXPECT_EQ(entry["top_logprobs"].size(), 2u);
    }
    if (!c["finish_reason"].is_null()) ++finished;
  }
  EXPECT_EQ(finished, 2);
}

TEST(HttpServerTest, ChatWholeResponse) {
  TestServer s({}, big_vocab(), true);
  auto r = roundtrip(s.port(), post("/v1/chat/completions", R"({"model": "alias",
      "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
      "max_completion_tokens": 3, "seed": 7})"));
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  json j = json::parse(r.body());
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "test-model");  // the first served name, as vLLM
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 3);
  ASSERT_EQ(s.engine().submitted().size(), 1u);
  EXPECT_EQ(*s.engine().submitted()[0].params.seed, 7u);
  // The chat template's BOS leads the prompt.
  EXPECT_EQ(s.engine().submitted()[0].prompt_ids[0], 0);
}

// The model's tool calls come back as tool_calls (--enable-auto-tool-choice
// --tool-call-parser deepseek_v3): whole and streamed, with finish_reason
// "tool_calls"; without a parser a request with tools is refused as vLLM does.
TEST(HttpServerTest, ClientErrors) {
  TestServer s({}, big_vocab(), true);
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", "{not json")), 400);
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", "{\"prompt\": \"\xff\xfe\"}")), 400);
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", R"({"prompt": [1], "model": "gpt-9"})")), 404);
  expect_error_schema(roundtrip(s.port(), post("/v1/chat/completions", R"({"messages": []})")), 400);
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", R"({"prompt": [1], "max_tokens": 5000})")), 400);
  auto r = roundtrip(s.port(), post("/v1/completions", R"({"prompt": [1], "max_tokens": 5000})"));
  EXPECT_NE(json::parse(r.body())["error"]["message"].get<std::string>().find("maximum context length is 4096"),
            std::string::npos);
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", R"({"prompt": [1], "n": 1000})")), 400);
  expect_error_schema(roundtrip(s.port(), post("/tokenize", R"({"prompt": 5})")), 400);
  expect_error_schema(roundtrip(s.port(), post("/detokenize", R"({"tokens": [-1]})")), 400);
  // The server still serves.
  EXPECT_EQ(roundtrip(s.port(), get("/health")).result_int(), 200u);
}

TEST(HttpServerTest, EngineErrorMidStream) {
  TestServer s;
  auto r = roundtrip(s.port(), post("/v1/completions", R"({"prompt": [999], "max_tokens": 10, "stream": true})"));
  ASSERT_EQ(r.result_int(), 200u);
  bool done = false;
  auto events = sse_payloads(r.body(), &done);
  EXPECT_TRUE(done) << r.body();
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().contains("error")) << r.body();
  EXPECT_EQ(events.back()["error"]["message"], "simulated engine failure");
  auto whole = roundtrip(s.port(), post("/v1/completions", R"({"prompt": [999], "max_tokens": 10})"));
  expect_error_schema(whole, 500);
  EXPECT_EQ(roundtrip(s.port(), get("/health")).result_int(), 200u);
}

TEST(HttpServerTest, TokenizeAndDetokenize) {
  TestServer s({}, big_vocab(), true);
  json t = json::parse(roundtrip(s.port(), post("/tokenize", R"({"prompt": "Hello world"})")).body());
  ASSERT_TRUE(t["tokens"].is_array());
  EXPECT_EQ(t["count"], t["tokens"].size());
  EXPECT_EQ(t["max_model_len"], 4096);
  json d = json::parse(
      roundtrip(s.port(), post("/detokenize", json{{"tokens", t["tokens"]}}.dump())).body());
  EXPECT_NE(d["prompt"].get<std::string>().find("Hello world"), std::string::npos);
  json c = json::parse(roundtrip(s.port(), post("/tokenize", R"({"messages": [{"role": "user", "content": "Hi"}]})"))
                           .body());
  EXPECT_GT(c["count"].get<int>(), 2);
}

// A request's own chat_template: refused unless --trust-request-chat-template
// (vLLM's message), then rendered with the tokenizer's special tokens; its
// errors are the client's (400, param chat_template).
TEST(HttpServerTest, RequestChatTemplate) {
  const std::string tmpl = R"({% for m in messages %}{{ m['content'] }}|{% endfor %})";
  const json msgs = json::array({{{"role", "user"}, {"content", "Hi"}}, {{"role", "assistant"}, {"content", "there"}}});
  {
    TestServer s({}, big_vocab(), true);
    for (const char* path : {"/v1/chat/completions", "/tokenize"}) {
      auto r = roundtrip(s.port(), post(path, json{{"messages", msgs}, {"chat_template", tmpl}}.dump()));
      expect_error_schema(r, 400);
      json e = json::parse(r.body())["error"];
      EXPECT_NE(e["message"].get<std::string>().find("--trust-request-chat-template is not set"), std::string::npos)
          << path << ": " << r.body();
      EXPECT_EQ(e["param"], "chat_template");
      auto k = roundtrip(
          s.port(), post(path, json{{"messages", msgs}, {"chat_template_kwargs", {{"chat_template", tmpl}}}}.dump()));
      expect_error_schema(k, 400);
    }
  }
  ServerConfig cfg;
  cfg.trust_request_chat_template = true;
  TestServer s(cfg, big_vocab(), true);
  json own = json::parse(
      roundtrip(s.port(), post("/tokenize", json{{"messages", msgs}, {"chat_template", tmpl}}.dump())).body());
  json plain = json::parse(
      roundtrip(s.port(), post("/tokenize", R"({"prompt": "Hi|there|", "add_special_tokens": false})")).body());
  EXPECT_EQ(own["tokens"], plain["tokens"]) << own.dump() << " vs " << plain.dump();
  // The special tokens are the tokenizer's, as with the server's template.
  json bos = json::parse(
      roundtrip(s.port(), post("/tokenize", json{{"messages", msgs}, {"chat_template", "{{ bos_token }}x"}}.dump()))
          .body());
  json bos_plain =
      json::parse(roundtrip(s.port(), post("/tokenize", R"({"prompt": "x", "add_special_tokens": true})")).body());
  EXPECT_EQ(bos["tokens"], bos_plain["tokens"]) << bos.dump() << " vs " << bos_plain.dump();
  // Without it the server's template applies (its output differs).
  json server = json::parse(roundtrip(s.port(), post("/tokenize", json{{"messages", msgs}}.dump())).body());
  EXPECT_NE(server["tokens"], own["tokens"]);
  // Generation with it.
  auto gen = roundtrip(s.port(), post("/v1/chat/completions",
                                      json{{"messages", msgs}, {"chat_template", tmpl}, {"max_tokens", 2}}.dump()));
  EXPECT_EQ(gen.result_int(), 200u) << gen.body();
  // The client's template errors: 400 naming the field, the server keeps serving.
  for (const std::string bad : {"{% for m in messages %}", "{{ raise_exception('no') }}", "{{ 1 / 0 }}",
                                "{% for i in range(100000000) %}{% endfor %}"}) {
    auto r = roundtrip(s.port(), post("/v1/chat/completions", json{{"messages", msgs}, {"chat_template", bad}}.dump()));
    expect_error_schema(r, 400);
    json e = json::parse(r.body())["error"];
    EXPECT_EQ(e["param"], "chat_template") << bad << ": " << r.body();
    EXPECT_NE(e["message"].get<std::string>().find("Request chat template"), std::string::npos) << r.body();
  }
  EXPECT_EQ(roundtrip(s.port(), get("/health")).result_int(), 200u);
}

TEST(HttpServerTest, KeepAliveAndPipelining) {
  TestServer s;
  Client c(s.port());
  c.send(get("/health"));
  EXPECT_EQ(c.read().result_int(), 200u);
  c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 2})"));
  EXPECT_EQ(c.read().result_int(), 200u);
  // Two requests in one write: two responses, in order.
  c.send(get("/version") + post("/v1/completions", R"({"prompt": [1], "max_tokens": 1, "stream": true})"));
  auto a = c.read();
  auto b = c.read();
  EXPECT_TRUE(json::parse(a.body()).contains("version")) << a.body();
  bool done = false;
  sse_payloads(b.body(), &done);
  EXPECT_TRUE(done) << b.body();
  c.send(get("/health", "Connection: close\r\n"));
  auto last = c.read();
  EXPECT_EQ(last.result_int(), 200u) << last.body();
  EXPECT_TRUE(c.wait_closed(2000));
}

TEST(HttpServerTest, Http10StreamIsRawAndClosed) {
  TestServer s;
  Client c(s.port());
  std::string body = R"({"prompt": [1], "max_tokens": 3, "stream": true})";
  c.send(fmt::format("POST /v1/completions HTTP/1.0\r\nContent-Length: {}\r\n\r\n{}", body.size(), body));
  std::string got = c.read_until("data: [DONE]\n\n", 3000);
  EXPECT_EQ(got.find("transfer-encoding"), std::string::npos);
  EXPECT_NE(got.find("connection: close"), std::string::npos);
  bool done = false;
  auto events = sse_payloads(got.substr(got.find("\r\n\r\n") + 4), &done);
  EXPECT_TRUE(done);
  EXPECT_GE(events.size(), 1u);
  EXPECT_TRUE(c.wait_closed(2000));
}

TEST(HttpServerTest, ChunkedRequestAndExpectContinue) {
  TestServer s;
  std::string body = R"({"prompt": [1], "max_tokens": 1})";
  Client c(s.port());
  c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + http_chunk(body.substr(0, 5)) +
         http_chunk(body.substr(5)) + std::string(kLastChunk));
  EXPECT_EQ(c.read().result_int(), 200u);
  Client e(s.port());
  e.send(fmt::format("POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                     body.size()));
  std::string got = e.read_until("100 Continue\r\n\r\n", 2000);
  EXPECT_NE(got.find("HTTP/1.1 100 Continue"), std::string::npos);
  e.send(body);
  EXPECT_EQ(e.read().result_int(), 200u);
}

TEST(HttpServerTest, Limits) {
  ServerConfig cfg;
  cfg.max_body_bytes = 1024;
  cfg.max_header_bytes = 2048;
  cfg.max_header_count = 20;
  cfg.header_timeout = std::chrono::milliseconds(300);
  TestServer s(cfg);
  {
    // A body over the limit is refused from its Content-Length, before it is sent.
    Client c(s.port());
    c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n" + std::string(4096, 'x'));
    auto r = c.read();
    expect_error_schema(r, 413);
    EXPECT_TRUE(c.wait_closed(3000));
  }
  expect_error_schema(roundtrip(s.port(), get("/health", "X-Big: " + std::string(4000, 'a') + "\r\n")), 431);
  {
    std::string many;
    for (int i = 0; i < 30; ++i) many += fmt::format("X-H{}: v\r\n", i);
    expect_error_schema(roundtrip(s.port(), get("/health", many)), 431);
  }
  {
    // Slow headers: cut off with 408 once the header timeout passes.
    Client c(s.port());
    c.send("GET /health HTTP/1.1\r\nHost: x\r\n");
    auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    c.send("X-Slow: 1\r\n");
    auto r = c.read();
    expect_error_schema(r, 408);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  }
  expect_error_schema(roundtrip(s.port(), "GARBAGE\r\n\r\n"), 400);
  EXPECT_EQ(roundtrip(s.port(), get("/health")).result_int(), 200u);
}

TEST(HttpServerTest, DisconnectAbortsStreamingAndWholeRequests) {
  FakeEngine::Options eo;
  eo.tick = std::chrono::milliseconds(5);
  TestServer s({}, eo);
  {
    Client c(s.port());
    c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 3000, "stream": true})"));
    std::string got = c.read_until("\"text\"", 3000);
    EXPECT_NE(got.find("data: "), std::string::npos);
    c.close();
  }
  {
    Client c(s.port());
    c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 3000})"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.close();
  }
  EXPECT_TRUE(s.engine().wait_idle(std::chrono::seconds(5)));
  EXPECT_EQ(s.engine().aborted().size(), 2u);
  EXPECT_EQ(s.ctx().active_generations.load(), 0);
}

TEST(HttpServerTest, QueueFullIs503) {
  FakeEngine::Options eo;
  eo.max_waiting = 1;
  TestServer s({}, eo);
  s.engine().set_paused(true);
  Client hold(s.port());
  hold.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 2})"));
  for (int i = 0; i < 200 && s.engine().running() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  expect_error_schema(roundtrip(s.port(), post("/v1/completions", R"({"prompt": [1], "max_tokens": 2})")), 503);
  s.engine().set_paused(false);
  EXPECT_EQ(hold.read().result_int(), 200u);
}

// vLLM's GET /load (open without an API key): a paused engine holds two
// requests, so the load is 2 with --enable-server-load-tracking, 0 without,
// and 0 again once they are answered.
TEST(HttpServerTest, LoadCountsRequestsInFlight) {
  for (bool tracking : {true, false}) {
    ServerConfig cfg;
    cfg.server_load_tracking = tracking;
    cfg.api_keys = {"k"};
    TestServer s(cfg);
    auto load = [&] {
      Response r = roundtrip(s.port(), get("/load"));
      EXPECT_EQ(r.result_int(), 200u);
      return json::parse(r.body())["server_load"].get<int64_t>();
    };
    EXPECT_EQ(load(), 0);
    s.engine().set_paused(true);
    const std::string auth = "Authorization: Bearer k\r\n";
    Client a(s.port()), b(s.port());
    a.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 2})", auth));
    b.send(post("/v1/completions", R"({"prompt": [2], "max_tokens": 2, "stream": true})", auth));
    for (int i = 0; i < 400 && s.engine().running() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(load(), tracking ? 2 : 0) << "tracking " << tracking;
    s.engine().set_paused(false);
    EXPECT_EQ(a.read().result_int(), 200u);
    EXPECT_NE(b.read_until("data: [DONE]").find("data: [DONE]"), std::string::npos);
    for (int i = 0; i < 400 && s.ctx().active_generations.load() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(load(), 0);
  }
}

TEST(HttpServerTest, DrainLetsRunningRequestsFinish) {
  FakeEngine::Options eo;
  eo.tick = std::chrono::milliseconds(10);
  ServerConfig cfg;
  cfg.shutdown_timeout = std::chrono::milliseconds(5000);
  TestServer s(cfg, eo);
  Client c(s.port());
  c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 30, "stream": true})"));
  c.read_until("data: ", 3000);
  std::thread drain([&] { s.shutdown_and_join(); });
  std::string rest = c.read_until("data: [DONE]", 5000);
  drain.join();
  EXPECT_NE(rest.find("\"finish_reason\":\"length\""), std::string::npos);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
  EXPECT_TRUE(s.engine().aborted().empty());
}

// A server whose streams are 16 MB (more than the socket buffers hold), and
// a client whose stream has started: what the drain tests below stop.
struct LargeStream {
  static FakeEngine::Options engine() {
    FakeEngine::Options eo;
    eo.tick = std::chrono::milliseconds(1);
    eo.script = std::string(16u << 20, 'x');
    eo.script_piece = 1 << 16;
    return eo;
  }
  static ServerConfig config() {
    ServerConfig cfg;
    cfg.shutdown_timeout = std::chrono::milliseconds(5000);
    return cfg;
  }
  TestServer s{config(), engine()};
  Client c{s.port()};
  LargeStream() {
    c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 1000, "stream": true})"));
    c.read_until("data: ", 3000);
  }
};

// The drain waits for the last bytes of a finished response, not only for its
// generation: a client that reads slowly still gets the whole stream, with
// [DONE] and the chunked terminator (CI once cut a stream after [DONE]).
TEST(HttpServerTest, DrainWaitsForUnsentBytes) {
  LargeStream ls;
  TestServer& s = ls.s;
  Client& c = ls.c;
  std::thread drain([&] { s.shutdown_and_join(); });
  // Stop reading until the generation has ended: the server's writes block.
  EXPECT_TRUE(s.engine().wait_idle(std::chrono::seconds(10)));
  for (int i = 0; i < 200 && s.ctx().active_generations.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string rest = c.read_until("data: [DONE]\n\n\r\n0\r\n\r\n", 10000);
  drain.join();
  EXPECT_NE(rest.find("\"finish_reason\":\"stop\""), std::string::npos);
  EXPECT_NE(rest.find("data: [DONE]\n\n\r\n0\r\n\r\n"), std::string::npos) << rest.size() << " bytes read";
}

// ... but not forever: a client that never reads is closed after the
// drain's 5 s for writing out, and the server stops.
TEST(HttpServerTest, DrainClosesAClientThatNeverReads) {
  LargeStream ls;
  TestServer& s = ls.s;
  auto t0 = std::chrono::steady_clock::now();
  s.shutdown_and_join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(secs, 4.0);
  EXPECT_LT(secs, 30.0);
  EXPECT_EQ(s.ctx().active_generations.load(), 0);
}

TEST(HttpServerTest, DrainTimeoutAborts) {
  FakeEngine::Options eo;
  eo.tick = std::chrono::milliseconds(10);
  ServerConfig cfg;
  cfg.shutdown_timeout = std::chrono::milliseconds(100);
  TestServer s(cfg, eo);
  Client c(s.port());
  c.send(post("/v1/completions", R"({"prompt": [1], "max_tokens": 4000, "stream": true})"));
  c.read_until("data: ", 3000);
  std::thread drain([&] { s.shutdown_and_join(); });
  std::string rest = c.read_until("data: [DONE]", 5000);
  drain.join();
  EXPECT_NE(rest.find("\"finish_reason\":\"abort\""), std::string::npos);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
}

}  // namespace
}  // namespace sable::server::testing
