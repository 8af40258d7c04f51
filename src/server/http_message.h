// A parsed HTTP request and a response to send, independent of the parser
// (Beast) so that routing and handlers are testable on plain structs.
// Responses are serialized here by hand: the server writes bytes it has
// formed itself, including the chunked framing of streams.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sable::server {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: "/v1/models?x=1"
  std::string path;     // target without the query
  std::string query;
  int version = 11;     // 10 or 11
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string remote;   // "ip:port", for logs

  // The first header of that (lowercase) name, or "".
  std::string_view header(std::string_view lower_name) const;
  bool has_header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";
  bool close = false;   // send Connection: close and close after writing

  void set_header(std::string name, std::string value);
  static HttpResponse json(int status, std::string body);
  static HttpResponse text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// "HTTP/1.1 200 OK\r\n...\r\n\r\n<body>" with Content-Length, Date, Server.
std::string serialize_response(const HttpResponse& r);
// The head of a streaming response: Transfer-Encoding: chunked, or (for
// HTTP/1.0 clients) no length at all and Connection: close.
std::string serialize_stream_head(int status, std::string_view content_type,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  bool chunked = true);
// One chunk of a chunked body ("<hex>\r\n<data>\r\n"); empty data gives "".
std::string http_chunk(std::string_view data);
// The end of a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// The RFC 7231 date of now ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date_now();

}  // namespace sable::server
