// A chat request's messages rendered into the prompt text: the server's chat
// template (the tokenizer's, or --chat-template), or the request's own
// `chat_template` when the server was started with
// --trust-request-chat-template (vLLM's flag and refusal message).
#pragma once

#include <string>

#include "server/openai_protocol.h"
#include "server/server_context.h"

namespace sable::server {

// Throws ApiException: 400 for a request template the server does not trust,
// a template error the client caused (syntax or raise_exception in its own
// template, or raise_exception in the server's), no chat template at all; 500
// for the server's own template failing. log_id names the request in the log.
std::string render_chat_prompt(const ServerContext& ctx, const ChatRequest& r, const std::string& log_id);

}  // namespace sable::server
