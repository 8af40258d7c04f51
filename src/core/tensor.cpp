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

Tensor Tensor::empty(DType dtype, Shape shape, Allocator& alloc) {
  size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  void* p = alloc.allocate(bytes);
  Allocator* a = &alloc;
  std::shared_ptr<void> owner(p, [a, bytes](void* q) { a->deallocate(q, bytes); });
  if (alloc.device() == Device::kCPU) std::memset(p, 0, bytes);
  return Tensor(p, dtype, shape, alloc.device(), std::move(owner));
}

Tensor Tensor::zeros(DType dtype, Shape shape, Allocator& alloc) {
  // CPU memory is zeroed by empty(); device allocators zero their own.
  return empty(dtype, shape, alloc);
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  assert(ndim() >= 1 && begin >= 0 && begin <= end && end <= dim(0));
  Shape s = shape_;
  s[0] = end - begin;
  size_t row_bytes = dim(0) == 0 ? 0 : nbytes() / size_t(dim(0));
  return Tensor(static_cast<char*>(data_) + begin * row_bytes, dtype_, s, device_, owner_);
}

}  // namespace sable
