// Reading an OpenAI streaming response as a benchmark client must: split the
// body into server-sent events as bytes arrive, and tell which events carry
// tokens (they timestamp TTFT and ITL), which carry the usage (the output
// token count), and which report an error.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sable::bench {

enum class Endpoint { kCompletions, kChatCompletions };

// Incremental SSE splitter: feed bytes as they come, get the data of every
// complete event (the "data:" lines joined by '\n'). Comments (":...")
// and other fields are dropped; "\n\n", "\r\n\r\n" and "\r\r" end events.
class SseParser {
 public:
  void feed(std::string_view bytes, std::vector<std::string>& events);
  // Bytes held waiting for the rest of an event.
  size_t pending() const { return buf_.size(); }

 private:
  void take_event(std::string_view block, std::vector<std::string>& events);
  std::string buf_;
};

struct ChunkInfo {
  bool done = false;         // "[DONE]"
  bool has_token = false;    // counts for TTFT / ITL
  std::optional<int> completion_tokens, prompt_tokens;  // from "usage"
  std::string text;          // generated text in this chunk
  std::string error;         // non-empty: the stream reported an error
};

// Classifies one event's data. A token chunk is one with a choice, as in
// vLLM's client, except that a chat chunk whose delta has nothing but the
// role (and empty content) is not: vLLM's server sends that chunk with the
// first token, others (Sable among them) as soon as the request is
// accepted, so counting it would measure acceptance, not the first token.
// Unparseable data is an error.
ChunkInfo classify_chunk(std::string_view data, Endpoint endpoint);

}  // namespace sable::bench
