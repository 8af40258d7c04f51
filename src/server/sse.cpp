#include "server/sse.h"

namespace sable::server {

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string sse_event(const nlohmann::json& payload) {
  // A JSON dump never contains a raw newline (they are escaped), so one
  // data: line carries the whole event.
  return "data: " + dump_json(payload) + "\n\n";
}

std::string sse_event(const nlohmann::ordered_json& payload) {
  return "data: " + dump_json(payload) + "\n\n";
}

void append_sse_event(std::string& out, const nlohmann::ordered_json& payload) {
  out += "data: ";
  out += dump_json(payload);
  out += "\n\n";
}

}  // namespace sable::server
