#include "server/errors.h"

namespace sable::server {

nlohmann::json ApiError::to_json() const {
  nlohmann::json e = nlohmann::json::object();
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param);
  // OpenAI sends a string code or null; the SDKs read it as given.
  e["code"] = code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code);
  return nlohmann::json{{"error", std::move(e)}};
}

std::string ApiError::body() const {
  // Messages may quote client input: replace invalid UTF-8 rather than throw.
  return to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError ApiError::bad_request(std::string msg, std::string param, std::string code) {
  return {400, std::move(msg), "invalid_request_error", std::move(param), std::move(code)};
}
ApiError ApiError::unauthorized(std::string msg) {
  return {401, std::move(msg), "invalid_request_error", "", "invalid_api_key"};
}
ApiError ApiError::not_found(std::string msg, std::string code) {
  return {404, std::move(msg), "invalid_request_error", "", std::move(code)};
}
ApiError ApiError::method_not_allowed(std::string msg) {
  return {405, std::move(msg), "invalid_request_error", "", "method_not_allowed"};
}
ApiError ApiError::request_timeout(std::string msg) {
  return {408, std::move(msg), "invalid_request_error", "", "request_timeout"};
}
ApiError ApiError::payload_too_large(std::string msg) {
  return {413, std::move(msg), "invalid_request_error", "", "request_too_large"};
}
ApiError ApiError::headers_too_large(std::string msg) {
  return {431, std::move(msg), "invalid_request_error", "", "headers_too_large"};
}
ApiError ApiError::unavailable(std::string msg) {
  return {503, std::move(msg), "server_error", "", "service_unavailable"};
}
ApiError ApiError::internal(std::string msg) {
  return {500, std::move(msg), "server_error", "", "internal_error"};
}

ApiError api_error_from_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return ApiError::bad_request(s.message());
    case StatusCode::kNotFound:
      return ApiError::not_found(s.message());
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return ApiError::unavailable(s.message());
    default:
      return ApiError::internal(s.message());
  }
}

const char* http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace sable::server
