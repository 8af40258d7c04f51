#include "bench/http_load.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>

#include "bench/progress.h"

namespace sable::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

Result<ServeTarget> parse_base_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) return invalid_argument("--base-url: https is not supported (use http://)");
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  ServeTarget t;
  const size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) t.path_prefix = rest.substr(slash);
  while (!t.path_prefix.empty() && t.path_prefix.back() == '/') t.path_prefix.pop_back();
  // "[::1]:8000", "host:8000", "host"
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string::npos) return invalid_argument("--base-url: bad IPv6 address in " + url);
    t.host = hostport.substr(1, close - 1);
    t.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "80";
  } else {
    const size_t colon = hostport.rfind(':');
    t.host = hostport.substr(0, colon);
    t.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  }
  if (t.host.empty() || t.port.empty()) return invalid_argument("--base-url: no host in " + url);
  return t;
}

std::string request_body(const HttpLoadOptions& o, const BenchPrompt& p) {
  nlohmann::json j;
  j["model"] = o.model;
  if (o.kind == Endpoint::kChatCompletions) {
    j["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", p.text}}});
    j["max_completion_tokens"] = p.output_len;
  } else {
    if (o.send_ids) j["prompt"] = p.ids;
    else j["prompt"] = p.text;
    j["max_tokens"] = p.output_len;
  }
  // Greedy and no penalties, as vLLM's client: sampling costs the same for
  // any temperature, and a fixed request keeps runs comparable.
  j["temperature"] = 0.0;
  j["stream"] = true;
  j["stream_options"] = {{"include_usage", true}};
  if (o.ignore_eos) j["ignore_eos"] = true;
  for (auto& [k, v] : o.extra_body.items()) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// One streaming request on its own connection.
class StreamRequest : public std::enable_shared_from_this<StreamRequest> {
 public:
  using Done = std::function<void(size_t, RequestResult)>;
  StreamRequest(asio::io_context& io, const HttpLoadOptions& o, size_t index, const BenchPrompt& p,
                Clock::time_point t0, int64_t* live_tokens, Done done)
      : o_(o), stream_(io), index_(index), t0_(t0), live_tokens_(live_tokens), done_(std::move(done)) {
    res_.prompt_len = p.prompt_len;
    res_.expected_output_len = p.output_len;
    req_ = http::request<http::string_body>(http::verb::post, o.target.path_prefix + o.endpoint, 11);
    req_.set(http::field::host, o.target.host + ":" + o.target.port);
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::user_agent, "sable-bench");
    if (!o.api_key.empty()) req_.set(http::field::authorization, "Bearer " + o.api_key);
    req_.keep_alive(false);
    req_.body() = request_body(o, p);
    req_.prepare_payload();
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  void start(const tcp::resolver::results_type& endpoints) {
    st_ = Clock::now();
    res_.start_time = seconds(st_ - t0_);
    stream_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.timeout_s)));
    stream_.async_connect(endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return self->fail("connect: " + ec.message());
      http::async_write(self->stream_, self->req_, [self](beast::error_code ec2, size_t) {
        if (ec2) return self->fail("send: " + ec2.message());
        http::async_read_header(self->stream_, self->buf_, self->parser_,
                                [self](beast::error_code ec3, size_t) { self->on_header(ec3); });
      });
    });
  }

 private:
  void on_header(beast::error_code ec) {
    if (ec) return fail("response: " + ec.message());
    const unsigned status = parser_.get().result_int();
    if (status != 200) {
      // Read the error body for the message, then fail.
      http::async_read(stream_, buf_, parser_, [self = shared_from_this(), status](beast::error_code, size_t) {
        std::string body = self->parser_.get().body().substr(0, 500);
        self->fail("HTTP " + std::to_string(status) + ": " + body);
      });
      return;
    }
    on_data(beast::error_code());
  }

  void on_data(beast::error_code ec) {
    // Every event parsed from one read gets that read's time, as a client
    // iterating over the socket's chunks would see them.
    consume(Clock::now());
    if (parser_.is_done() || ec == http::error::end_of_stream) return finish();
    if (ec) return fail("stream: " + ec.message());
    if (!error_.empty() || saw_done_) return finish();
    http::async_read_some(stream_, buf_, parser_,
                          [self = shared_from_this()](beast::error_code e, size_t) { self->on_data(e); });
  }

  void consume(Clock::time_point now) {
    std::string& body = parser_.get().body();
    if (body.empty()) return;
    events_.clear();
    sse_.feed(body, events_);
    // The parser appends at the body's current end, so what was fed can go.
    body.clear();
    for (const std::string& ev : events_) {
      ChunkInfo c = classify_chunk(ev, o_.kind);
      if (!c.error.empty()) {
        if (error_.empty()) error_ = c.error;
        continue;
      }
      if (c.done) saw_done_ = true;
      if (c.completion_tokens) usage_completion_ = *c.completion_tokens;
      if (c.prompt_tokens) res_.server_prompt_tokens = *c.prompt_tokens;
      if (!c.has_token) continue;
      if (token_chunks_ == 0) res_.ttft = seconds(now - st_);
      else res_.itl.push_back(seconds(now - last_token_));
      last_token_ = now;
      ++token_chunks_;
      ++*live_tokens_;
    }
  }

  void finish() {
    if (token_chunks_ == 0 && error_.empty()) error_ = "the stream ended without a token";
    res_.success = error_.empty();
    res_.error = error_;
    res_.latency = token_chunks_ > 0 ? seconds(last_token_ - st_) : 0;
    // The server's usage is the token count; without it each token chunk
    // counts as one token (a server that batches tokens per chunk and sends
    // no usage would be undercounted; vLLM re-tokenizes the text instead).
    res_.output_tokens = usage_completion_ >= 0 ? usage_completion_ : token_chunks_;
    deliver();
  }

  void fail(const std::string& what) {
    if (error_.empty()) error_ = what;
    res_.success = false;
    res_.error = error_;
    deliver();
  }

  void deliver() {
    if (delivered_) return;
    delivered_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    done_(index_, std::move(res_));
  }

  const HttpLoadOptions& o_;
  beast::tcp_stream stream_;
  size_t index_;
  Clock::time_point t0_, st_, last_token_;
  int64_t* live_tokens_;
  Done done_;
  http::request<http::string_body> req_;
  beast::flat_buffer buf_;
  http::response_parser<http::string_body> parser_;
  SseParser sse_;
  std::vector<std::string> events_;
  RequestResult res_;
  std::string error_;
  int token_chunks_ = 0;
  int usage_completion_ = -1;
  bool saw_done_ = false, delivered_ = false;
};

// Sends requests at their arrival times within the concurrency limit and
// collects their results; everything runs on the io_context's one thread.
class LoadDriver {
 public:
  LoadDriver(const HttpLoadOptions& o, const std::vector<BenchPrompt>& prompts)
      : o_(o), prompts_(prompts), arrival_timer_(io_), tick_timer_(io_),
        progress_(int(prompts.size()), o.progress, o.label) {
    out_.results.resize(prompts.size());
  }

  LoadOutcome run() {
    tcp::resolver resolver(io_);
    beast::error_code ec;
    endpoints_ = resolver.resolve(o_.target.host, o_.target.port, ec);
    if (ec) {
      for (auto& r : out_.results) r.error = "resolve " + o_.target.host + ": " + ec.message();
      return std::move(out_);
    }
    t0_ = Clock::now();
    schedule_arrivals();
    tick();
    io_.run();
    out_.duration_s = seconds(end_ - t0_);
    progress_.finish(out_.duration_s);
    return std::move(out_);
  }

 private:
  void schedule_arrivals() {
    // Everything due by now arrives at once; then sleep until the next.
    const double now = seconds(Clock::now() - t0_);
    while (next_ < prompts_.size() && arrival(next_) <= now) ready_.push_back(next_++);
    launch();
    if (next_ >= prompts_.size()) return;
    arrival_timer_.expires_at(t0_ + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(arrival(next_))));
    arrival_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) schedule_arrivals();
    });
  }

  double arrival(size_t i) const { return i < o_.arrivals.size() ? o_.arrivals[i] : 0.0; }

  void launch() {
    while (!ready_.empty() && (o_.max_concurrency <= 0 || in_flight_ < o_.max_concurrency)) {
      const size_t i = ready_.front();
      ready_.pop_front();
      ++in_flight_;
      auto r = std::make_shared<StreamRequest>(io_, o_, i, prompts_[i], t0_, &live_tokens_,
                                               [this](size_t idx, RequestResult res) { on_done(idx, std::move(res)); });
      r->start(endpoints_);
    }
  }

  void on_done(size_t i, RequestResult res) {
    if (res.success) output_tokens_ += res.output_tokens;
    out_.results[i] = std::move(res);
    --in_flight_;
    ++done_;
    end_ = Clock::now();
    progress_.update(done_, in_flight_, live_tokens_, seconds(end_ - t0_));
    if (done_ == int(prompts_.size())) {
      arrival_timer_.cancel();
      tick_timer_.cancel();
      return;
    }
    // Post rather than launch here: the finished request is still on the stack.
    asio::post(io_, [this] { launch(); });
  }

  // Redraws the bar while long requests run (a 100K-token prompt may take a
  // minute to its first token).
  void tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(500));
    tick_timer_.async_wait([this](beast::error_code ec) {
      if (ec || done_ == int(prompts_.size())) return;
      progress_.update(done_, in_flight_, live_tokens_, seconds(Clock::now() - t0_));
      tick();
    });
  }

  const HttpLoadOptions& o_;
  const std::vector<BenchPrompt>& prompts_;
  asio::io_context io_;
  tcp::resolver::results_type endpoints_;
  asio::steady_timer arrival_timer_, tick_timer_;
  ProgressBar progress_;
  LoadOutcome out_;
  Clock::time_point t0_, end_;
  std::deque<size_t> ready_;
  size_t next_ = 0;
  int in_flight_ = 0, done_ = 0;
  int64_t live_tokens_ = 0, output_tokens_ = 0;
};

}  // namespace

Result<std::string> http_get(const ServeTarget& t, const std::string& path, const std::string& api_key,
                             double timeout_s) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto eps = resolver.resolve(t.host, t.port, ec);
  if (ec) return unavailable("resolve " + t.host + ": " + ec.message());
  stream.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s)));
  http::request<http::empty_body> req(http::verb::get, t.path_prefix + path, 11);
  req.set(http::field::host, t.host + ":" + t.port);
  if (!api_key.empty()) req.set(http::field::authorization, "Bearer " + api_key);
  req.keep_alive(false);
  http::response<http::string_body> res;
  beast::flat_buffer buf;
  // Run the blocking steps through the io_context so the timeout applies.
  stream.async_connect(eps, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) { ec = e; return; }
    http::async_write(stream, req, [&](beast::error_code e2, size_t) {
      if (e2) { ec = e2; return; }
      http::async_read(stream, buf, res, [&](beast::error_code e3, size_t) { ec = e3; });
    });
  });
  io.run();
  if (ec && ec != http::error::end_of_stream) return unavailable("GET " + path + ": " + ec.message());
  if (res.result_int() != 200)
    return unavailable("GET " + path + ": HTTP " + std::to_string(res.result_int()) + " " + res.body().substr(0, 300));
  return res.body();
}

LoadOutcome run_http_load(const HttpLoadOptions& o, const std::vector<BenchPrompt>& prompts) {
  if (prompts.empty()) return {};
  LoadDriver d(o, prompts);
  return d.run();
}

}  // namespace sable::bench
