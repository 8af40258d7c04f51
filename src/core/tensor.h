// Tensor: a contiguous, row-major n-d array (up to 4 dims) of one dtype on one
// device. A Tensor either owns its storage (shared_ptr) or views memory owned
// elsewhere (an mmapped checkpoint, a KV pool). Copies are shallow.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/dtype.h"

namespace sable {

enum class Device : uint8_t { kCPU, kCUDA };

class Shape {
 public:
  static constexpr int kMaxDims = 4;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    assert(dims.size() <= kMaxDims);
    for (int64_t d : dims) d_[n_++] = d;
  }
  template <typename It>
  static Shape from(It b, It e) {
    Shape s;
    for (; b != e; ++b) { assert(s.n_ < kMaxDims); s.d_[s.n_++] = int64_t(*b); }
    return s;
  }
  int ndim() const { return n_; }
  int64_t operator[](int i) const { assert(i >= 0 && i < n_); return d_[i]; }
  int64_t& operator[](int i) { assert(i >= 0 && i < n_); return d_[i]; }
  int64_t numel() const { int64_t p = 1; for (int i = 0; i < n_; ++i) p *= d_[i]; return p; }
  bool operator==(const Shape& o) const {
    if (n_ != o.n_) return false;
    for (int i = 0; i < n_; ++i) if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "[4, 256]"

 private:
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

// Device memory comes from an allocator; core knows only the CPU one. The CUDA
// backend supplies its own so that core stays free of CUDA.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual Device device() const = 0;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  // A block whose bytes are zero (Tensor::zeros). Host allocators: allocate()
  // then memset; device allocators clear it on their stream.
  virtual void* allocate_zeroed(size_t bytes);
};
Allocator& cpu_allocator();  // 64-byte aligned host memory

class Tensor {
 public:
  Tensor() = default;
  // A view of memory owned elsewhere.
  Tensor(void* data, DType dtype, Shape shape, Device dev = Device::kCPU,
         std::shared_ptr<void> owner = nullptr)
      : data_(data), dtype_(dtype), shape_(shape), device_(dev), owner_(std::move(owner)) {}

  // Uninitialised (CPU: zero-filled for determinism) owned storage.
  static Tensor empty(DType dtype, Shape shape, Allocator& alloc = cpu_allocator());
  static Tensor zeros(DType dtype, Shape shape, Allocator& alloc = cpu_allocator());

  bool defined() const { return data_ != nullptr || (shape_.numel() == 0 && shape_.ndim() > 0); }
  void* data() const { return data_; }
  template <typename T> T* ptr() const { return static_cast<T*>(data_); }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.ndim() + i : i]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  Device device() const { return device_; }
  const std::shared_ptr<void>& owner() const { return owner_; }

  // Same memory, new shape with the same element count.
  Tensor view(Shape s) const {
    assert(s.numel() == numel());
    return Tensor(data_, dtype_, s, device_, owner_);
  }
  // Rows [begin, end) of the first dimension.
  Tensor rows(int64_t begin, int64_t end) const;

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::F32;
  Shape shape_;
  Device device_ = Device::kCPU;
  std::shared_ptr<void> owner_;
};

}  // namespace sable
