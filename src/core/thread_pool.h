// A fixed pool of worker threads for data-parallel loops. The calling thread
// takes part, so a pool of N threads has N-1 workers. One parallel_for runs at
// a time per pool (the engine thread owns the compute pool).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sable {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n), each chunk a
  // multiple of `grain` (except the last). Blocks until all chunks are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Calls fn(thread_index) once on each of the pool's threads.
  void run_on_all(const std::function<void(int)>& fn);

  // The calling thread's compute pool: the process-wide pool, sized to the
  // hardware threads (or SABLE_NUM_THREADS) and created on first use, unless
  // set_current() named another for this thread (the ranks of a
  // tensor-parallel group on the CPU each compute on a pool of their own,
  // since one pool runs one parallel_for at a time).
  static ThreadPool& global();
  // Makes `pool` the calling thread's global() (null: the process pool
  // again). The pool must outlive the thread's use of it.
  static void set_current(ThreadPool* pool);

 private:
  void worker_loop(int index);

  int num_threads_;
  std::vector<std::thread> workers_;
  // All of the pool's synchronisation lives here.
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  // Bumped (under mu_) for each job; workers spin on it briefly before
  // sleeping, since the engine issues parallel regions back to back.
  std::atomic<uint64_t> generation_{0};
  int pending_ = 0;
  bool stop_ = false;
  const std::function<void(int)>* job_ = nullptr;
};

}  // namespace sable
