// The client's reading of a stream decides every latency it reports: which
// bytes make an event, and which events are tokens.
#include <gtest/gtest.h>

#include "bench/sse.h"

namespace sable::bench {
namespace {

TEST(BenchSse, EventsSplitAcrossReads) {
  SseParser p;
  std::vector<std::string> ev;
  p.feed("data: {\"a\":", ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_GT(p.pending(), 0u);
  p.feed("1}\n", ev);
  EXPECT_TRUE(ev.empty());
  p.feed("\ndata: [DONE]\n\n", ev);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0], "{\"a\":1}");
  EXPECT_EQ(ev[1], "[DONE]");
  EXPECT_EQ(p.pending(), 0u);
}

TEST(BenchSse, CrlfCommentsAndMultiLineData) {
  SseParser p;
  std::vector<std::string> ev;
  p.feed(": ping\r\n\r\ndata: x\r\n\r\nevent: e\ndata: one\ndata:two\n\n", ev);
  ASSERT_EQ(ev.size(), 2u);  // the comment-only event carries no data
  EXPECT_EQ(ev[0], "x");
  EXPECT_EQ(ev[1], "one\ntwo");
}

TEST(BenchChunk, CompletionsChunksAreTokensEvenWhenEmpty) {
  ChunkInfo c = classify_chunk(R"({"choices":[{"index":0,"text":"Hi","finish_reason":null}]})", Endpoint::kCompletions);
  EXPECT_TRUE(c.has_token);
  EXPECT_EQ(c.text, "Hi");
  // vLLM's client counts a choice with empty text (a special token) too.
  EXPECT_TRUE(classify_chunk(R"({"choices":[{"index":0,"text":""}]})", Endpoint::kCompletions).has_token);
}

TEST(BenchChunk, UsageChunkIsNotAToken) {
  ChunkInfo u = classify_chunk(R"({"choices":[],"usage":{"prompt_tokens":33,"completion_tokens":16,"total_tokens":49}})",
                               Endpoint::kCompletions);
  EXPECT_FALSE(u.has_token);
  EXPECT_EQ(u.completion_tokens, 16);
  EXPECT_EQ(u.prompt_tokens, 33);
  // "usage": null on ordinary chunks.
  ChunkInfo n = classify_chunk(R"({"choices":[{"text":"a"}],"usage":null})", Endpoint::kCompletions);
  EXPECT_TRUE(n.has_token);
  EXPECT_FALSE(n.completion_tokens.has_value());
}

TEST(BenchChunk, ChatRoleOnlyChunkIsNotTheFirstToken) {
  EXPECT_FALSE(classify_chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
                              Endpoint::kChatCompletions).has_token);
  EXPECT_FALSE(classify_chunk(R"({"choices":[{"index":0,"delta":{"role":"assistant"}}]})",
                              Endpoint::kChatCompletions).has_token);
  ChunkInfo c = classify_chunk(R"({"choices":[{"index":0,"delta":{"content":"Hel"}}]})", Endpoint::kChatCompletions);
  EXPECT_TRUE(c.has_token);
  EXPECT_EQ(c.text, "Hel");
  // The closing chunk (finish_reason, empty delta) is a token chunk, as in vLLM.
  EXPECT_TRUE(classify_chunk(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})",
                             Endpoint::kChatCompletions).has_token);
  EXPECT_TRUE(classify_chunk(R"({"choices":[{"delta":{"reasoning_content":"hmm"}}]})", Endpoint::kChatCompletions)
                  .has_token);
}

TEST(BenchChunk, DoneErrorsAndGarbage) {
  EXPECT_TRUE(classify_chunk("[DONE]", Endpoint::kCompletions).done);
  ChunkInfo e = classify_chunk(R"({"error":{"message":"boom","type":"server_error","code":500}})",
                               Endpoint::kChatCompletions);
  EXPECT_EQ(e.error, "boom");
  EXPECT_FALSE(e.has_token);
  EXPECT_FALSE(classify_chunk("{not json", Endpoint::kCompletions).error.empty());
}

}  // namespace
}  // namespace sable::bench
