// Maps a request to its handler: 404 for an unknown path, 405 (with Allow)
// for a known path with the wrong method, 401 without a valid key, CORS
// preflights, and every exception turned into an OpenAI error response.
#pragma once

#include <string>
#include <vector>

#include "server/endpoints.h"
#include "server/errors.h"

namespace sable::server {

class Router {
 public:
  explicit Router(ServerContext& ctx);
  // Never throws. info.base_id is filled (X-Request-Id or a fresh id).
  HandlerResult dispatch(const HttpRequest& req, RequestInfo& info) const;

  // An error as a response (for errors found before routing, too).
  static HttpResponse error_response(const ApiError& e);

 private:
  using Fn = HandlerResult (*)(ServerContext&, const HttpRequest&, const RequestInfo&);
  struct Route {
    std::string path;
    std::vector<std::string> methods;
    Fn fn;
  };
  HandlerResult route(const HttpRequest& req, const RequestInfo& info) const;

  ServerContext& ctx_;
  std::vector<Route> routes_;
};

}  // namespace sable::server
