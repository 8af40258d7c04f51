// Requests end cleanly however they end: finished, aborted, preempted,
// rejected; every block returns to the pool.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine/engine_util.h"

namespace sable {
namespace {

using testing::tiny_model;

std::vector<int32_t> prompt(int len, int salt) {
  std::vector<int32_t> ids;
  for (int j = 0; j < len; ++j) ids.push_back(int32_t((salt * 97 + j * 31) % 1000 + 2));
  return ids;
}

TEST(EngineLifecycle, AbortFreesBlocksAtOnce) {
  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  auto h = (*e)->submit([] {
    auto r = testing::greedy_request(prompt(40, 1), 100);
    r.request_id = "a";
    return r;
  }());
  ASSERT_TRUE(h.is_ok());
  (*e)->step();
  (*e)->step();
  EXPECT_GT((*e)->gauges().kv_cache_usage, 0.0);
  (*e)->abort("a");
  (*e)->step();
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
  auto res = testing::gather(**h);
  EXPECT_EQ(res[0].finish, "abort");
  EXPECT_TRUE((*h)->done());
}

TEST(EngineLifecycle, PreemptionStormWithAbortsLeaksNothing) {
  EngineConfig cfg = testing::small_engine_config();
  cfg.num_kv_blocks = 20;
  cfg.max_num_batched_tokens = 64;
  auto e = Engine::create(cfg, *tiny_model().model, nullptr);
  std::mt19937 rng(3);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 40; ++i) {
    auto r = testing::greedy_request(prompt(5 + int(rng() % 60), i), 1 + int(rng() % 30));
    r.request_id = "r" + std::to_string(i);
    if (i % 5 == 0) { r.params.n = 3; r.params.temperature = 1; r.params.seed = uint64_t(i); }
    auto h = (*e)->submit(r);
    ASSERT_TRUE(h.is_ok()) << h.status().to_string();
    hs.push_back(*h);
  }
  int steps = 0;
  while ((*e)->step()) {
    if (++steps % 7 == 0) (*e)->abort("r" + std::to_string(rng() % 40));
    ASSERT_LT(steps, 100000);
  }
  EXPECT_GT((*e)->metrics().num_preemptions, 0u);
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
  EXPECT_EQ((*e)->gauges().num_requests_running, 0);
  EXPECT_EQ((*e)->num_unfinished(), 0);
  for (auto& h : hs) {
    auto r = testing::gather(*h);
    for (auto& c : r) EXPECT_FALSE(c.finish.empty());
    EXPECT_TRUE(h->done());
  }
}

TEST(EngineLifecycle, RejectsBadRequestsWithReasons) {
  EngineConfig cfg = testing::small_engine_config();
  cfg.max_model_len = 64;
  auto e = Engine::create(cfg, *tiny_model().model, nullptr);
  auto expect_error = [&](GenerateRequest r, const std::string& needle) {
    auto h = (*e)->submit(std::move(r));
    ASSERT_FALSE(h.is_ok());
    EXPECT_NE(h.status().message().find(needle), std::string::npos) << h.status().message();
  };
  expect_error(testing::greedy_request({}, 4), "empty");
  expect_error(testing::greedy_request({5000}, 4), "vocabulary");
  expect_error(testing::greedy_request(prompt(70, 1), 4), "maximum context length is 64");
  expect_error(testing::greedy_request(prompt(60, 1), 10), "6 too many");
  auto r = testing::greedy_request(prompt(4, 1), 4);
  r.params.n = 0;
  expect_error(r, "n must be");
  r = testing::greedy_request(prompt(4, 1), 4);
  r.params.logprobs = 21;
  expect_error(r, "logprobs");
  r = testing::greedy_request(prompt(4, 1), 4);
  r.params.top_p = 0;
  expect_error(r, "top_p");
}

TEST(EngineLifecycle, WaitingQueueLimitAndShutdown) {
  EngineConfig cfg = testing::small_engine_config();
  cfg.max_waiting_requests = 2;
  auto e = Engine::create(cfg, *tiny_model().model, nullptr);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (int i = 0; i < 2; ++i) {
    auto r = testing::greedy_request(prompt(8, i), 4);
    r.request_id = "w" + std::to_string(i);
    hs.push_back(*(*e)->submit(r));
  }
  auto r = testing::greedy_request(prompt(8, 9), 4);
  r.request_id = "w9";
  auto full = (*e)->submit(r);
  ASSERT_FALSE(full.is_ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  (*e)->start();
  (*e)->shutdown(std::chrono::seconds(30));
  for (auto& h : hs) EXPECT_EQ(testing::gather(*h)[0].finish, "length");
  auto late = (*e)->submit(r);
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable);
}

TEST(EngineLifecycle, EngineThreadServesConcurrentClients) {
  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  (*e)->start();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    clients.emplace_back([&, i] {
      auto r = testing::greedy_request(prompt(10 + i, i), 5);
      r.request_id = "c" + std::to_string(i);
      auto h = (*e)->submit(r);
      if (!h.is_ok()) return;
      int tokens = 0;
      while (!(*h)->done()) {
        (*h)->wait(std::chrono::milliseconds(100));
        for (auto& o : (*h)->poll()) tokens += int(o.token_ids.size());
      }
      if (tokens == 5) ++ok;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8);
  (*e)->shutdown(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace sable
