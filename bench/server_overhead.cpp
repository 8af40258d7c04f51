// The HTTP server's own cost: time to first token and per-token latency of
// the same requests sent to the engine directly and through `sable serve`'s
// HTTP/SSE path (in-process server, loopback socket), same model, same run,
// alternating so that drift hits both alike.
//
//   build/bench/bench_server_overhead [--requests 30] [--max-tokens 32]
//       [--prompt-len 64] [--model DIR] [--markdown FILE]
//
// Per-token latency is (last token - first token) / (tokens - 1): the decode
// interval a streaming client sees. Also reported: a bare HTTP round trip
// (GET /health) on a kept-alive connection.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <utility>  // Boost 1.74 asio uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend/device_select.h"
#include "core/logging.h"
#include "core/paths.h"
#include "engine/engine.h"
#include "model/presets.h"
#include "model/weight_source.h"
#include "server/engine_client.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

using namespace sable;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Sample {
  double ttft_ms = 0;
  double per_token_ms = 0;
  double e2e_ms = 0;
  int tokens = 0;
};

std::vector<int32_t> make_prompt(int len, int seed) {
  std::vector<int32_t> ids;
  for (int i = 0; i < len; ++i) ids.push_back(1000 + (seed * 7919 + i * 104729) % 50000);
  return ids;
}

Sample run_direct(Engine& engine, const std::vector<int32_t>& prompt, int max_tokens, int i) {
  GenerateRequest req;
  req.request_id = fmt::format("direct-{}", i);
  req.prompt_ids = prompt;
  req.params.max_tokens = max_tokens;
  req.params.temperature = 0;
  req.params.ignore_eos = true;
  auto t0 = Clock::now();
  auto h = engine.submit(req);
  if (!h.is_ok()) throw std::runtime_error(h.status().message());
  std::optional<Clock::time_point> first;
  Clock::time_point last;
  int tokens = 0;
  bool done = false;
  while (!done) {
    (*h)->wait(std::chrono::milliseconds(100));
    for (auto& o : (*h)->poll()) {
      auto now = Clock::now();
      if (!o.token_ids.empty()) {
        if (!first) first = now;
        last = now;
        tokens += int(o.token_ids.size());
      }
      if (o.finish_reason) done = true;
    }
  }
  Sample s;
  s.ttft_ms = ms(*first - t0);
  s.per_token_ms = tokens > 1 ? ms(last - *first) / (tokens - 1) : 0;
  s.e2e_ms = ms(Clock::now() - t0);
  s.tokens = tokens;
  return s;
}

class HttpClient {
 public:
  explicit HttpClient(int port) : sock_(io_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), uint16_t(port)});
    sock_.set_option(asio::ip::tcp::no_delay(true));
  }
  // Streams one completion; times each SSE event as it arrives.
  Sample stream(const std::vector<int32_t>& prompt, int max_tokens) {
    nlohmann::json body = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0},
                           {"ignore_eos", true}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
    std::string b = body.dump();
    std::string req = fmt::format(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        b.size(), b);
    auto t0 = Clock::now();
    asio::write(sock_, asio::buffer(req));
    http::response_parser<http::buffer_body> p;
    p.body_limit(1u << 30);
    http::read_header(sock_, buf_, p);
    std::optional<Clock::time_point> first;
    Clock::time_point last;
    int tokens = 0;
    std::string pending;
    char chunk[8192];
    while (!p.is_done()) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof(chunk);
      boost::system::error_code ec;
      http::read_some(sock_, buf_, p, ec);
      if (ec && ec != http::error::need_buffer) throw std::runtime_error(ec.message());
      size_t n = sizeof(chunk) - p.get().body().size;
      pending.append(chunk, n);
      auto now = Clock::now();
      size_t pos;
      while ((pos = pending.find("\n\n")) != std::string::npos) {
        std::string ev = pending.substr(0, pos);
        pending.erase(0, pos + 2);
        if (ev.rfind("data: {", 0) != 0) continue;
        auto j = nlohmann::json::parse(ev.substr(6));
        if (!j["choices"].empty() && !j["choices"][0]["text"].get<std::string>().empty()) {
          if (!first) first = now;
          last = now;
        }
        if (j.contains("usage") && j["usage"].is_object()) tokens = j["usage"]["completion_tokens"];
      }
    }
    Sample s;
    s.ttft_ms = ms(*first - t0);
    s.per_token_ms = tokens > 1 ? ms(last - *first) / (tokens - 1) : 0;
    s.e2e_ms = ms(Clock::now() - t0);
    s.tokens = tokens;
    return s;
  }
  double health_roundtrip() {
    auto t0 = Clock::now();
    asio::write(sock_, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
    http::response<http::string_body> r;
    http::read(sock_, buf_, r);
    return ms(Clock::now() - t0);
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  boost::beast::flat_buffer buf_;
};

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = size_t(q * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"HTTP server overhead: engine direct vs through sable serve's HTTP/SSE path"};
  int requests = 30, max_tokens = 32, prompt_len = 64;
  std::string model_dir, markdown, device = "cpu";
  app.add_option("--requests", requests, "Requests per path")->capture_default_str();
  app.add_option("--max-tokens", max_tokens, "Tokens per request")->capture_default_str();
  app.add_option("--prompt-len", prompt_len, "Prompt tokens")->capture_default_str();
  app.add_option("--model", model_dir, "Model directory (default: the demo model)");
  app.add_option("--device", device, "cpu | cuda | auto")->capture_default_str();
  app.add_option("--markdown", markdown, "Also write the table to this file");
  CLI11_PARSE(app, argc, argv);
  set_log_level(LogLevel::kWarn);

  auto backend = select_backend_by_name(device);
  if (!backend.is_ok()) return std::fprintf(stderr, "%s\n", backend.status().message().c_str()), 1;
  std::unique_ptr<WeightSource> src;
  if (model_dir.empty()) {
    auto cfg = preset_config("tiny");
    src = std::make_unique<DummyWeightSource>(*cfg, 0);
  } else {
    auto s = open_weight_source(model_dir, "auto", 0);
    if (!s.is_ok()) return std::fprintf(stderr, "%s\n", s.status().message().c_str()), 1;
    src = std::move(s).value();
  }
  auto model = DeepseekV3Model::load(*src, **backend);
  if (!model.is_ok()) return std::fprintf(stderr, "%s\n", model.status().message().c_str()), 1;
  std::shared_ptr<const Tokenizer> tok;
  if (auto t = Tokenizer::load(model_dir.empty() ? find_asset("tokenizers/deepseek-v3") : model_dir); t.is_ok())
    tok = std::move(t).value();
  int64_t vocab = (*model)->config().vocab_size;
  EngineConfig ec;
  ec.max_model_len = prompt_len + max_tokens + 16;
  ec.enable_prefix_caching = false;  // every request pays its prefill on both paths
  auto engine = Engine::create(ec, **model, tok);
  if (!engine.is_ok()) return std::fprintf(stderr, "%s\n", engine.status().message().c_str()), 1;
  (*engine)->start();
  auto client = server::make_engine_client(**engine);

  server::ServerContext ctx;
  ctx.config.host = "127.0.0.1";
  ctx.config.port = 0;
  ctx.config.io_threads = 2;
  ctx.config.served_model_names = {"bench"};
  ctx.config.log_requests = ctx.config.access_log = ctx.config.log_stats = false;
  ctx.engine = client.get();
  ctx.tokenizer = tok;
  server::HttpServer srv(ctx);
  if (Status st = srv.listen(); !st.is_ok()) return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
  std::thread io([&] { srv.run(false); });

  HttpClient hc(srv.port());
  // Warm up both paths (first-touch of weights and KV pages).
  for (int i = 0; i < 2; ++i) {
    run_direct(**engine, make_prompt(prompt_len, 1000 + i), max_tokens, 1000 + i);
    hc.stream(make_prompt(prompt_len, 2000 + i), max_tokens);
  }
  std::vector<Sample> direct, viahttp;
  std::vector<double> health;
  for (int i = 0; i < requests; ++i) {
    // Alternate the order so neither path always runs second.
    auto prompt_a = make_prompt(prompt_len, 2 * i);
    auto prompt_b = make_prompt(prompt_len, 2 * i + 1);
    if (i % 2 == 0) {
      direct.push_back(run_direct(**engine, prompt_a, max_tokens, i));
      viahttp.push_back(hc.stream(prompt_b, max_tokens));
    } else {
      viahttp.push_back(hc.stream(prompt_a, max_tokens));
      direct.push_back(run_direct(**engine, prompt_b, max_tokens, i));
    }
    health.push_back(hc.health_roundtrip());
  }
  srv.shutdown();
  io.join();

  auto col = [](const std::vector<Sample>& v, double Sample::*f) {
    std::vector<double> o;
    for (const auto& s : v) o.push_back(s.*f);
    return o;
  };
  std::string table;
  table += fmt::format("| path | requests | tokens | TTFT p50 (ms) | TTFT p90 (ms) | per-token p50 (ms) | "
                       "per-token p90 (ms) | e2e p50 (ms) |\n|---|---|---|---|---|---|---|---|\n");
  auto row = [&](const char* name, const std::vector<Sample>& v) {
    table += fmt::format("| {} | {} | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.2f} |\n", name, v.size(),
                         v.empty() ? 0 : v[0].tokens, pct(col(v, &Sample::ttft_ms), 0.5),
                         pct(col(v, &Sample::ttft_ms), 0.9), pct(col(v, &Sample::per_token_ms), 0.5),
                         pct(col(v, &Sample::per_token_ms), 0.9), pct(col(v, &Sample::e2e_ms), 0.5));
  };
  row("engine direct", direct);
  row("HTTP + SSE (loopback)", viahttp);
  table += fmt::format("| overhead (HTTP - direct) | | | {:+.3f} | {:+.3f} | {:+.3f} | {:+.3f} | {:+.2f} |\n",
                       pct(col(viahttp, &Sample::ttft_ms), 0.5) - pct(col(direct, &Sample::ttft_ms), 0.5),
                       pct(col(viahttp, &Sample::ttft_ms), 0.9) - pct(col(direct, &Sample::ttft_ms), 0.9),
                       pct(col(viahttp, &Sample::per_token_ms), 0.5) - pct(col(direct, &Sample::per_token_ms), 0.5),
                       pct(col(viahttp, &Sample::per_token_ms), 0.9) - pct(col(direct, &Sample::per_token_ms), 0.9),
                       pct(col(viahttp, &Sample::e2e_ms), 0.5) - pct(col(direct, &Sample::e2e_ms), 0.5));
  std::string extra = fmt::format("\nGET /health round trip on a kept-alive connection: p50 {:.3f} ms, p90 {:.3f} ms\n",
                                  pct(health, 0.5), pct(health, 0.9));
  std::string head = fmt::format("model: {} ({} layers, hidden {}, vocab {}), backend {}, prompt {} tokens, "
                                 "{} tokens per request, greedy, prefix caching off\nCPU: {} ({} threads)\n\n",
                                 model_dir.empty() ? "demo (tiny preset, random weights)" : model_dir,
                                 (*model)->config().num_hidden_layers, (*model)->config().hidden_size, vocab,
                                 (*backend)->name(), prompt_len, max_tokens, cpu_name(),
                                 std::thread::hardware_concurrency());
  std::printf("%s%s%s", head.c_str(), table.c_str(), extra.c_str());
  if (!markdown.empty()) {
    std::ofstream f(markdown, std::ios::app);
    f << head << table << extra;
  }
  (*engine)->shutdown(std::chrono::milliseconds(0));
  return 0;
}
