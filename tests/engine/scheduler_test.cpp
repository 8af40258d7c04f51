// The scheduler's choice of whom to preempt when KV blocks run out: the
// newest admitted sequence under fcfs, the lowest priority's (largest value,
// then latest arrival) under --scheduling-policy priority, as vLLM's
// scheduler does; and a step goes on with every other running sequence
// whichever place the victim held.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace sable {
namespace {

constexpr int kBlockSize = 4;

// Sequences with one block of prompt each, driven step by step.
struct Bench {
  explicit Bench(int num_blocks, bool priority)
      : blocks(num_blocks, kBlockSize, false), sched(config(priority), blocks) {}

  static EngineConfig config(bool priority) {
    EngineConfig c;
    c.priority_scheduling = priority;
    return c;
  }

  Sequence* add(const std::string& name, int priority) {
    auto s = std::make_unique<Sequence>();
    s->seq_id = int64_t(seqs.size());
    s->tokens.assign(kBlockSize, 7);
    s->prompt_len = kBlockSize;
    s->priority = priority;
    s->arrival_order = uint64_t(seqs.size());
    names.push_back(name);
    seqs.push_back(std::move(s));
    sched.add(seqs.back().get());
    return seqs.back().get();
  }

  std::string name(const Sequence* s) const { return names[size_t(s->seq_id)]; }

  // One step; every scheduled sequence then gets one more token. Returns
  // "scheduled names / preempted names".
  std::string step() {
    SchedulerOutput out = sched.schedule();
    sched.on_step_done(out);
    std::string r;
    for (const auto& s : out.scheduled) {
      r += name(s.seq);
      s.seq->tokens.push_back(7);
    }
    r += " / ";
    for (const Sequence* s : out.preempted) r += name(s);
    return r;
  }

  BlockManager blocks;
  Scheduler sched;
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<std::string> names;
};

// Three one-block prompts in four blocks: the second decode step needs a
// block for each, and only one is free.
TEST(Scheduler, FcfsPreemptsTheNewestAdmitted) {
  Bench b(4, /*priority=*/false);
  b.add("A", 0);
  b.add("B", 5);
  b.add("C", 0);
  EXPECT_EQ(b.step(), "ACB / ");  // waiting order: priority, then arrival
  EXPECT_EQ(b.step(), "AC / B");  // A takes the free block; C needs B's
  EXPECT_EQ(b.sched.preemptions, 1u);
}

TEST(Scheduler, PriorityPreemptsTheLowestPriority) {
  Bench b(4, /*priority=*/true);
  b.add("B", 5);
  EXPECT_EQ(b.step(), "B / ");  // B runs first, alone
  b.add("A", 0);
  b.add("C", 0);
  EXPECT_EQ(b.step(), "BAC / ");  // running order: B, A, C; no block left
  // B's tokens fit its blocks; A needs one and none is free: B (priority 5)
  // goes, although it was scheduled first and is the oldest, and C, after
  // A, is still scheduled.
  EXPECT_EQ(b.step(), "AC / B");
  EXPECT_EQ(b.sched.num_waiting(), 1);
  std::string why;
  EXPECT_TRUE(b.blocks.check_invariants(&why)) << why;
  // Under fcfs the newest, C, would have gone.
  Bench f(4, /*priority=*/false);
  f.add("B", 5);
  f.step();
  f.add("A", 0);
  f.add("C", 0);
  f.step();
  EXPECT_EQ(f.step(), "BA / C");
}

TEST(Scheduler, PriorityTiesGoByArrival) {
  Bench b(4, /*priority=*/true);
  b.add("A", 1);
  b.add("B", 1);
  b.add("C", 1);
  EXPECT_EQ(b.step(), "ABC / ");
  EXPECT_EQ(b.step(), "AB / C");  // the latest arrival of the lowest priority
}

}  // namespace
}  // namespace sable
