// The HTTP server: one io_context run by a few threads, an acceptor, the
// live connections, and the graceful drain on SIGTERM/SIGINT:
//   1. stop accepting; /health turns 503; idle keep-alive connections close;
//      new generation requests on open connections get 503;
//   2. the engine finishes running requests for up to --shutdown-timeout,
//      then aborts the rest (their streams end with finish_reason "abort");
//   3. responses flush, connections close, run() returns.
// A second signal skips the wait: every request is aborted at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <utility>  // Boost 1.74 asio uses std::exchange without including it

#include <boost/asio.hpp>

#include "core/status.h"
#include "server/router.h"
#include "server/server_context.h"

namespace sable::server {

class Connection;

class HttpServer {
 public:
  explicit HttpServer(ServerContext& ctx);
  ~HttpServer();

  // Binds and listens on ctx.config.host:port (port 0 picks a free one).
  Status listen();
  int port() const { return port_; }
  // Runs the io threads until the drain completes. With handle_signals,
  // SIGINT and SIGTERM start the drain.
  void run(bool handle_signals = true);
  // Starts the drain from any thread (as a signal does).
  void shutdown();

  // Connections call this when they close.
  void remove_connection(uint64_t serial);
  size_t num_connections();

 private:
  void do_accept();
  void wait_signal();
  void begin_drain();
  void finish_drain(std::chrono::steady_clock::time_point deadline);
  void log_stats();

  ServerContext& ctx_;
  Router router_;
  boost::asio::io_context io_;
  // The acceptor, signals, timers and drain steps run on this strand.
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer accept_retry_, drain_timer_, stats_timer_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> forced_{false};
  std::thread drain_thread_;

  std::mutex mu_;  // guards conns_
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> conns_;

  // For the periodic stats line.
  uint64_t last_prompt_tokens_ = 0, last_gen_tokens_ = 0;
  std::chrono::steady_clock::time_point last_stats_ = std::chrono::steady_clock::now();
};

}  // namespace sable::server
