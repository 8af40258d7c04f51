// A server with a fake engine on a free local port, and a blocking HTTP
// client that can also misbehave (partial headers, early close), for the
// server's own tests.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <utility>  // Boost 1.74 asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "server/fake_engine.h"
#include "server/http_message.h"
#include "server/http_server.h"
#include "server/sse.h"

namespace sable::server::testing {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

class TestServer {
 public:
  explicit TestServer(ServerConfig cfg = {}, FakeEngine::Options eo = {}, bool with_tokenizer = false);
  ~TestServer();
  int port() const { return port_; }
  FakeEngine& engine() { return *engine_; }
  ServerContext& ctx() { return ctx_; }
  HttpServer& http() { return *http_; }
  // Starts the drain and waits for run() to return.
  void shutdown_and_join();

 private:
  std::unique_ptr<FakeEngine> engine_;
  ServerContext ctx_;
  std::unique_ptr<HttpServer> http_;
  std::thread thread_;
  int port_ = 0;
  bool joined_ = false;
};

class Client {
 public:
  explicit Client(int port);
  void send(const std::string& raw);
  // Reads one response (chunked bodies decoded); throws on a closed socket.
  Response read();
  // True when the server closes the connection within timeout_ms.
  bool wait_closed(int timeout_ms);
  // Reads raw bytes until `needle` is seen or the socket closes.
  std::string read_until(const std::string& needle, int timeout_ms = 5000);
  void close();

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket sock_;
  boost::beast::flat_buffer buf_;
};

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = "");
std::string get(const std::string& path, const std::string& extra_headers = "");
// One request on a fresh connection.
Response roundtrip(int port, const std::string& raw);
// The OpenAI error body: status, and error.{message, type, param, code}.
void expect_error_schema(const Response& r, int status);
// A fake engine with DeepSeek-V3's vocabulary size (tokenizer ids fit).
FakeEngine::Options big_vocab();
// The JSON payloads of an SSE body ("data: {...}"), and whether it ended with [DONE].
std::vector<nlohmann::json> sse_payloads(const std::string& body, bool* done);

}  // namespace sable::server::testing
