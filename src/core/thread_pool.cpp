#include "core/thread_pool.h"

#include <algorithm>
#include <cstdlib>

namespace sable {

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    // A short spin first: a region that follows within ~20 us skips the
    // sleep/wake round trip (tens of microseconds each).
    for (int i = 0; i < 2000 && generation_.load(std::memory_order_acquire) == seen; ++i) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    (*job)(index);
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) { fn(0); return; }
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    pending_ = num_threads_ - 1;
    ++generation_;
  }
  cv_work_.notify_all();
  fn(0);
  std::unique_lock<std::mutex> lk(mu_);
  cv_done_.wait(lk, [&] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = (n + grain - 1) / grain;
  int threads = int(std::min<int64_t>(num_threads_, chunks));
  if (threads <= 1) { fn(0, n); return; }
  // Static, contiguous split: each thread gets a run of whole grains, which
  // keeps results independent of timing (deterministic reductions per chunk).
  run_on_all([&](int t) {
    if (t >= threads) return;
    int64_t c0 = chunks * t / threads, c1 = chunks * (t + 1) / threads;
    int64_t b = c0 * grain, e = std::min(n, c1 * grain);
    if (b < e) fn(b, e);
  });
}

namespace {
thread_local ThreadPool* t_current = nullptr;
}  // namespace

void ThreadPool::set_current(ThreadPool* pool) { t_current = pool; }

ThreadPool& ThreadPool::global() {
  if (t_current) return *t_current;
  static ThreadPool pool([] {
    if (const char* s = std::getenv("SABLE_NUM_THREADS")) {
      int v = std::atoi(s);
      if (v > 0) return v;
    }
    return int(std::max(1u, std::thread::hardware_concurrency()));
  }());
  return pool;
}

}  // namespace sable
