#include "server/http_test_util.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tokenizer/tokenizer.h"

namespace sable::server::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

static std::shared_ptr<const Tokenizer> test_tokenizer() {
  static std::shared_ptr<const Tokenizer> tok = [] {
    auto t = Tokenizer::load(std::string(SABLE_SOURCE_DIR) + "/assets/tokenizers/deepseek-v3");
    return t.is_ok() ? std::shared_ptr<const Tokenizer>(std::move(t).value()) : nullptr;
  }();
  return tok;
}

TestServer::TestServer(ServerConfig cfg, FakeEngine::Options eo, bool with_tokenizer) {
  engine_ = std::make_unique<FakeEngine>(eo);
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.io_threads = 2;
  if (cfg.served_model_names.empty()) cfg.served_model_names = {"test-model", "alias"};
  cfg.log_stats = false;
  ctx_.config = cfg;
  ctx_.engine = engine_.get();
  if (with_tokenizer) ctx_.tokenizer = test_tokenizer();
  ctx_.started_at = 1700000000;
  http_ = std::make_unique<HttpServer>(ctx_);
  Status st = http_->listen();
  if (!st.is_ok()) throw std::runtime_error(st.message());
  port_ = http_->port();
  thread_ = std::thread([this] { http_->run(/*handle_signals=*/false); });
}

void TestServer::shutdown_and_join() {
  if (joined_) return;
  joined_ = true;
  http_->shutdown();
  thread_.join();
}

// The engine's thread stops before the HttpServer (declared after it) is
// destroyed: a late output's wake-up on that thread may hold the last
// reference to a Connection, whose destructor needs the io_context (ASan saw
// it freed, CI of 2f74408). `sable serve` drains and stops its engine before
// the server goes, likewise.
TestServer::~TestServer() {
  shutdown_and_join();
  engine_->stop_loop();
}

Client::Client(int port) : sock_(io_) {
  sock_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), uint16_t(port)));
  sock_.set_option(tcp::no_delay(true));
}

void Client::send(const std::string& raw) { asio::write(sock_, asio::buffer(raw)); }

Response Client::read() {
  http::response_parser<http::string_body> p;
  p.body_limit(64u << 20);
  http::read(sock_, buf_, p);
  return p.release();
}

bool Client::wait_closed(int timeout_ms) {
  // Poll with non-blocking reads so a server that never closes fails the
  // test instead of hanging it.
  sock_.non_blocking(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char tmp[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    sock_.read_some(asio::buffer(tmp), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) {
      sock_.non_blocking(false);
      return true;
    }
  }
  sock_.non_blocking(false);
  return false;
}

std::string Client::read_until(const std::string& needle, int timeout_ms) {
  std::string got(static_cast<const char*>(buf_.data().data()), buf_.size());
  buf_.consume(buf_.size());
  sock_.non_blocking(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char tmp[4096];
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    size_t n = sock_.read_some(asio::buffer(tmp), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    if (ec) break;
    got.append(tmp, n);
  }
  sock_.non_blocking(false);
  return got;
}

void Client::close() {
  boost::system::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers) {
  return fmt::format("POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{}Content-Length: "
                     "{}\r\n\r\n{}",
                     path, extra_headers, body.size(), body);
}

std::string get(const std::string& path, const std::string& extra_headers) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: localhost\r\n{}\r\n", path, extra_headers);
}

Response roundtrip(int port, const std::string& raw) {
  Client c(port);
  c.send(raw);
  return c.read();
}

std::vector<nlohmann::json> sse_payloads(const std::string& body, bool* done) {
  std::vector<nlohmann::json> out;
  *done = false;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind("data: ", 0) != 0) continue;
    std::string data = ev.substr(6);
    if (data == "[DONE]") {
      *done = pos == body.size();  // [DONE] must be the last event
      continue;
    }
    out.push_back(nlohmann::json::parse(data));
  }
  return out;
}

void expect_error_schema(const Response& r, int status) {
  EXPECT_EQ(int(r.result_int()), status) << r.body();
  const nlohmann::json j = nlohmann::json::parse(r.body());
  ASSERT_TRUE(j.contains("error")) << r.body();
  for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(j["error"].contains(k)) << k;
  EXPECT_TRUE(j["error"]["message"].is_string());
}

FakeEngine::Options big_vocab() {
  FakeEngine::Options o;
  o.vocab_size = 129280;
  return o;
}

}  // namespace sable::server::testing
