#include "core/tensor.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/host_allocator.h"
#include "core/sanitizer.h"

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
// Host memory: 64-byte aligned blocks from malloc, and, from map_bytes up,
// anonymous mappings returned to the kernel when freed (mapped_host_allocator
// says why).
class CpuAllocator final : public Allocator {
 public:
  explicit CpuAllocator(size_t map_bytes) : map_bytes_(map_bytes) {}
  Device device() const override { return Device::kCPU; }
  void* allocate(size_t bytes) override {
    if (bytes >= map_bytes_) return map(bytes);
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* p, size_t bytes) override {
    if (bytes >= map_bytes_) {
      munmap(p, bytes);
      return;
    }
    std::free(p);
  }
  void* allocate_zeroed(size_t bytes) override {
    if (bytes >= map_bytes_) return map(bytes);  // zero-filled by the kernel on first touch
    return Allocator::allocate_zeroed(bytes);
  }

 private:
  static void* map(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: fails harmlessly where THP is off
    return p;
  }
  size_t map_bytes_;
};
}  // namespace

Allocator& cpu_allocator() {
  static CpuAllocator a(SIZE_MAX);
  return a;
}

Allocator& mapped_host_allocator() {
  // Sanitizer builds map nothing, so that LeakSanitizer sees every block.
  static CpuAllocator a(kAddressSanitizer ? SIZE_MAX : size_t(4) << 20);
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
