// One thread per rank of a tensor-parallel group, alive for the group's
// lifetime. run(fn) calls fn(rank) on every rank's thread at once and returns
// when all have: collectives need every rank inside them together, so the
// ranks of one process cannot take turns on one thread. Each thread runs
// `setup(rank)` first (bind its GPU; on the CPU, give it a compute pool of
// its own, since a ThreadPool runs one parallel_for at a time).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sable {

class RankThreads {
 public:
  RankThreads(int size, std::function<void(int rank)> setup, std::function<void()> on_error = {});
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int size() const { return int(threads_.size()); }
  // Runs fn(rank) on every rank's thread and waits. When a rank throws,
  // on_error (given at construction: abort the communicators, so that ranks
  // waiting in a collective fail too) is called, and run rethrows, once every
  // rank has returned, the lowest rank's exception that is not GroupAborted
  // (the failure, not its echo on the ranks that waited for it). A rank whose
  // setup threw fails every run with that error.
  void run(const std::function<void(int rank)>& fn);

 private:
  void loop(int rank);

  std::function<void(int)> setup_;
  std::function<void()> on_error_;
  std::vector<std::thread> threads_;
  std::mutex run_mu_;  // one run() at a time: concurrent callers take turns
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::vector<std::exception_ptr> errors_;
};

}  // namespace sable
