#include "server/http_message.h"

#include <ctime>

#include <fmt/format.h>

#include "server/errors.h"

namespace sable::server {

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

bool HttpRequest::has_header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return true;
  return false;
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (k == name) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

std::string http_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

static void append_common_head(std::string& out, int status,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  out += fmt::format("HTTP/1.1 {} {}\r\n", status, http_reason(status));
  out += "date: " + http_date_now() + "\r\nserver: sable\r\n";
  for (const auto& [k, v] : headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
}

std::string serialize_response(const HttpResponse& r) {
  std::string out;
  out.reserve(256 + r.body.size());
  append_common_head(out, r.status, r.headers);
  if (!r.content_type.empty() && r.status != 204)
    out += "content-type: " + r.content_type + "\r\n";
  out += fmt::format("content-length: {}\r\n", r.body.size());
  if (r.close) out += "connection: close\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

std::string serialize_stream_head(int status, std::string_view content_type,
                                  const std::vector<std::pair<std::string, std::string>>& headers, bool chunked) {
  std::string out;
  append_common_head(out, status, headers);
  out += "content-type: ";
  out += content_type;
  out += chunked ? "\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
                 : "\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
  return out;
}

std::string http_chunk(std::string_view data) {
  if (data.empty()) return {};  // a zero-size chunk would end the body
  std::string out = fmt::format("{:x}\r\n", data.size());
  out.append(data);
  out += "\r\n";
  return out;
}

}  // namespace sable::server
