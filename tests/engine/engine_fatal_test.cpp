// A step that throws (a CUDA fault, a failed tensor-parallel rank: nothing a
// step can return as a status) stops the engine for good, as vLLM's
// EngineDeadError: every unfinished request ends with the error, new
// requests are refused with the cause, and the server is told (on_fatal).
// The fault is injected through the model's debug hook, which the forward
// calls mid-step.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "common/fixtures.h"
#include "engine/engine_util.h"

namespace sable {
namespace {

struct FaultyModel {
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<DeepseekV3Model> model;
  std::atomic<int> calls{0};

  // Throws at the `at`-th forward (counted at layer 1's router, once a step).
  explicit FaultyModel(int at) {
    auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
    EXPECT_TRUE(src.is_ok());
    source = std::move(*src);
    auto m = DeepseekV3Model::load(*source, cpu_backend());
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    model = std::move(*m);
    model->debug_hook = [this, at](const std::string& name, const Tensor&) {
      if (name == "model.layers.1.mlp.gate.out0" && ++calls == at) throw std::runtime_error("injected device fault");
    };
  }
};

// Every output of a handle, and the final one of each choice.
struct Outputs {
  std::vector<RequestOutput> all;
  int finals = 0, errors = 0;
  std::string error;
};
Outputs take(RequestHandle& h) {
  Outputs o;
  for (auto& ev : h.poll()) {
    if (ev.finish_reason) {
      ++o.finals;
      if (*ev.finish_reason == FinishReason::kError) {
        ++o.errors;
        o.error = ev.error;
      }
    }
    o.all.push_back(std::move(ev));
  }
  return o;
}

TEST(EngineFatal, AStepThatThrowsFailsEveryRequestAndRefusesNewOnes) {
  FaultyModel fm(/*at=*/3);  // the prompt's step, one decode step, then the fault
  auto e = Engine::create(testing::small_engine_config(), *fm.model, nullptr);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  GenerateRequest a = testing::greedy_request({5, 17, 3, 99}, 16);
  a.request_id = "a";
  GenerateRequest b = testing::greedy_request({8, 41, 7}, 16);
  b.request_id = "b";
  b.params.n = 2;
  auto ha = (*e)->submit(a), hb = (*e)->submit(b);
  ASSERT_TRUE(ha.is_ok() && hb.is_ok());
  (*e)->run_until_idle();  // returns: the engine stopped
  EXPECT_EQ(fm.calls.load(), 3);

  const Outputs oa = take(**ha), ob = take(**hb);
  EXPECT_EQ(oa.finals, 1);
  EXPECT_EQ(oa.errors, 1);
  EXPECT_EQ(ob.finals, 2);  // both choices of the forked request
  EXPECT_EQ(ob.errors, 2);
  EXPECT_NE(oa.error.find("injected device fault"), std::string::npos) << oa.error;
  EXPECT_NE(oa.error.find("unrecoverable"), std::string::npos) << oa.error;
  EXPECT_TRUE((*ha)->done() && (*hb)->done());
  EXPECT_EQ((*e)->num_unfinished(), 0);
  EXPECT_EQ((*e)->fatal_error(), "injected device fault");

  GenerateRequest c = testing::greedy_request({1, 2}, 4);
  c.request_id = "c";
  auto hc = (*e)->submit(c);
  ASSERT_FALSE(hc.is_ok());
  EXPECT_EQ(hc.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(hc.status().message().find("injected device fault"), std::string::npos) << hc.status().message();
  EXPECT_NE(hc.status().message().find("restart the server"), std::string::npos) << hc.status().message();
  EXPECT_FALSE((*e)->step());  // nothing steps again
  (*e)->shutdown(std::chrono::milliseconds(0));
}

TEST(EngineFatal, TheEngineThreadTellsTheServerOnceAndStops) {
  FaultyModel fm(/*at=*/2);
  auto e = Engine::create(testing::small_engine_config(), *fm.model, nullptr);
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  std::mutex mu;
  std::vector<std::string> told;
  (*e)->set_on_fatal([&](const std::string& what) {
    std::lock_guard<std::mutex> lk(mu);
    told.push_back(what);
  });
  (*e)->start();
  GenerateRequest a = testing::greedy_request({5, 17, 3, 99}, 32);
  a.request_id = "a";
  auto ha = (*e)->submit(a);
  ASSERT_TRUE(ha.is_ok());
  Outputs got;
  for (int i = 0; i < 1000 && got.finals == 0; ++i) {
    (*ha)->wait(std::chrono::milliseconds(10));
    Outputs o = take(**ha);
    got.finals += o.finals;
    got.errors += o.errors;
    if (!o.error.empty()) got.error = o.error;
  }
  EXPECT_EQ(got.errors, 1);
  EXPECT_NE(got.error.find("injected device fault"), std::string::npos) << got.error;
  (*e)->shutdown(std::chrono::milliseconds(100));  // the thread already left its loop: joins at once
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0], "injected device fault");
}

}  // namespace
}  // namespace sable
