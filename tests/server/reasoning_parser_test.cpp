// Reasoning split (server/reasoning_parser.h): <think> ... </think> apart from
// the answer, the same in any split of the stream as for the whole text.
#include <gtest/gtest.h>

#include <random>

#include "server/reasoning_parser.h"

namespace sable::server {
namespace {

struct Split {
  std::string reasoning, content;
};

Split run(const std::string& name, const std::string& text, const std::vector<size_t>& cuts,
          bool prompt_closed = false) {
  auto p = make_reasoning_parser(name, prompt_closed);
  Split s;
  size_t at = 0;
  for (size_t c : cuts) {
    p->feed(std::string_view(text).substr(at, c - at), s.reasoning, s.content);
    at = c;
  }
  p->feed(std::string_view(text).substr(at), s.reasoning, s.content);
  p->finish(s.reasoning, s.content);
  return s;
}

// The whole text split as expected, and the same in every streamed split.
void expect_split(const std::string& name, const std::string& text, const std::string& reasoning,
                  const std::string& content, bool prompt_closed = false) {
  Split whole = run(name, text, {}, prompt_closed);
  EXPECT_EQ(whole.reasoning, reasoning) << name << ": " << text;
  EXPECT_EQ(whole.content, content) << name << ": " << text;
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  Split bytes = run(name, text, every, prompt_closed);
  EXPECT_EQ(bytes.reasoning, reasoning) << "byte by byte";
  EXPECT_EQ(bytes.content, content) << "byte by byte";
  for (size_t i = 1; i < text.size(); ++i) {
    Split one = run(name, text, {i}, prompt_closed);
    EXPECT_EQ(one.reasoning, reasoning) << "cut at " << i;
    EXPECT_EQ(one.content, content) << "cut at " << i;
  }
}

TEST(ReasoningParserTest, DeepSeekR1) {
  // R1's template opens <think> in the prompt: the output may or may not repeat it.
  expect_split("deepseek_r1", "<think>\nLet me think: 2+2.\n</think>\n\nIt is 4.", "\nLet me think: 2+2.\n",
               "\n\nIt is 4.");
  expect_split("deepseek_r1", "Let me think: 2+2.\n</think>\n\nIt is 4.", "Let me think: 2+2.\n", "\n\nIt is 4.");
  // Cut short before </think>: all reasoning.
  expect_split("deepseek_r1", "Still thinking about </thin", "Still thinking about </thin", "");
  // Tags later in the answer are text.
  expect_split("deepseek_r1", "a</think>b <think> c </think> ☀", "a", "b <think> c </think> ☀");
  expect_split("deepseek_r1", "", "", "");
  expect_split("deepseek_r1", "<thi", "<thi", "");
}

// A prompt that already closed the reasoning (DeepSeek-V3.1 with thinking
// off ends it in </think>): the reply is the answer, unless it opens a
// <think> of its own.
TEST(ReasoningParserTest, DeepSeekR1AfterAPromptThatClosedTheReasoning) {
  expect_split("deepseek_r1", "It is 4.", "", "It is 4.", /*prompt_closed=*/true);
  expect_split("deepseek_r1", "It is 4.</think> really", "", "It is 4.</think> really", true);
  expect_split("deepseek_r1", "<think>hmm</think>It is 4.", "hmm", "It is 4.", true);
  expect_split("deepseek_r1", "<thi", "", "<thi", true);
  // The same text after an open prompt is reasoning up to </think>.
  expect_split("deepseek_r1", "It is 4.</think> really", "It is 4.", " really", false);
}

TEST(ReasoningParserTest, Qwen3) {
  expect_split("qwen3", "<think>\nhmm\n</think>\n\nHello.", "\nhmm\n", "\n\nHello.");
  // No <think> at the start (enable_thinking=false): all content.
  expect_split("qwen3", "Hello </think> there <think>", "", "Hello </think> there <think>");
  expect_split("qwen3", "<thi", "", "<thi");
  expect_split("qwen3", "<think>never closed", "never closed", "");
}

TEST(ReasoningParserTest, RandomCuts) {
  const std::string text = "<think>Σ steps: a < b, </thinking> is not a tag; ok</think>Answer: ☀ </think>";
  std::mt19937 rng(3);
  for (int k = 0; k < 200; ++k) {
    std::vector<size_t> cuts;
    for (size_t at = 0;;) {
      at += 1 + rng() % 9;
      if (at >= text.size()) break;
      cuts.push_back(at);
    }
    Split s = run("qwen3", text, cuts);
    EXPECT_EQ(s.reasoning, "Σ steps: a < b, </thinking> is not a tag; ok");
    EXPECT_EQ(s.content, "Answer: ☀ </think>");
  }
}

// Whether structured output can start with the reply's first token: the
// prompt's last </think> after its last <think>.
TEST(ReasoningParserTest, ReasoningClosedInPrompt) {
  EXPECT_FALSE(reasoning_closed_in_prompt("<｜User｜>hi<｜Assistant｜>"));              // no tags (V3, Qwen3 thinking)
  EXPECT_FALSE(reasoning_closed_in_prompt("<｜User｜>hi<｜Assistant｜><think>\n"));     // R1 opens the reasoning
  EXPECT_TRUE(reasoning_closed_in_prompt("<｜User｜>hi<｜Assistant｜></think>"));        // V3.1 thinking off
  EXPECT_TRUE(reasoning_closed_in_prompt("<|im_start|>assistant\n<think>\n\n</think>\n\n"));  // Qwen3 off
  EXPECT_FALSE(reasoning_closed_in_prompt("a<think>x</think>b<｜Assistant｜><think>\n"));  // an old turn's reasoning
  EXPECT_TRUE(reasoning_closed_in_prompt("<think>x</think>"));
}

TEST(ReasoningParserTest, Names) {
  for (const auto& n : reasoning_parser_names()) EXPECT_NE(make_reasoning_parser(n), nullptr) << n;
  EXPECT_EQ(make_reasoning_parser("granite"), nullptr);
}

}  // namespace
}  // namespace sable::server
