#include "dist/local_group.h"

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "core/dtype.h"

namespace sable {
namespace {

// A reusable barrier that can be broken (Communicator::abort): std::barrier
// cannot wake its waiters with an error.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n), slots_(size_t(n)) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> lk(mu_);
    if (broken_) throw GroupAborted();
    const uint64_t gen = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lk, [&] { return generation_ != gen || broken_; });
    if (generation_ == gen) throw GroupAborted();
  }
  void abort() {
    std::lock_guard<std::mutex> lk(mu_);
    broken_ = true;
    cv_.notify_all();
  }
  // Rank r's published tensor for the current collective.
  const Tensor*& slot(int r) { return slots_[size_t(r)]; }
  int size() const { return n_; }

 private:
  const int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool broken_ = false;
  std::vector<const Tensor*> slots_;
};

float load(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::F32:
      return t.ptr<float>()[i];
    case DType::BF16:
      return bf16_to_f32(t.ptr<uint16_t>()[i]);
    default:
      throw std::invalid_argument(std::string("all_reduce_sum: unsupported dtype ") + dtype_name(t.dtype()));
  }
}

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(std::shared_ptr<Rendezvous> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }

  void all_reduce_sum(Tensor& x) override {
    const int n = size();
    if (n == 1) return;
    group_->slot(rank_) = &x;
    group_->arrive_and_wait();  // every rank's x is published
    const int64_t count = x.numel();
    for (int r = 0; r < n; ++r)
      if (group_->slot(r)->numel() != count || group_->slot(r)->dtype() != x.dtype()) {
        group_->abort();
        throw std::invalid_argument("all_reduce_sum: ranks passed tensors of different shapes or dtypes");
      }
    // Every rank adds all of them in rank order into its own buffer, so the
    // ranks end with identical values (float32 sums, rounded once).
    sum_.assign(size_t(count), 0.f);
    for (int r = 0; r < n; ++r) {
      const Tensor& t = *group_->slot(r);
      for (int64_t i = 0; i < count; ++i) sum_[size_t(i)] += load(t, i);
    }
    group_->arrive_and_wait();  // nobody reads x any more
    if (x.dtype() == DType::F32) {
      std::memcpy(x.data(), sum_.data(), size_t(count) * sizeof(float));
    } else {
      uint16_t* d = x.ptr<uint16_t>();
      for (int64_t i = 0; i < count; ++i) d[i] = f32_to_bf16(sum_[size_t(i)]);
    }
  }

  void all_gather_columns(const Tensor& x, Tensor& out) override {
    const int n = size();
    const int64_t N = x.dim(0), C = x.dim(1);
    if (out.dim(0) != N || out.dim(1) != C * n || out.dtype() != x.dtype())
      throw std::invalid_argument("all_gather_columns: out must be [N, size * C] of x's dtype");
    group_->slot(rank_) = &x;
    group_->arrive_and_wait();
    for (int r = 0; r < n; ++r)
      if (group_->slot(r)->dim(0) != N || group_->slot(r)->dim(1) != C || group_->slot(r)->dtype() != x.dtype()) {
        group_->abort();
        throw std::invalid_argument("all_gather_columns: ranks passed tensors of different shapes or dtypes");
      }
    const size_t row = size_t(C) * dtype_size(x.dtype());
    for (int r = 0; r < n; ++r) {
      const Tensor& t = *group_->slot(r);
      for (int64_t i = 0; i < N; ++i)
        std::memcpy(out.ptr<char>() + (size_t(i) * size_t(n) + size_t(r)) * row, t.ptr<char>() + size_t(i) * row, row);
    }
    group_->arrive_and_wait();
  }

  void abort() override { group_->abort(); }

 private:
  std::shared_ptr<Rendezvous> group_;
  int rank_;
  std::vector<float> sum_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_local_group(int size) {
  auto g = std::make_shared<Rendezvous>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < size; ++r) out.push_back(std::make_unique<LocalCommunicator>(g, r));
  return out;
}

}  // namespace sable
