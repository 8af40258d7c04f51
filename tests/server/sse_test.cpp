// SSE and HTTP framing, auth, and the Prometheus exposition.
#include <gtest/gtest.h>

#include "server/auth.h"
#include "server/http_message.h"
#include "server/metrics_endpoint.h"
#include "server/sse.h"

namespace sable::server {
namespace {

TEST(SseTest, EventFraming) {
  nlohmann::ordered_json j;
  j["text"] = "a\nb";
  std::string ev = sse_event(j);
  EXPECT_EQ(ev, "data: {\"text\":\"a\\nb\"}\n\n");  // one data line: the newline is escaped
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
  nlohmann::ordered_json bad;
  bad["text"] = std::string("\xff");
  EXPECT_EQ(sse_event(bad), "data: {\"text\":\"\xEF\xBF\xBD\"}\n\n");  // replaced, not thrown
}

TEST(SseTest, ChunkedFraming) {
  EXPECT_EQ(http_chunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(http_chunk(std::string(300, 'x')).substr(0, 5), "12c\r\n");
  EXPECT_EQ(http_chunk(""), "");  // never a premature last-chunk
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
  std::string head = serialize_stream_head(200, kSseContentType, {{"x-request-id", "abc"}});
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("transfer-encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(head.find("content-type: text/event-stream"), std::string::npos);
  EXPECT_NE(head.find("x-request-id: abc\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST(HttpMessageTest, Response) {
  HttpResponse r = HttpResponse::json(404, "{}");
  r.close = true;
  r.set_header("allow", "GET");
  std::string s = serialize_response(r);
  EXPECT_EQ(s.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_NE(s.find("content-length: 2\r\n"), std::string::npos);
  EXPECT_NE(s.find("connection: close\r\n"), std::string::npos);
  EXPECT_NE(s.find("allow: GET\r\n"), std::string::npos);
  EXPECT_EQ(s.substr(s.size() - 6), "\r\n\r\n{}");
}

TEST(AuthTest, ConstantTimeCompareAndBearer) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secreT", "secret"));
  EXPECT_FALSE(constant_time_equal("secret1", "secret"));
  EXPECT_FALSE(constant_time_equal("", "secret"));
  EXPECT_FALSE(constant_time_equal("secre", "secret"));
  std::vector<std::string> keys = {"k1", "k2"};
  EXPECT_TRUE(authorized(keys, "Bearer k1"));
  EXPECT_TRUE(authorized(keys, "bearer k2"));
  EXPECT_FALSE(authorized(keys, "Bearer k3"));
  EXPECT_FALSE(authorized(keys, "k1"));
  EXPECT_FALSE(authorized(keys, ""));
  EXPECT_FALSE(authorized(keys, "Basic k1"));
  EXPECT_TRUE(authorized({}, ""));
  EXPECT_TRUE(is_open_path("/health"));
  EXPECT_TRUE(is_open_path("/metrics"));
  EXPECT_TRUE(is_open_path("/load"));
  EXPECT_FALSE(is_open_path("/v1/models"));
}

TEST(MetricsTest, PrometheusNamesAndLabels) {
  EngineMetrics m;
  m.prompt_tokens = 12;
  m.generation_tokens = 34;
  m.success_stop = 2;
  m.time_to_first_token.observe(0.02);
  EngineGauges g;
  g.num_requests_running = 3;
  g.kv_cache_usage = 0.25;
  std::string text = render_prometheus("my \"model\"", g, &m, nullptr);
  const std::string labels = "{engine=\"0\",model_name=\"my \\\"model\\\"\"}";
  EXPECT_NE(text.find("vllm:num_requests_running" + labels + " 3.0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vllm:kv_cache_usage_perc" + labels + " 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:gpu_cache_usage_perc" + labels + " 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:prompt_tokens_total" + labels + " 12.0\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:generation_tokens_total" + labels + " 34.0\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE vllm:time_to_first_token_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_count" + labels + " 1.0\n"), std::string::npos);
  EXPECT_NE(text.find("le=\"+Inf\"} 1.0\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:request_success_total{engine=\"0\",model_name=\"my \\\"model\\\"\",finished_reason=\"stop\"} 2.0"),
            std::string::npos);
  for (const char* name : {"vllm:num_requests_waiting", "vllm:inter_token_latency_seconds",
                           "vllm:e2e_request_latency_seconds", "vllm:prefix_cache_queries_total",
                           "vllm:prefix_cache_hits_total", "vllm:num_preemptions_total",
                           "vllm:time_per_output_token_seconds"})
    EXPECT_NE(text.find(std::string("# TYPE ") + name), std::string::npos) << name;
  // Every sample line is "name{labels} value".
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_NE(line.find("} "), std::string::npos) << line;
  }
}

TEST(MetricsTest, Numbers) {
  EXPECT_EQ(prom_number(1), "1.0");
  EXPECT_EQ(prom_number(0.005), "0.005");
  EXPECT_EQ(prom_number(1.0 / 0.0), "+Inf");
  EXPECT_EQ(prom_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace sable::server
