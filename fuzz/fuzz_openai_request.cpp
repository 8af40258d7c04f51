// libFuzzer target: OpenAI request bodies through the server's parsing and
// validation (/v1/chat/completions and /v1/completions, and the max_tokens
// resolution). The property: any input either parses or raises ApiException
// (a 400 for the client) whose error body serializes; any other exception,
// crash or sanitizer report is a bug, since it would reach the client as a
// 500 (or take the server down).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/errors.h"
#include "server/openai_protocol.h"

using namespace sable::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  ProtocolLimits limits;
  limits.vocab_size = 129280;
  Json j;
  try {
    j = parse_json_body(body);
  } catch (const ApiException& e) {
    (void)e.error().body();
    return 0;
  }
  try {
    ChatRequest r = parse_chat_request(j, limits);
    (void)resolve_max_tokens(r, 10, 4096, /*chat=*/true);
  } catch (const ApiException& e) {
    (void)e.error().body();
  }
  try {
    CompletionRequest r = parse_completion_request(j, limits);
    for (const auto& p : r.prompts) (void)resolve_max_tokens(r, p.text ? p.text->size() : p.ids.size(), 4096, false);
  } catch (const ApiException& e) {
    (void)e.error().body();
  }
  return 0;
}
