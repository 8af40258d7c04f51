// Pinned staging for small host-to-device copies. A cudaMemcpyAsync from
// pageable memory returns only once the driver has copied the source, which
// is after everything queued on the stream before it: an upload of a decode
// step's inputs, or of the sampling parameters after a graph launch, waited
// for the previous work to finish, and the GPU then idled while the host
// prepared the next launch. Here the source is copied into a ring of pinned
// memory and the DMA is queued without waiting; a region of the ring is
// reused once the event recorded after its copy has completed.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <deque>
#include <vector>

namespace sable::cuda {

class PinnedStaging {
 public:
  explicit PinnedStaging(size_t bytes);
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // Queues a copy of n bytes of src to dst on stream and returns at once
  // (src may be reused then). False, with nothing queued, when n is more
  // than a quarter of the ring or the stream is being captured: the caller
  // copies another way.
  bool copy_to_device(void* dst, const void* src, size_t n, cudaStream_t stream);
  // The same for `rows` rows of `width` bytes, src_pitch apart on the host
  // and dst_pitch apart on the device (staged packed, width bytes apart).
  bool copy_2d_to_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                         cudaStream_t stream);
  // Pinned host memory of n bytes for a device-to-host copy the caller waits
  // for (its stream synchronized) before the next call.
  void* host_buffer(size_t n);

 private:
  struct Span {
    size_t begin, end;
    cudaEvent_t done;
  };
  // Room for n bytes in the ring (null: too large, or the stream is being
  // captured); record() after queuing the copy from it.
  char* reserve(size_t n, cudaStream_t stream);
  void record(char* at, size_t n, cudaStream_t stream);
  // Waits for (if wait) or drops the completed spans at the front.
  void retire(bool wait);
  bool overlaps(size_t begin, size_t end) const;

  char* ring_ = nullptr;
  size_t capacity_ = 0;
  size_t head_ = 0;
  std::deque<Span> live_;  // oldest first
  std::vector<cudaEvent_t> spare_;
  void* out_ = nullptr;
  size_t out_bytes_ = 0;
};

}  // namespace sable::cuda
