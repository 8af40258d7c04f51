// Errors as OpenAI's API returns them: an HTTP status and the body
// {"error": {"message", "type", "param", "code"}}. The SDKs pick their
// exception class from the status alone (400 BadRequestError, 401
// AuthenticationError, 404 NotFoundError, ...) and retry 5xx, so a client's
// mistake must never come back as a 5xx.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace sable::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("messages[0].role"), or empty
  std::string code;   // a machine-readable code ("model_not_found"), or empty

  // {"error": {...}} with param and code null when empty.
  nlohmann::json to_json() const;
  std::string body() const;

  static ApiError bad_request(std::string msg, std::string param = "", std::string code = "");
  static ApiError unauthorized(std::string msg);
  static ApiError not_found(std::string msg, std::string code = "");
  static ApiError method_not_allowed(std::string msg);
  static ApiError request_timeout(std::string msg);
  static ApiError payload_too_large(std::string msg);
  static ApiError headers_too_large(std::string msg);
  static ApiError unavailable(std::string msg);
  static ApiError internal(std::string msg);
};

// Thrown by request parsing and handlers; the router turns it into a response.
class ApiException : public std::exception {
 public:
  explicit ApiException(ApiError e) : err_(std::move(e)) {}
  const char* what() const noexcept override { return err_.message.c_str(); }
  const ApiError& error() const { return err_; }

 private:
  ApiError err_;
};

[[noreturn]] inline void throw_bad_request(std::string msg, std::string param = "") {
  throw ApiException(ApiError::bad_request(std::move(msg), std::move(param)));
}

// An engine (or tokenizer) Status as the client should see it: the user's
// mistakes are 400, a full queue or a draining server 503, the rest 500.
ApiError api_error_from_status(const Status& s);

// The reason phrase for a status code ("Bad Request").
const char* http_reason(int status);

}  // namespace sable::server
