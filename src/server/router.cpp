#include "server/router.h"

#include <new>

#include <fmt/format.h>

#include "core/logging.h"
#include "server/auth.h"
#include "server/errors.h"
#include "server/sse.h"

namespace sable::server {
namespace {

// GET /v1/models/{id}: one model, or 404 (ids may hold '/').
HandlerResult handle_model_by_id(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info) {
  std::string id = req.path.substr(std::string_view("/v1/models/").size());
  if (!ctx.serves(id) || id.empty())
    throw ApiException(ApiError::not_found(fmt::format("The model `{}` does not exist.", id), "model_not_found"));
  HandlerResult all = handle_models(ctx, req, info);
  auto list = OJson::parse(all.response.body);
  for (auto& m : list["data"])
    if (m["id"] == id) all.response.body = dump_json(m);
  return all;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

Router::Router(ServerContext& ctx) : ctx_(ctx) {
  routes_ = {
      {"/v1/chat/completions", {"POST"}, &handle_chat_completions},
      {"/v1/completions", {"POST"}, &handle_completions},
      {"/v1/models", {"GET"}, &handle_models},
      {"/tokenize", {"POST"}, &handle_tokenize},
      {"/detokenize", {"POST"}, &handle_detokenize},
      {"/health", {"GET"}, &handle_health},
      {"/ping", {"GET", "POST"}, &handle_ping},
      {"/load", {"GET"}, &handle_load},
      {"/metrics", {"GET"}, &handle_metrics},
      {"/version", {"GET"}, &handle_version},
  };
}

HttpResponse Router::error_response(const ApiError& e) {
  HttpResponse r = HttpResponse::json(e.status, e.body());
  return r;
}

HandlerResult Router::route(const HttpRequest& req, const RequestInfo& info) const {
  std::string path = req.path;
  if (path.size() > 1 && path.back() == '/') path.pop_back();

  const Route* found = nullptr;
  Route by_id{"/v1/models/{id}", {"GET"}, &handle_model_by_id};
  for (const auto& r : routes_)
    if (r.path == path) found = &r;
  if (!found && path.rfind("/v1/models/", 0) == 0) found = &by_id;
  if (!found)
    throw ApiException(ApiError::not_found(fmt::format("Invalid URL ({} {})", req.method, req.path)));

  bool method_ok = false;
  for (const auto& m : found->methods) method_ok |= (m == req.method);
  if (!method_ok) {
    HandlerResult res;
    res.response = error_response(ApiError::method_not_allowed(
        fmt::format("Method {} is not allowed for {}; use {}.", req.method, path, join(found->methods, " or "))));
    res.response.set_header("allow", join(found->methods, ", "));
    return res;
  }
  if (!is_open_path(path) && !authorized(ctx_.config.api_keys, req.header("authorization")))
    throw ApiException(ApiError::unauthorized(
        "Incorrect or missing API key. Pass it as 'Authorization: Bearer <key>' (the server's --api-key)."));
  return found->fn(ctx_, req, info);
}

HandlerResult Router::dispatch(const HttpRequest& req, RequestInfo& info) const {
  ctx_.http_requests.fetch_add(1);
  std::string client_id = sanitize_request_id(req.header("x-request-id"));
  info.client_id = !client_id.empty();
  info.base_id = info.client_id ? client_id : random_hex_id();

  HandlerResult res;
  if (req.method == "OPTIONS") {
    // CORS preflight: vLLM allows every origin, method and header by default.
    res.response.status = 200;
    res.response.content_type.clear();
    res.response.set_header("access-control-allow-origin", "*");
    res.response.set_header("access-control-allow-methods", "GET, POST, OPTIONS");
    std::string_view asked = req.header("access-control-request-headers");
    res.response.set_header("access-control-allow-headers", asked.empty() ? "*" : std::string(asked));
    res.response.set_header("access-control-max-age", "600");
  } else {
    try {
      res = route(req, info);
    } catch (const ApiException& e) {
      res = HandlerResult{};
      res.response = error_response(e.error());
      if (e.error().status >= 500) LOG_WARN("{}: {} {}: {}", info.base_id, req.method, req.path, e.error().message);
    } catch (const nlohmann::json::exception& e) {
      // A JSON value of a shape the handlers did not expect: still the
      // client's input, never worth a retry.
      res = HandlerResult{};
      res.response = error_response(ApiError::bad_request(std::string("Invalid request: ") + e.what()));
    } catch (const std::bad_alloc&) {
      res = HandlerResult{};
      res.response = error_response(ApiError::unavailable("The server is out of memory for this request."));
    } catch (const std::exception& e) {
      res = HandlerResult{};
      LOG_ERROR("{}: {} {}: internal error: {}", info.base_id, req.method, req.path, e.what());
      res.response = error_response(ApiError::internal(std::string("Internal server error: ") + e.what()));
    }
  }
  res.response.set_header("x-request-id", info.base_id);
  if (req.has_header("origin")) res.response.set_header("access-control-allow-origin", "*");
  return res;
}

}  // namespace sable::server
