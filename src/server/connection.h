// One client connection: reads HTTP/1.1 requests (keep-alive, pipelining)
// under size and time limits, hands them to the router, and writes the
// responses, including SSE streams fed by a GenerationJob. Everything runs on
// the connection's strand; the engine thread only ever posts a wake-up.
//
// While a request is being answered, a read stays pending on the socket:
// that is how a client that goes away is noticed (EOF or reset), and its
// engine requests are aborted at once so their KV blocks free at the next
// engine step. Bytes that arrive meanwhile (a pipelined request) are kept
// for after the response.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <utility>  // Boost 1.74 asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/endpoints.h"
#include "server/errors.h"

namespace sable::server {

class HttpServer;
class Router;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using tcp = boost::asio::ip::tcp;
  Connection(tcp::socket socket, ServerContext& ctx, const Router& router, HttpServer* server);
  ~Connection();

  void start();
  // Thread-safe; post to the strand.
  void close_if_idle();  // draining: drop keep-alive connections that wait
  void force_close();    // shutdown deadline: abort work and close now
  uint64_t serial() const { return serial_; }
  // Thread-safe: a request is being answered and its response is not yet
  // all written (the drain waits for these before closing connections).
  bool answering() const { return answering_.load(); }

 private:
  enum class Phase { kIdle, kHeaders, kBody, kProcessing, kLinger };
  using Parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  void reset_parser();
  void start_read();
  void on_read(boost::system::error_code ec, size_t n);
  void parse_buffered();
  bool on_headers_done();
  void on_parse_error(boost::system::error_code ec);
  void on_request();
  void start_job(std::unique_ptr<GenerationJob> job, std::vector<std::pair<std::string, std::string>> headers);
  void wake();
  void on_wake();
  void send_response(HttpResponse r);
  void respond_error_and_close(const ApiError& e);
  void queue(std::string bytes);
  void write_next();
  void on_write(boost::system::error_code ec);
  void on_flushed();
  void begin_linger();
  void on_peer_gone(const char* why);
  void close();
  void arm_timer(std::chrono::milliseconds d);
  void cancel_timer();
  void on_timeout();
  void access_log(int status);

  tcp::socket socket_;
  // A copy, so the engine thread can post wake-ups without touching socket_.
  const boost::asio::any_io_executor executor_;
  ServerContext& ctx_;
  const Router& router_;
  HttpServer* server_;
  uint64_t serial_;
  std::string remote_;

  Phase phase_ = Phase::kIdle;
  std::atomic<bool> answering_{false};  // from a request to its response's last byte written
  bool first_request_ = true;
  std::optional<Parser> parser_;
  boost::beast::flat_buffer buffer_;    // received, not yet parsed
  std::array<char, 16 * 1024> read_chunk_;  // what the pending read fills
  bool reading_ = false;
  size_t linger_bytes_ = 0;

  // Writing: a gather-write of everything queued, one at a time.
  std::vector<std::string> out_pending_, out_inflight_;
  bool writing_ = false;
  bool response_complete_ = false;  // the response is fully queued
  bool close_after_response_ = false;
  bool closed_ = false;

  boost::asio::steady_timer timer_, write_timer_;
  uint64_t timer_gen_ = 0;

  // The request being answered.
  std::unique_ptr<GenerationJob> job_;
  bool streaming_ = false;
  bool chunked_ = true;  // HTTP/1.0 clients get the stream raw, ended by closing
  bool keep_alive_ = true;
  bool http11_ = true;
  std::atomic<bool> wake_pending_{false};
  std::vector<std::pair<std::string, std::string>> pending_headers_;  // for the job's response
  std::string req_method_, req_target_, req_id_;
  int resp_status_ = 0;
  std::chrono::steady_clock::time_point req_start_;
};

}  // namespace sable::server
