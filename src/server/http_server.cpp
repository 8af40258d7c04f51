#include "server/http_server.h"

#include <fmt/format.h>

#include "core/logging.h"
#include "server/connection.h"

namespace sable::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

HttpServer::HttpServer(ServerContext& ctx)
    : ctx_(ctx),
      router_(ctx),
      io_(std::max(1, ctx.config.io_threads)),
      strand_(asio::make_strand(io_)),
      acceptor_(strand_),
      signals_(strand_),
      accept_retry_(strand_),
      drain_timer_(strand_),
      stats_timer_(strand_) {}

HttpServer::~HttpServer() {
  if (drain_thread_.joinable()) drain_thread_.join();
}

Status HttpServer::listen() {
  error_code ec;
  tcp::resolver resolver(io_);
  std::string host = ctx_.config.host.empty() ? "0.0.0.0" : ctx_.config.host;
  auto results = resolver.resolve(host, std::to_string(ctx_.config.port), tcp::resolver::passive, ec);
  if (ec || results.empty())
    return invalid_argument(fmt::format("cannot resolve --host '{}': {}", host, ec.message()));
  tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);  // "::" takes IPv4 too
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return unavailable(fmt::format("cannot listen on {}:{}: {}", host, ctx_.config.port, ec.message()));
  port_ = acceptor_.local_endpoint().port();
  LOG_INFO("Sable server listening on http://{}:{} (model '{}', {} HTTP threads)", host, port_, ctx_.model_name(),
           ctx_.config.io_threads);
  return Status::ok();
}

void HttpServer::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](error_code ec, tcp::socket sock) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors and the like: back off rather than spin.
      LOG_WARN("accept failed: {}", ec.message());
      accept_retry_.expires_after(std::chrono::milliseconds(100));
      accept_retry_.async_wait([this](error_code e) {
        if (!e) do_accept();
      });
      return;
    }
    auto conn = std::make_shared<Connection>(std::move(sock), ctx_, router_, this);
    {
      std::lock_guard<std::mutex> lk(mu_);
      conns_[conn->serial()] = conn;
    }
    conn->start();
    do_accept();
  });
}

void HttpServer::remove_connection(uint64_t serial) {
  std::lock_guard<std::mutex> lk(mu_);
  conns_.erase(serial);
}

size_t HttpServer::num_connections() {
  std::lock_guard<std::mutex> lk(mu_);
  return conns_.size();
}

void HttpServer::wait_signal() {
  signals_.async_wait([this](error_code ec, int sig) {
    if (ec) return;
    LOG_INFO("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
    begin_drain();
    wait_signal();
  });
}

void HttpServer::run(bool handle_signals) {
  if (handle_signals) {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    wait_signal();
  }
  do_accept();
  log_stats();
  std::vector<std::thread> threads;
  for (int i = 1; i < ctx_.config.io_threads; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads) t.join();
  if (drain_thread_.joinable()) drain_thread_.join();
}

void HttpServer::shutdown() {
  asio::post(strand_, [this] { begin_drain(); });
}

void HttpServer::begin_drain() {
  if (draining_.exchange(true)) {
    // Second signal: no more waiting.
    if (forced_.exchange(true)) return;
    LOG_WARN("shutting down now: aborting every request");
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (auto& [id, w] : conns_)
        if (auto c = w.lock()) live.push_back(c);
    }
    for (auto& c : live) c->force_close();
    return;
  }
  ctx_.draining.store(true);
  error_code ec;
  acceptor_.close(ec);
  stats_timer_.cancel();
  int64_t active = ctx_.active_generations.load();
  LOG_INFO("shutting down: no new connections; waiting up to {:.0f} s for {} running request(s)",
           std::chrono::duration<double>(ctx_.config.shutdown_timeout).count(), active);
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [id, w] : conns_)
      if (auto c = w.lock()) live.push_back(c);
  }
  for (auto& c : live) c->close_if_idle();
  // The engine's shutdown blocks while requests finish: run it off the io
  // threads, which must keep streaming their outputs meanwhile.
  drain_thread_ = std::thread([this] {
    ctx_.engine->shutdown(ctx_.config.shutdown_timeout);
    asio::post(strand_, [this] { finish_drain(std::chrono::steady_clock::now() + std::chrono::seconds(5)); });
  });
}

// The engine is stopped and every request has its final output; wait for
// the connections to write them, then stop. A generation ends when its
// last output is queued on the connection, not when a slow reader has
// received it: closing then would cut the stream after (or before) its
// [DONE], so the wait is for every response's last byte to be written.
void HttpServer::finish_drain(std::chrono::steady_clock::time_point deadline) {
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [id, w] : conns_)
      if (auto c = w.lock()) live.push_back(c);
  }
  size_t answering = 0;
  for (auto& c : live) answering += c->answering() ? 1 : 0;
  bool idle = ctx_.active_generations.load() == 0 && answering == 0;
  if (!idle && std::chrono::steady_clock::now() < deadline) {
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this, deadline](error_code ec) {
      if (!ec) finish_drain(deadline);
    });
    return;
  }
  if (!idle)
    LOG_WARN("shutting down: closing {} connection(s) whose clients have not read their whole response", answering);
  for (auto& c : live) c->force_close();
  // Give the closes (and any last writes) a moment to run, then stop.
  drain_timer_.expires_after(std::chrono::milliseconds(50));
  drain_timer_.async_wait([this](error_code) {
    signals_.cancel();
    LOG_INFO("server stopped");
    io_.stop();
  });
}

void HttpServer::log_stats() {
  if (!ctx_.config.log_stats || draining_.load()) return;
  stats_timer_.expires_after(ctx_.config.stats_interval);
  stats_timer_.async_wait([this](error_code ec) {
    if (ec) return;
    EngineGauges g = ctx_.engine->gauges();
    uint64_t prompt = 0, gen = 0;
    if (EngineMetrics* m = ctx_.engine->metrics()) {
      prompt = m->prompt_tokens.load();
      gen = m->generation_tokens.load();
    }
    auto now = std::chrono::steady_clock::now();
    double secs = std::max(1e-3, std::chrono::duration<double>(now - last_stats_).count());
    bool busy = g.num_requests_running > 0 || g.num_requests_waiting > 0 || prompt != last_prompt_tokens_ ||
                gen != last_gen_tokens_;
    if (busy)
      LOG_INFO("Avg prompt throughput: {:.1f} tokens/s, Avg generation throughput: {:.1f} tokens/s, Running: {} "
               "reqs, Waiting: {} reqs, KV cache usage: {:.1f}%",
               double(prompt - last_prompt_tokens_) / secs, double(gen - last_gen_tokens_) / secs,
               g.num_requests_running, g.num_requests_waiting, 100.0 * g.kv_cache_usage);
    if (busy)
      if (EngineMetrics* m = ctx_.engine->metrics())
        if (std::string spec = spec_decode_summary(*m); !spec.empty()) LOG_INFO("{}", spec);
    last_prompt_tokens_ = prompt;
    last_gen_tokens_ = gen;
    last_stats_ = now;
    log_stats();
  });
}

}  // namespace sable::server
