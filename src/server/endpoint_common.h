// Helpers every OpenAI endpoint uses: the model check, the draining check,
// request ids, and what a handler returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "server/generation_job.h"
#include "server/http_message.h"
#include "server/random_id.h"
#include "server/server_context.h"

namespace sable::server {

// A plain response, or a job that will produce it (generation).
struct HandlerResult {
  HttpResponse response;
  std::unique_ptr<GenerationJob> job;
};

// Per-request facts the router works out before calling a handler.
struct RequestInfo {
  std::string base_id;       // X-Request-Id when sent (sanitized), else random hex
  bool client_id = false;    // base_id came from the client (may not be unique)
};

// 404 "The model `x` does not exist." unless the server serves it.
void check_model(const ServerContext& ctx, const std::string& model);
// 503 while draining (SIGTERM seen).
void check_accepting(const ServerContext& ctx);
// 400 when the server has no tokenizer (and the request needs one).
void check_tokenizer(const ServerContext& ctx, const char* what);

// The engine request id for prompt i of a request: unique even when the
// client chose the base id.
std::string engine_request_id(const std::string& response_id, const RequestInfo& info, size_t prompt_index,
                              size_t num_prompts);

int64_t unix_now();
// The X-Request-Id header if it is a sane id (printable ASCII, <= 128
// characters), else "".
std::string sanitize_request_id(std::string_view v);

}  // namespace sable::server
