#include "server/connection.h"

#include <fmt/format.h>

#include "core/logging.h"
#include "server/http_server.h"
#include "server/router.h"
#include "server/sse.h"

namespace sable::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {
constexpr size_t kMaxPipelinedBytes = 64 * 1024;   // buffered while answering
constexpr size_t kMaxLingerBytes = 64u << 20;      // discarded after an error before closing
constexpr std::chrono::milliseconds kLingerTime{2000};
std::atomic<uint64_t> g_serial{0};

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = char(std::tolower(static_cast<unsigned char>(c)));
  return o;
}
}  // namespace

Connection::Connection(tcp::socket socket, ServerContext& ctx, const Router& router, HttpServer* server)
    : socket_(std::move(socket)),
      executor_(socket_.get_executor()),
      ctx_(ctx),
      router_(router),
      server_(server),
      serial_(g_serial.fetch_add(1)),
      timer_(executor_),
      write_timer_(executor_) {
  error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) remote_ = fmt::format("{}:{}", ep.address().to_string(), ep.port());
  // SSE chunks are small and latency matters more than packet count.
  socket_.set_option(tcp::no_delay(true), ec);
}

Connection::~Connection() = default;

void Connection::start() {
  asio::dispatch(executor_, [self = shared_from_this()] {
    self->reset_parser();
    self->phase_ = Phase::kIdle;
    // A new connection gets the header timeout to send its first request.
    self->arm_timer(self->ctx_.config.header_timeout);
    self->start_read();
  });
}

void Connection::close_if_idle() {
  asio::post(executor_, [self = shared_from_this()] {
    if (!self->closed_ && self->phase_ == Phase::kIdle && !self->writing_) self->close();
  });
}

void Connection::force_close() {
  asio::post(executor_, [self = shared_from_this()] {
    if (self->job_) {
      self->job_->abort();
      self->job_.reset();
    }
    self->close();
  });
}

void Connection::reset_parser() {
  parser_.emplace();
  parser_->header_limit(ctx_.config.max_header_bytes);
  parser_->body_limit(ctx_.config.max_body_bytes);
}

// ------------------------------------------------------------------ reading

void Connection::start_read() {
  if (reading_ || closed_) return;
  // While answering, watch the socket but hold at most a little input.
  if (phase_ == Phase::kProcessing && buffer_.size() >= kMaxPipelinedBytes) return;
  reading_ = true;
  // Read into a buffer of our own: buffer_ is parsed and consumed while this
  // read is pending, which would move the region a prepare() handed out.
  socket_.async_read_some(asio::buffer(read_chunk_),
                          [self = shared_from_this()](error_code ec, size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(error_code ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    if (phase_ == Phase::kProcessing) on_peer_gone(ec == asio::error::eof ? "closed the connection" : "reset");
    else close();
    return;
  }
  buffer_.commit(asio::buffer_copy(buffer_.prepare(n), asio::buffer(read_chunk_.data(), n)));
  switch (phase_) {
    case Phase::kLinger:
      linger_bytes_ += buffer_.size();
      buffer_.consume(buffer_.size());
      if (linger_bytes_ > kMaxLingerBytes) close();
      else start_read();
      return;
    case Phase::kProcessing:
      start_read();  // keep watching; the bytes wait for the next request
      return;
    case Phase::kIdle:
      phase_ = Phase::kHeaders;
      req_start_ = std::chrono::steady_clock::now();
      arm_timer(ctx_.config.header_timeout);
      [[fallthrough]];
    case Phase::kHeaders:
    case Phase::kBody:
      parse_buffered();
      return;
  }
}

void Connection::parse_buffered() {
  while (buffer_.size() > 0 && (phase_ == Phase::kHeaders || phase_ == Phase::kBody)) {
    error_code ec;
    size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      on_parse_error(ec);
      return;
    }
    if (phase_ == Phase::kHeaders && parser_->is_header_done() && !on_headers_done()) return;
    if (parser_->is_done()) {
      on_request();
      return;
    }
    if (used == 0) break;
  }
  // A header with no body may be complete without further input.
  if (phase_ == Phase::kHeaders && parser_->is_header_done()) {
    if (!on_headers_done()) return;
    if (parser_->is_done()) {
      on_request();
      return;
    }
  }
  if (phase_ == Phase::kHeaders || phase_ == Phase::kBody) start_read();
}

bool Connection::on_headers_done() {
  phase_ = Phase::kBody;
  arm_timer(ctx_.config.body_timeout);
  const auto& h = parser_->get();
  size_t count = size_t(std::distance(h.begin(), h.end()));
  if (count > ctx_.config.max_header_count) {
    respond_error_and_close(ApiError::headers_too_large(
        fmt::format("The request has {} header fields; at most {} are allowed.", count, ctx_.config.max_header_count)));
    return false;
  }
  auto expect = h[http::field::expect];
  if (!parser_->is_done() && lower(std::string_view(expect.data(), expect.size())) == "100-continue")
    queue("HTTP/1.1 100 Continue\r\n\r\n");
  return true;
}

void Connection::on_parse_error(error_code ec) {
  if (ec == http::error::header_limit) {
    respond_error_and_close(ApiError::headers_too_large(fmt::format(
        "The request line and headers exceed {} bytes.", ctx_.config.max_header_bytes)));
  } else if (ec == http::error::body_limit) {
    respond_error_and_close(ApiError::payload_too_large(fmt::format(
        "The request body exceeds the limit of {} bytes (--max-request-body-bytes).", ctx_.config.max_body_bytes)));
  } else {
    respond_error_and_close(ApiError::bad_request("Malformed HTTP request: " + ec.message()));
  }
}

// --------------------------------------------------------------- answering

void Connection::on_request() {
  cancel_timer();
  phase_ = Phase::kProcessing;
  answering_.store(true);
  auto msg = parser_->release();
  reset_parser();
  first_request_ = false;

  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  req.version = int(msg.version());
  for (const auto& f : msg) {
    auto name = f.name_string();
    auto value = f.value();
    req.headers.emplace_back(lower(std::string_view(name.data(), name.size())), std::string(value.data(), value.size()));
  }
  req.body = std::move(msg.body());
  req.remote = remote_;
  keep_alive_ = msg.keep_alive() && !ctx_.draining.load();
  http11_ = msg.version() >= 11;
  req_method_ = req.method;
  req_target_ = req.target;

  RequestInfo info;
  HandlerResult res = router_.dispatch(req, info);
  req_id_ = info.base_id;
  start_read();  // notice a client that leaves while we answer
  if (res.job) start_job(std::move(res.job), std::move(res.response.headers));
  else send_response(std::move(res.response));
}

void Connection::start_job(std::unique_ptr<GenerationJob> job,
                           std::vector<std::pair<std::string, std::string>> headers) {
  job_ = std::move(job);
  streaming_ = job_->streaming();
  pending_headers_ = std::move(headers);
  if (streaming_) {
    resp_status_ = 200;
    // HTTP/1.0 has no chunked encoding: send the events raw and close.
    chunked_ = http11_;
    if (!chunked_) keep_alive_ = false;
    queue(serialize_stream_head(200, kSseContentType, pending_headers_, chunked_));
  }
  std::weak_ptr<Connection> weak = weak_from_this();
  job_->set_wake([weak] {
    if (auto c = weak.lock()) c->wake();
  });
  on_wake();  // outputs that came before the wake-up was set
}

void Connection::wake() {
  if (wake_pending_.exchange(true)) return;  // one post covers many outputs
  asio::post(executor_, [self = shared_from_this()] {
    self->wake_pending_.store(false);
    self->on_wake();
  });
}

void Connection::on_wake() {
  if (!job_ || closed_) return;
  GenerationJob::Step step = job_->pump();
  if (streaming_) {
    if (!step.sse.empty()) queue(chunked_ ? http_chunk(step.sse) : std::move(step.sse));
    if (step.done) {
      job_.reset();
      streaming_ = false;
      close_after_response_ = !keep_alive_ || ctx_.draining.load();
      if (chunked_) queue(std::string(kLastChunk));
      response_complete_ = true;
      access_log(200);
      if (!writing_) on_flushed();
    }
  } else if (step.done) {
    job_.reset();
    HttpResponse r = step.response ? std::move(*step.response)
                                   : Router::error_response(ApiError::internal("the request ended without a response"));
    for (auto& [k, v] : pending_headers_) r.set_header(k, v);
    send_response(std::move(r));
  }
}

void Connection::send_response(HttpResponse r) {
  if (!keep_alive_ || ctx_.draining.load()) r.close = true;
  close_after_response_ = r.close;
  if (req_id_.empty()) {
    req_id_ = random_hex_id();
    r.set_header("x-request-id", req_id_);
  }
  queue(serialize_response(r));
  response_complete_ = true;
  access_log(r.status);
  if (!writing_) on_flushed();
}

void Connection::respond_error_and_close(const ApiError& e) {
  cancel_timer();
  phase_ = Phase::kProcessing;
  answering_.store(true);
  keep_alive_ = false;
  req_id_.clear();
  if (parser_ && parser_->is_header_done()) {
    req_method_ = std::string(parser_->get().method_string());
    req_target_ = std::string(parser_->get().target());
  } else {
    req_method_ = "-";
    req_target_ = "-";
  }
  HttpResponse r = Router::error_response(e);
  r.close = true;
  send_response(std::move(r));
}

void Connection::access_log(int status) {
  if (!ctx_.config.access_log) return;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - req_start_).count();
  bool quiet = req_target_ == "/health" || req_target_ == "/metrics" || req_target_ == "/ping";
  if (quiet && status < 400) {
    LOG_DEBUG("{} - \"{} {}\" {} {:.1f} ms", remote_, req_method_, req_target_, status, ms);
  } else {
    LOG_INFO("{} - \"{} {}\" {} {} [{}] {:.1f} ms", remote_, req_method_, req_target_, status, http_reason(status),
             req_id_, ms);
  }
}

// ----------------------------------------------------------------- writing

void Connection::queue(std::string bytes) {
  if (closed_ || bytes.empty()) return;
  out_pending_.push_back(std::move(bytes));
  if (!writing_) write_next();
}

void Connection::write_next() {
  if (out_pending_.empty()) return;
  writing_ = true;
  out_inflight_.swap(out_pending_);
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(out_inflight_.size());
  for (const auto& s : out_inflight_) bufs.emplace_back(asio::buffer(s));
  write_timer_.expires_after(ctx_.config.write_timeout);
  write_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec && self->writing_) self->on_peer_gone("stopped reading (write timeout)");
  });
  asio::async_write(socket_, bufs, [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
}

void Connection::on_write(error_code ec) {
  writing_ = false;
  out_inflight_.clear();
  write_timer_.cancel();
  if (closed_) return;
  if (ec) {
    on_peer_gone("write failed");
    return;
  }
  if (!out_pending_.empty()) {
    write_next();
    return;
  }
  on_flushed();
}

void Connection::on_flushed() {
  if (!response_complete_ || writing_ || closed_) return;
  response_complete_ = false;
  answering_.store(false);
  req_id_.clear();
  pending_headers_.clear();
  if (close_after_response_ || ctx_.draining.load()) {
    begin_linger();
    return;
  }
  // Keep-alive: the next request, perhaps already buffered.
  phase_ = Phase::kIdle;
  if (buffer_.size() > 0) {
    phase_ = Phase::kHeaders;
    req_start_ = std::chrono::steady_clock::now();
    arm_timer(ctx_.config.header_timeout);
    parse_buffered();
  } else {
    arm_timer(ctx_.config.keep_alive_timeout);
    start_read();
  }
}

// Closing after an error response without reading the rest of the request
// would make the kernel reset the connection, and the client could lose the
// response. So: stop sending, read and discard until the client closes (or
// a short while passes), then close.
void Connection::begin_linger() {
  phase_ = Phase::kLinger;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  buffer_.consume(buffer_.size());
  arm_timer(kLingerTime);
  start_read();
}

void Connection::on_peer_gone(const char* why) {
  if (closed_) return;
  if (job_) {
    LOG_INFO("{}: client {} {}; aborting the request", job_->id(), remote_, why);
    job_->abort();
    job_.reset();
  }
  close();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  answering_.store(false);
  if (job_) {
    job_->abort();
    job_.reset();
  }
  cancel_timer();
  write_timer_.cancel();
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  if (server_) server_->remove_connection(serial_);
}

// ------------------------------------------------------------------ timers

void Connection::arm_timer(std::chrono::milliseconds d) {
  uint64_t gen = ++timer_gen_;
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
    if (ec || gen != self->timer_gen_ || self->closed_) return;
    self->on_timeout();
  });
}

void Connection::cancel_timer() {
  ++timer_gen_;
  timer_.cancel();
}

void Connection::on_timeout() {
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kLinger:
      close();
      return;
    case Phase::kHeaders:
      respond_error_and_close(ApiError::request_timeout("Timed out waiting for the request headers."));
      return;
    case Phase::kBody:
      respond_error_and_close(ApiError::request_timeout("Timed out waiting for the request body."));
      return;
    case Phase::kProcessing:
      return;
  }
}

}  // namespace sable::server
