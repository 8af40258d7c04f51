#include "dist/rank_threads.h"

#include "dist/communicator.h"

namespace sable {

RankThreads::RankThreads(int size, std::function<void(int)> setup, std::function<void()> on_error)
    : setup_(std::move(setup)), on_error_(std::move(on_error)), errors_(size_t(size)) {
  for (int r = 0; r < size; ++r) threads_.emplace_back([this, r] { loop(r); });
}

RankThreads::~RankThreads() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : threads_) t.join();
}

void RankThreads::loop(int rank) {
  std::exception_ptr setup_error;
  try {
    if (setup_) setup_(rank);
  } catch (...) {
    setup_error = std::current_exception();
  }
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    std::exception_ptr err = setup_error;
    if (!err) try {
        (*job)(rank);
      } catch (...) {
        err = std::current_exception();
      }
    if (err && on_error_) on_error_();
    std::lock_guard<std::mutex> lk(mu_);
    errors_[size_t(rank)] = err;
    if (--pending_ == 0) cv_done_.notify_all();
  }
}

void RankThreads::run(const std::function<void(int)>& fn) {
  std::lock_guard<std::mutex> turn(run_mu_);
  std::unique_lock<std::mutex> lk(mu_);
  job_ = &fn;
  pending_ = size();
  for (auto& e : errors_) e = nullptr;
  ++generation_;
  cv_work_.notify_all();
  cv_done_.wait(lk, [&] { return pending_ == 0; });
  job_ = nullptr;
  std::exception_ptr first;
  for (auto& e : errors_) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const GroupAborted&) {
      if (!first) first = e;
      continue;
    } catch (...) {
      std::rethrow_exception(e);  // the failure itself
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace sable
