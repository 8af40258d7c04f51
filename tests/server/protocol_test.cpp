// Request parsing and validation for /v1/chat/completions and /v1/completions.
#include <gtest/gtest.h>

#include "engine/json_matcher.h"

#include "server/errors.h"
#include "server/openai_protocol.h"

namespace sable::server {
namespace {

ProtocolLimits limits() {
  ProtocolLimits l;
  l.vocab_size = 1000;
  return l;
}

ChatRequest chat(const std::string& body) { return parse_chat_request(parse_json_body(body), limits()); }
CompletionRequest completion(const std::string& body) {
  return parse_completion_request(parse_json_body(body), limits());
}

// The ApiError a body raises (status 0 when it parses).
ApiError chat_error(const std::string& body) {
  try {
    chat(body);
  } catch (const ApiException& e) {
    return e.error();
  }
  return ApiError{0, "", "", "", ""};
}
ApiError completion_error(const std::string& body) {
  try {
    completion(body);
  } catch (const ApiException& e) {
    return e.error();
  }
  return ApiError{0, "", "", "", ""};
}

const char* kMsgs = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(ChatRequestTest, Defaults) {
  ChatRequest r = chat(std::string("{") + kMsgs + "}");
  EXPECT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.params.n, 1);
  EXPECT_FLOAT_EQ(r.params.temperature, 1.0f);
  EXPECT_FALSE(r.max_tokens.has_value());  // the rest of the context
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.add_generation_prompt);
  EXPECT_FALSE(r.add_special_tokens);
  EXPECT_FALSE(r.params.logprobs.has_value());
  EXPECT_TRUE(r.params.skip_special_tokens);
}

TEST(ChatRequestTest, SamplingFieldsUnderTheirNames) {
  ChatRequest r = chat(std::string("{") + kMsgs + R"(, "model": "m", "temperature": 0.5, "top_p": 0.9,
      "top_k": 40, "min_p": 0.05, "n": 3, "max_completion_tokens": 7, "max_tokens": 99, "stop": "END",
      "stop_token_ids": [5, 6], "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -0.5,
      "repetition_penalty": 1.1, "logit_bias": {"17": 5, "18": -200}, "logprobs": true, "top_logprobs": 3,
      "ignore_eos": true, "min_tokens": 2, "skip_special_tokens": false, "include_stop_str_in_output": true,
      "stream": true, "stream_options": {"include_usage": true}, "unknown_field": {"x": 1}})");
  EXPECT_EQ(r.model, "m");
  EXPECT_FLOAT_EQ(r.params.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.params.top_p, 0.9f);
  EXPECT_EQ(r.params.top_k, 40);
  EXPECT_FLOAT_EQ(r.params.min_p, 0.05f);
  EXPECT_EQ(r.params.n, 3);
  EXPECT_EQ(*r.max_tokens, 7);  // max_completion_tokens wins
  ASSERT_EQ(r.params.stop.size(), 1u);
  EXPECT_EQ(r.params.stop[0], "END");
  EXPECT_EQ(r.params.stop_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(*r.params.seed, 42u);
  EXPECT_FLOAT_EQ(r.params.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.params.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.params.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r.params.logit_bias.at(17), 5.0f);
  EXPECT_FLOAT_EQ(r.params.logit_bias.at(18), -100.0f);  // clamped as OpenAI/vLLM
  EXPECT_EQ(*r.params.logprobs, 3);
  EXPECT_TRUE(r.params.ignore_eos);
  EXPECT_EQ(r.params.min_tokens, 2);
  EXPECT_FALSE(r.params.skip_special_tokens);
  EXPECT_TRUE(r.params.include_stop_str_in_output);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.stream_options.include_usage);
}

TEST(ChatRequestTest, ContentPartsJoinAndDeveloperIsSystem) {
  ChatRequest r = chat(R"({"messages": [{"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function",
       "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "content": "42", "tool_call_id": "1"}]})");
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_TRUE(r.messages[2]["content"].is_null());
  EXPECT_EQ(r.messages[2]["tool_calls"].size(), 1u);
}

TEST(ChatRequestTest, TemplateVariables) {
  ChatRequest r = chat(std::string("{") + kMsgs +
                       R"(, "tools": [{"type": "function", "function": {"name": "f"}}],
      "chat_template_kwargs": {"thinking": true}, "tool_choice": "auto"})");
  EXPECT_EQ(r.template_vars["tools"].size(), 1u);
  EXPECT_EQ(r.template_vars["thinking"], true);
}

TEST(ChatRequestTest, RequestChatTemplate) {
  // Parsed here; whether it is used is the server's call (--trust-request-chat-template).
  EXPECT_FALSE(chat(std::string("{") + kMsgs + "}").chat_template.has_value());
  EXPECT_EQ(*chat(std::string("{") + kMsgs + R"(, "chat_template": "{{ x }}"})").chat_template, "{{ x }}");
  // transformers reads a chat_template keyword as the template, not as a variable.
  ChatRequest k = chat(std::string("{") + kMsgs + R"(, "chat_template_kwargs": {"chat_template": "T", "a": 1}})");
  EXPECT_EQ(*k.chat_template, "T");
  EXPECT_FALSE(k.template_vars.contains("chat_template"));
  EXPECT_EQ(k.template_vars["a"], 1);
  EXPECT_FALSE(chat(std::string("{") + kMsgs + R"(, "chat_template_kwargs": {"chat_template": null}})")
                   .chat_template.has_value());
  // The top-level field wins over the keyword.
  EXPECT_EQ(
      *chat(std::string("{") + kMsgs + R"(, "chat_template": "A", "chat_template_kwargs": {"chat_template": "B"}})")
           .chat_template,
      "A");
}

TEST(ChatRequestTest, StructuredOutputForms) {
  EXPECT_EQ(chat(std::string("{") + kMsgs + "}").params.json_schema, nullptr);
  EXPECT_EQ(chat(std::string("{") + kMsgs + R"(, "response_format": {"type": "text"}})").params.json_schema,
            nullptr);
  EXPECT_NE(chat(std::string("{") + kMsgs + R"(, "response_format": {"type": "json_object"}})")
                .params.json_schema,
            nullptr);
  EXPECT_NE(chat(std::string("{") + kMsgs +
                         R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema":
                         {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}}})")
                .params.json_schema,
            nullptr);
  EXPECT_NE(chat(std::string("{") + kMsgs + R"(, "guided_json": "{\"type\": \"object\"}"})").params.json_schema,
            nullptr);
  // vLLM's structured_outputs: json (an object or a string) or json_object.
  auto so = chat(std::string("{") + kMsgs + R"(, "structured_outputs": {"json": {"type": "object", "properties":
      {"a": {"type": "integer"}}, "required": ["a"]}}})");
  ASSERT_NE(so.params.json_schema, nullptr);
  JsonMatcher m(*so.params.json_schema);
  EXPECT_FALSE(m.accept(std::string_view(R"({"b")")));
  EXPECT_NE(chat(std::string("{") + kMsgs + R"(, "structured_outputs": {"json": "{\"type\": \"array\"}"}})")
                .params.json_schema,
            nullptr);
  EXPECT_NE(chat(std::string("{") + kMsgs + R"(, "structured_outputs": {"json_object": true}})").params.json_schema,
            nullptr);
  EXPECT_EQ(chat(std::string("{") + kMsgs + R"(, "structured_outputs": {}})").params.json_schema, nullptr);
  // guided_choice / structured_outputs.choice: exactly one of the strings, as raw text.
  for (const char* field :
       {R"("guided_choice": ["yes", "no", "yes!"])", R"("structured_outputs": {"choice": ["yes", "no", "yes!"]})"}) {
    auto c = chat(std::string("{") + kMsgs + ", " + field + "}");
    ASSERT_NE(c.params.json_schema, nullptr) << field;
    JsonMatcher y(*c.params.json_schema);
    EXPECT_TRUE(y.accept(std::string_view("yes")));
    EXPECT_TRUE(y.complete());
    EXPECT_TRUE(y.may_continue());  // "yes!" too
    EXPECT_TRUE(y.accept(std::string_view("!")));
    EXPECT_TRUE(y.complete());
    EXPECT_FALSE(y.may_continue());
    JsonMatcher q(*c.params.json_schema);
    EXPECT_FALSE(q.accept(std::string_view("\"no\"")));
    JsonMatcher sp(*c.params.json_schema);
    EXPECT_FALSE(sp.accept(uint8_t(' ')));
  }
  // guided_regex / structured_outputs.regex: the whole text matches the pattern, as raw text.
  for (const char* field :
       {R"("guided_regex": "\\d{3}(-[a-z]+)?")", R"("structured_outputs": {"regex": "\\d{3}(-[a-z]+)?"})"}) {
    auto c = chat(std::string("{") + kMsgs + ", " + field + "}");
    ASSERT_NE(c.params.json_schema, nullptr) << field;
    JsonMatcher m(*c.params.json_schema);
    EXPECT_FALSE(m.complete());
    EXPECT_TRUE(m.accept(std::string_view("123")));
    EXPECT_TRUE(m.complete());
    EXPECT_TRUE(m.may_continue());  // "-abc" may follow
    EXPECT_FALSE(m.accept(uint8_t('4')));
    EXPECT_TRUE(m.accept(std::string_view("-ab")));
    EXPECT_TRUE(m.complete());
    JsonMatcher q(*c.params.json_schema);
    EXPECT_FALSE(q.accept(uint8_t('"')));
  }
}

TEST(ChatRequestTest, NamedToolChoice) {
  const std::string tools = R"(, "tools": [{"type": "function", "function": {"name": "f", "parameters":
      {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}}])";
  auto r = chat(std::string("{") + kMsgs + tools + R"(, "tool_choice": {"type": "function", "function": {"name": "f"}}})");
  EXPECT_EQ(r.tool_choice, "function");
  EXPECT_EQ(r.forced_tool, "f");
  ASSERT_NE(r.params.json_schema, nullptr);
  JsonMatcher m(*r.params.json_schema);
  EXPECT_TRUE(m.accept(std::string_view(R"({"x":1})")));
  EXPECT_TRUE(m.complete());
  // "required": a list of calls, each a tool's name and its parameters (vLLM's schema).
  auto req = chat(std::string("{") + kMsgs + tools + R"(, "tool_choice": "required"})");
  EXPECT_EQ(req.tool_choice, "required");
  EXPECT_TRUE(req.forced_tool.empty());
  ASSERT_NE(req.params.json_schema, nullptr);
  JsonMatcher l(*req.params.json_schema);
  EXPECT_TRUE(
      l.accept(std::string_view(R"([{"name": "f", "parameters": {"x": 1}}, {"name": "f", "parameters": {"x": 2}}])")));
  EXPECT_TRUE(l.complete());
  JsonMatcher bad(*req.params.json_schema);
  EXPECT_FALSE(bad.accept(std::string_view(R"([{"name": "f", "parameters": {"y")")));
  const std::string two = R"(, "tools": [{"type": "function", "function": {"name": "a"}},
      {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties":
      {"n": {"type": "integer"}}, "required": ["n"]}}}], "tool_choice": "required"})";
  auto req2 = chat(std::string("{") + kMsgs + two);
  ASSERT_NE(req2.params.json_schema, nullptr);
  JsonMatcher m2(*req2.params.json_schema);
  EXPECT_TRUE(
      m2.accept(std::string_view(R"([{"name": "b", "parameters": {"n": 3}}, {"name": "a", "parameters": {}}])")));
  EXPECT_TRUE(m2.complete());
  EXPECT_EQ(chat_error(std::string("{") + kMsgs + tools + R"(, "tool_choice": {"type": "function", "function": {"name": "g"}}})")
                .param,
            "tool_choice");
  EXPECT_EQ(chat_error(std::string("{") + kMsgs + tools +
                       R"(, "tool_choice": {"type": "function", "function": {"name": "f"}}, "response_format": {"type": "json_object"}})")
                .param,
            "tool_choice");
}

TEST(ChatRequestTest, Rejections) {
  struct Case {
    std::string body;
    std::string param;
  };
  std::vector<Case> cases = {
      {R"({})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": [1]})", "messages[0]"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "messages[0].content[0].type"},
      {std::string("{") + kMsgs + R"(, "n": 0})", "n"},
      {std::string("{") + kMsgs + R"(, "n": 1000})", "n"},
      {std::string("{") + kMsgs + R"(, "n": "3"})", "n"},
      {std::string("{") + kMsgs + R"(, "n": 2.5})", "n"},
      {std::string("{") + kMsgs + R"(, "temperature": -1})", "temperature"},
      {std::string("{") + kMsgs + R"(, "temperature": "hot"})", "temperature"},
      {std::string("{") + kMsgs + R"(, "top_p": 0})", "top_p"},
      {std::string("{") + kMsgs + R"(, "top_p": 1.5})", "top_p"},
      {std::string("{") + kMsgs + R"(, "top_k": -5})", "top_k"},
      {std::string("{") + kMsgs + R"(, "min_p": 2})", "min_p"},
      {std::string("{") + kMsgs + R"(, "presence_penalty": 3})", "presence_penalty"},
      {std::string("{") + kMsgs + R"(, "frequency_penalty": -2.5})", "frequency_penalty"},
      {std::string("{") + kMsgs + R"(, "repetition_penalty": 0})", "repetition_penalty"},
      {std::string("{") + kMsgs + R"(, "logprobs": true, "top_logprobs": 50})", "top_logprobs"},
      {std::string("{") + kMsgs + R"(, "top_logprobs": 2})", "top_logprobs"},
      {std::string("{") + kMsgs + R"(, "logprobs": 3})", "logprobs"},
      {std::string("{") + kMsgs + R"(, "stop": 5})", "stop"},
      {std::string("{") + kMsgs + R"(, "stop": ["a", 1]})", "stop"},
      {std::string("{") + kMsgs + R"(, "stop_token_ids": [5000]})", "stop_token_ids"},
      {std::string("{") + kMsgs + R"(, "logit_bias": {"abc": 1}})", "logit_bias"},
      {std::string("{") + kMsgs + R"(, "logit_bias": {"5000": 1}})", "logit_bias"},
      {std::string("{") + kMsgs + R"(, "stream_options": {"include_usage": true}})", "stream_options"},
      {std::string("{") + kMsgs + R"(, "stream": "yes"})", "stream"},
      {std::string("{") + kMsgs + R"(, "response_format": {"type": "regex"}})", "response_format.type"},
      {std::string("{") + kMsgs + R"(, "response_format": {"type": "json_schema"}})", "response_format.json_schema"},
      {std::string("{") + kMsgs +
           R"(, "response_format": {"type": "json_schema", "json_schema": {"schema": {"anyOf": []}}}})",
       "response_format.json_schema.schema"},
      {std::string("{") + kMsgs + R"(, "response_format": {"type": "json_object"}, "guided_json": {}})",
       "response_format"},
      {std::string("{") + kMsgs + R"(, "guided_json": "{not json"})", "guided_json"},
      {std::string("{") + kMsgs + R"(, "guided_regex": "(?=a)b"})", "guided_regex"},
      {std::string("{") + kMsgs + R"(, "guided_regex": ["a"]})", "guided_regex"},
      {std::string("{") + kMsgs + R"(, "guided_regex": "a", "guided_choice": ["a"]})", "guided_regex"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"regex": "(a"}})", "structured_outputs.regex"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"regex": "a", "choice": ["a"]}})", "structured_outputs"},
      {std::string("{") + kMsgs + R"(, "guided_grammar": "root ::= a"})", "guided_grammar"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"choice": ["a"], "json": {}}})", "structured_outputs"},
      {std::string("{") + kMsgs + R"(, "guided_choice": []})", "guided_choice"},
      {std::string("{") + kMsgs + R"(, "guided_choice": ["a", 1]})", "guided_choice"},
      {std::string("{") + kMsgs + R"(, "guided_choice": ["a", ""]})", "guided_choice"},
      {std::string("{") + kMsgs + R"(, "guided_choice": "a"})", "guided_choice"},
      {std::string("{") + kMsgs + R"(, "guided_choice": ["a"], "guided_json": {}})", "guided_choice"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"json": {}}, "guided_json": {}})", "guided_json"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"json": {}, "json_object": true}})",
       "structured_outputs"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": "json"})", "structured_outputs"},
      {std::string("{") + kMsgs + R"(, "structured_outputs": {"json": {"type": "string", "pattern": "a{3,2}"}}})",
       "structured_outputs.json"},
      {std::string("{") + kMsgs + R"(, "tool_choice": "required"})", "tool_choice"},
      {std::string("{") + kMsgs + R"(, "tools": [{"type": "function", "function": {"name": "a"}},
          {"type": "function", "function": {"name": "a"}}], "tool_choice": "required"})",
       "tool_choice"},
      {std::string("{") + kMsgs + R"(, "tools": [{"type": "function", "function": {"name": "a"}}],
          "tool_choice": "required", "guided_json": {"type": "object"}})",
       "tool_choice"},
      {std::string("{") + kMsgs + R"(, "use_beam_search": true})", "use_beam_search"},
      {std::string("{") + kMsgs + R"(, "best_of": 4})", "best_of"},
      {std::string("{") + kMsgs + R"(, "guided_json": {"type": "object", "properties": {"a": {"$ref": "#/x"}}}})",
       "guided_json"},
      {std::string("{") + kMsgs + R"(, "min_tokens": -1})", "min_tokens"},
      {std::string("{") + kMsgs + R"(, "seed": 1e30})", "seed"},
      {std::string("{") + kMsgs + R"(, "model": 7})", "model"},
      {std::string("{") + kMsgs + R"(, "chat_template": 5})", "chat_template"},
      {std::string("{") + kMsgs + R"(, "chat_template_kwargs": {"chat_template": ["x"]}})", "chat_template_kwargs"},
      {std::string("{") + kMsgs + R"(, "add_generation_prompt": true, "continue_final_message": true})",
       "continue_final_message"},
  };
  for (const auto& c : cases) {
    ApiError e = chat_error(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(CompletionRequestTest, AllowedTokenIdsAndBadWords) {
  CompletionRequest r =
      completion(R"({"prompt": "x", "allowed_token_ids": [9, 3, 9, 4], "bad_words": [" cat", "dog"]})");
  EXPECT_EQ(r.params.allowed_token_ids, (std::vector<int32_t>{3, 4, 9}));    // sorted, unique
  EXPECT_EQ(r.params.bad_words, (std::vector<std::string>{" cat", "dog"}));  // tokenized by the engine
  EXPECT_TRUE(completion(R"({"prompt": "x", "allowed_token_ids": null})").params.allowed_token_ids.empty());
  for (const char* body :
       {R"({"prompt": "x", "allowed_token_ids": []})", R"({"prompt": "x", "allowed_token_ids": [-1]})",
        R"({"prompt": "x", "allowed_token_ids": [5000]})", R"({"prompt": "x", "allowed_token_ids": "7"})"}) {
    ApiError e = completion_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, "allowed_token_ids") << body << " -> " << e.message;
  }
  for (const char* body : {R"({"prompt": "x", "bad_words": "cat"})", R"({"prompt": "x", "bad_words": [5]})",
                           R"({"prompt": "x", "bad_words": ["  "]})"}) {
    ApiError e = completion_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, "bad_words") << body << " -> " << e.message;
  }
}

TEST(CompletionRequestTest, PromptForms) {
  EXPECT_EQ(*completion(R"({"prompt": "hello"})").prompts[0].text, "hello");
  auto ids = completion(R"({"prompt": [1, 2, 3]})");
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  auto strs = completion(R"({"prompt": ["a", "b"]})");
  ASSERT_EQ(strs.prompts.size(), 2u);
  EXPECT_EQ(*strs.prompts[1].text, "b");
  auto lists = completion(R"({"prompt": [[1], [2, 3]]})");
  ASSERT_EQ(lists.prompts.size(), 2u);
  EXPECT_EQ(lists.prompts[1].ids, (std::vector<int32_t>{2, 3}));
}

TEST(CompletionRequestTest, DefaultsAndLogprobs) {
  CompletionRequest r = completion(R"({"prompt": "x", "logprobs": 2, "echo": false})");
  EXPECT_EQ(*r.max_tokens, 16);  // OpenAI's completions default
  EXPECT_TRUE(r.add_special_tokens);
  EXPECT_EQ(*r.logprobs, 2);
  EXPECT_EQ(*r.params.logprobs, 2);
  EXPECT_FALSE(completion(R"({"prompt": "x", "max_tokens": null})").max_tokens.has_value());
  EXPECT_FALSE(r.params.prompt_logprobs.has_value());
}

// echo with logprobs (lm-evaluation-harness's loglikelihood requests) asks the
// engine for the prompt's logprobs at the same top-N; prompt_logprobs (vLLM)
// asks for them and for the response field.
TEST(CompletionRequestTest, EchoLogprobsAndPromptLogprobs) {
  CompletionRequest e = completion(R"({"prompt": [1, 2, 3], "echo": true, "logprobs": 1, "max_tokens": 1})");
  EXPECT_TRUE(e.echo);
  EXPECT_EQ(*e.params.prompt_logprobs, 1);
  EXPECT_FALSE(e.prompt_logprobs.has_value());  // no prompt_logprobs field in the response
  CompletionRequest p = completion(R"({"prompt": "x", "prompt_logprobs": 3})");
  EXPECT_EQ(*p.prompt_logprobs, 3);
  EXPECT_EQ(*p.params.prompt_logprobs, 3);
  CompletionRequest both = completion(R"({"prompt": "x", "prompt_logprobs": 0, "echo": true, "logprobs": 4})");
  EXPECT_EQ(*both.params.prompt_logprobs, 4);  // the larger, each field cut to its own N
  EXPECT_EQ(*both.prompt_logprobs, 0);
  CompletionRequest null = completion(R"({"prompt": "x", "prompt_logprobs": null})");
  EXPECT_FALSE(null.params.prompt_logprobs.has_value());
}

TEST(CompletionRequestTest, Rejections) {
  std::vector<std::string> bodies = {
      R"({})",
      R"({"prompt": 5})",
      R"({"prompt": []})",
      R"({"prompt": [[]]})",
      R"({"prompt": ["a", [1]]})",
      R"({"prompt": [1, "a"]})",
      R"({"prompt": [-1]})",
      R"({"prompt": [1000]})",
      R"({"prompt": [1.5]})",
      R"({"prompt": "x", "suffix": "y"})",
      R"({"prompt": "x", "logprobs": 21})",
      R"({"prompt": "x", "logprobs": true})",
      R"({"prompt": "x", "prompt_logprobs": 21})",
      R"({"prompt": "x", "prompt_logprobs": -1})",
      R"({"prompt": "x", "prompt_logprobs": "2"})",
      R"({"prompt": "x", "max_tokens": "10"})",
  };
  for (const auto& b : bodies) {
    ApiError e = completion_error(b);
    EXPECT_EQ(e.status, 400) << b;
    EXPECT_EQ(e.param, "prompt" == e.param ? e.param : e.param) << b;
  }
}

// --scheduling-policy: under fcfs (vLLM's default) a non-zero priority is
// vLLM's 400, which clients recognise; under priority it is taken.
TEST(ProtocolTest, PriorityNeedsPriorityScheduling) {
  ApiError e = completion_error(R"({"prompt": "x", "priority": 3})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "priority");
  EXPECT_NE(e.message.find("Got priority 3 but Priority scheduling is not enabled"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("--scheduling-policy priority"), std::string::npos) << e.message;
  EXPECT_EQ(chat_error(std::string("{") + kMsgs + R"(, "priority": -1})").status, 400);
  EXPECT_EQ(completion(R"({"prompt": "x", "priority": 0})").priority, 0);  // 0 is always fine
  ProtocolLimits l = limits();
  l.priority_scheduling = true;
  EXPECT_EQ(parse_completion_request(parse_json_body(R"({"prompt": "x", "priority": 3})"), l).priority, 3);
  EXPECT_EQ(parse_chat_request(parse_json_body(std::string("{") + kMsgs + R"(, "priority": -2})"), l).priority, -2);
}

// --return-tokens-as-token-ids sets the field's default; a request's own value wins.
TEST(ProtocolTest, ReturnTokensAsTokenIdsDefault) {
  EXPECT_FALSE(completion(R"({"prompt": "x"})").return_tokens_as_token_ids);
  ProtocolLimits l = limits();
  l.return_tokens_as_token_ids = true;
  EXPECT_TRUE(parse_completion_request(parse_json_body(R"({"prompt": "x"})"), l).return_tokens_as_token_ids);
  EXPECT_FALSE(parse_completion_request(parse_json_body(R"({"prompt": "x", "return_tokens_as_token_ids": false})"), l)
                   .return_tokens_as_token_ids);
}

// vLLM's should_include_usage: --enable-force-include-usage gives every
// streamed request usage; continuous usage needs usage at all.
TEST(ProtocolTest, ForceIncludeUsageAndContinuousUsage) {
  auto parse = [](const std::string& body, bool force) {
    ProtocolLimits l = limits();
    l.force_include_usage = force;
    return parse_completion_request(parse_json_body(body), l).stream_options;
  };
  const std::string plain = R"({"prompt": "x", "stream": true})";
  EXPECT_FALSE(parse(plain, false).include_usage);
  EXPECT_TRUE(parse(plain, true).include_usage);
  EXPECT_FALSE(parse(plain, true).continuous_usage_stats);
  EXPECT_TRUE(
      parse(R"({"prompt": "x", "stream": true, "stream_options": {"include_usage": false}})", true).include_usage);
  EXPECT_FALSE(parse(R"({"prompt": "x"})", true).include_usage);  // a whole response has usage anyway
  const std::string cont = R"({"prompt": "x", "stream": true, "stream_options": {"continuous_usage_stats": true}})";
  EXPECT_FALSE(parse(cont, false).continuous_usage_stats);
  EXPECT_TRUE(parse(cont, true).continuous_usage_stats);
  const std::string both =
      R"({"prompt": "x", "stream": true, "stream_options": {"include_usage": true, "continuous_usage_stats": true}})";
  EXPECT_TRUE(parse(both, false).continuous_usage_stats);
  ProtocolLimits l = limits();
  l.force_include_usage = true;
  EXPECT_TRUE(parse_chat_request(parse_json_body(std::string("{") + kMsgs + R"(, "stream": true})"), l)
                  .stream_options.include_usage);
}

TEST(ProtocolTest, InvalidJson) {
  for (std::string body : {"", "{", "[1, 2]", "\"str\"", "{\"a\": tru}", "{\"a\": \"\xff\xfe\"}"}) {
    try {
      parse_json_body(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiException& e) {
      EXPECT_EQ(e.error().status, 400);
      // The error body must serialize even when the message quotes bad bytes.
      EXPECT_NO_THROW(e.error().body());
    }
  }
  std::string deep(100000, '[');
  EXPECT_THROW(parse_json_body(deep), ApiException);
}

TEST(ProtocolTest, ResolveMaxTokens) {
  CommonRequest r;
  EXPECT_EQ(resolve_max_tokens(r, 100, 1000, true), 900);
  r.max_tokens = 50;
  EXPECT_EQ(resolve_max_tokens(r, 100, 1000, true), 50);
  r.max_tokens = 950;
  try {
    resolve_max_tokens(r, 100, 1000, true);
    FAIL();
  } catch (const ApiException& e) {
    EXPECT_EQ(e.error().status, 400);
    EXPECT_NE(e.error().message.find("maximum context length is 1000 tokens"), std::string::npos);
    EXPECT_NE(e.error().message.find("requested 1050 tokens"), std::string::npos);
    EXPECT_NE(e.error().message.find("100 in the messages"), std::string::npos);
    EXPECT_NE(e.error().message.find("50 over the limit"), std::string::npos);
  }
  r.max_tokens.reset();
  EXPECT_THROW(resolve_max_tokens(r, 1000, 1000, false), ApiException);
  r.max_tokens = 0;
  EXPECT_THROW(resolve_max_tokens(r, 10, 1000, false), ApiException);
  r.max_tokens = -3;
  EXPECT_THROW(resolve_max_tokens(r, 10, 1000, false), ApiException);
  r.max_tokens = 10;
  r.params.min_tokens = 11;
  EXPECT_THROW(resolve_max_tokens(r, 10, 1000, false), ApiException);
}

TEST(ErrorsTest, Schema) {
  ApiError e = ApiError::bad_request("bad", "n");
  auto j = nlohmann::json::parse(e.body());
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(api_error_from_status(resource_exhausted("full")).status, 503);
  EXPECT_EQ(api_error_from_status(invalid_argument("x")).status, 400);
  EXPECT_EQ(api_error_from_status(unavailable("x")).status, 503);
  EXPECT_EQ(api_error_from_status(internal_error("x")).status, 500);
}

}  // namespace
}  // namespace sable::server
