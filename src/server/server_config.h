// The HTTP server's settings: where to listen, who may call, and the limits
// that keep one client from starving the others. Defaults are what
// `sable serve` uses; docs/server.md explains each.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "server/generation_defaults.h"

namespace sable::server {

struct ServerConfig {
  std::string host = "0.0.0.0";
  int port = 8000;                               // 0: any free port (tests)
  std::vector<std::string> served_model_names;   // the first is reported in responses
  std::string model_root;                        // the model directory, for /v1/models "root"
  std::vector<std::string> api_keys;             // empty: no authentication
  int io_threads = 4;                            // one io_context, this many threads

  // Limits on what a client may send.
  size_t max_body_bytes = 8u << 20;              // larger bodies get 413
  uint32_t max_header_bytes = 64u << 10;         // request line + headers; larger get 431
  size_t max_header_count = 100;                 // more header fields get 431
  std::chrono::milliseconds header_timeout{30000};     // first byte to end of headers
  std::chrono::milliseconds body_timeout{60000};       // end of headers to end of body
  std::chrono::milliseconds keep_alive_timeout{5000};  // idle between requests (uvicorn's 5 s)
  std::chrono::milliseconds write_timeout{300000};     // a client that stops reading
  int max_n = 128;                               // choices per request
  int max_logprobs = 20;                         // top logprobs per token
  int max_prompts = 1024;                        // prompts in one completions request
  // --enable-auto-tool-choice with --tool-call-parser NAME: chat requests
  // with tools (tool_choice "auto") get their tool calls parsed out of the
  // output ("" = off: such requests are refused, as vLLM does).
  std::string tool_call_parser;
  // --reasoning-parser NAME: every chat response splits the model's
  // reasoning (<think> ... </think>) into reasoning ("" = off).
  std::string reasoning_parser;
  // --trust-request-chat-template: a chat request's own `chat_template` is
  // rendered instead of the server's (off: such requests get a 400, as vLLM).
  bool trust_request_chat_template = false;
  // --generation-config: default sampling parameters from the model's
  // generation_config.json (vLLM's "auto"; "vllm": none).
  SamplingDefaults sampling_defaults;
  // --scheduling-policy: fcfs (vLLM's default; a request's non-zero priority
  // is refused) or priority (the waiting queue is ordered by it).
  bool priority_scheduling = false;
  // --return-tokens-as-token-ids: token strings in logprobs are "token_id:N"
  // unless a request says otherwise.
  bool return_tokens_as_token_ids = false;
  // --response-role: the role of a chat response's message (vLLM's default).
  std::string response_role = "assistant";
  // --enable-force-include-usage: every streamed response ends with its usage
  // chunk, as if it asked for stream_options.include_usage (vLLM's rule).
  bool force_include_usage = false;
  // --enable-server-load-tracking: GET /load reports the HTTP requests with
  // engine work in flight (off: it reports 0, as vLLM's).
  bool server_load_tracking = false;

  std::chrono::milliseconds shutdown_timeout{30000};  // drain on SIGTERM before aborting
  bool log_requests = true;                      // --disable-log-requests turns off
  bool access_log = true;                        // --disable-uvicorn-access-log turns off
  bool log_stats = true;                         // periodic throughput log (--disable-log-stats)
  std::chrono::milliseconds stats_interval{10000};
};

}  // namespace sable::server
