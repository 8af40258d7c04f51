// The handlers behind each path. Each parses and validates its request,
// throws ApiException for the client's mistakes, and returns a response or a
// generation job. They run on the HTTP threads.
#pragma once

#include "server/endpoint_common.h"

namespace sable::server {

HandlerResult handle_chat_completions(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_completions(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_tokenize(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_detokenize(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_models(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_version(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_health(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_load(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_ping(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);
HandlerResult handle_metrics(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info);

}  // namespace sable::server
