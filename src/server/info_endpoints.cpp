// GET /v1/models, /version, /health and /ping.
#include "server/endpoints.h"
#include "server/errors.h"
#include "server/sse.h"

#ifndef SABLE_VERSION
#define SABLE_VERSION "0.0.0"
#endif

namespace sable::server {

HandlerResult handle_models(ServerContext& ctx, const HttpRequest&, const RequestInfo&) {
  OJson data = OJson::array();
  std::vector<std::string> names = ctx.config.served_model_names;
  if (names.empty()) names.push_back(ctx.model_name());
  for (const auto& name : names) {
    OJson m;
    m["id"] = name;
    m["object"] = "model";
    m["created"] = ctx.started_at;
    m["owned_by"] = "sable";
    m["root"] = ctx.config.model_root.empty() ? name : ctx.config.model_root;
    m["parent"] = nullptr;
    m["max_model_len"] = ctx.engine->max_model_len();
    data.push_back(std::move(m));
  }
  OJson out;
  out["object"] = "list";
  out["data"] = std::move(data);
  HandlerResult r;
  r.response = HttpResponse::json(200, dump_json(out));
  return r;
}

HandlerResult handle_version(ServerContext&, const HttpRequest&, const RequestInfo&) {
  HandlerResult r;
  r.response = HttpResponse::json(200, dump_json(OJson{{"version", SABLE_VERSION}}));
  return r;
}

HandlerResult handle_health(ServerContext& ctx, const HttpRequest&, const RequestInfo&) {
  // 500 once the engine stopped after an unrecoverable error (vLLM's
  // EngineDeadError), with the cause: a liveness probe restarts the pod.
  if (const std::string fatal = ctx.engine->fatal_error(); !fatal.empty())
    throw ApiException(ApiError::internal("the engine stopped after an unrecoverable error: " + fatal +
                                          "; the server is shutting down, restart it"));
  HandlerResult r;
  // 200 with an empty body, as vLLM; 503 once draining so that load
  // balancers stop sending new work while running requests finish.
  r.response.status = ctx.draining.load() ? 503 : 200;
  r.response.content_type.clear();
  return r;
}

// vLLM's GET /load: the requests with engine work in flight, for a load
// balancer; 0 unless --enable-server-load-tracking, as vLLM's.
HandlerResult handle_load(ServerContext& ctx, const HttpRequest&, const RequestInfo&) {
  const int64_t load = ctx.config.server_load_tracking ? ctx.active_generations.load() : 0;
  HandlerResult r;
  r.response = HttpResponse::json(200, dump_json(OJson{{"server_load", load}}));
  return r;
}

HandlerResult handle_ping(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info) {
  return handle_health(ctx, req, info);
}

}  // namespace sable::server
