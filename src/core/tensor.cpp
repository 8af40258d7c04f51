#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace sable {

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < n_; ++i) {
    if (i) s += ", ";
    s += std::to_string(d_[i]);
  }
  return s + "]";
}

namespace {
class CpuAllocator final : public Allocator {
 public:
  Device device() const override { return Device::kCPU; }
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* p, size_t) override { std::free(p); }
};
}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator a;
  return a;
}

void* Allocator::allocate_zeroed(size_t bytes) {
  void* p = allocate(bytes);
  if (device() == Device::kCPU) std::memset(p, 0, bytes);
  return p;
}

namespace {
Tensor owned(void* p, size_t bytes, DType dtype, Shape shape, Allocator& alloc) {
  Allocator* a = &alloc;
  std::shared_ptr<void> owner(p, [a, bytes](void* q) { a->deallocate(q, bytes); });
  return Tensor(p, dtype, shape, alloc.device(), std::move(owner));
}
}  // namespace

Tensor Tensor::empty(DType dtype, Shape shape, Allocator& alloc) {
  const size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  // CPU memory is zeroed all the same, for determinism.
  if (alloc.device() == Device::kCPU) return owned(alloc.allocate_zeroed(bytes), bytes, dtype, shape, alloc);
  return owned(alloc.allocate(bytes), bytes, dtype, shape, alloc);
}

Tensor Tensor::zeros(DType dtype, Shape shape, Allocator& alloc) {
  const size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  return owned(alloc.allocate_zeroed(bytes), bytes, dtype, shape, alloc);
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  assert(ndim() >= 1 && begin >= 0 && begin <= end && end <= dim(0));
  Shape s = shape_;
  s[0] = end - begin;
  size_t row_bytes = dim(0) == 0 ? 0 : nbytes() / size_t(dim(0));
  return Tensor(static_cast<char*>(data_) + begin * row_bytes, dtype_, s, device_, owner_);
}

}  // namespace sable
