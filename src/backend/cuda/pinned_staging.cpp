#include "backend/cuda/pinned_staging.h"

#include <cstring>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {

namespace {
TuningValue g_staging{"SABLE_PINNED_STAGING", 1, [](int v) { return v == 0 || v == 1; }};
}  // namespace

bool set_pinned_staging(int on) { return g_staging.set(on); }
bool pinned_staging_enabled() { return g_staging.get() == 1; }

PinnedStaging::PinnedStaging(size_t bytes) : capacity_(bytes) {}

PinnedStaging::~PinnedStaging() {
  // Best effort, as the backend's own teardown: the copies in flight are
  // waited for before their source is freed.
  for (Span& s : live_) {
    cudaEventSynchronize(s.done);
    cudaEventDestroy(s.done);
  }
  for (cudaEvent_t e : spare_) cudaEventDestroy(e);
  if (ring_) cudaFreeHost(ring_);
  if (out_) cudaFreeHost(out_);
}

void PinnedStaging::retire(bool wait) {
  while (!live_.empty()) {
    Span& s = live_.front();
    if (wait) {
      SABLE_CUDA_CHECK(cudaEventSynchronize(s.done));
    } else {
      const cudaError_t e = cudaEventQuery(s.done);
      if (e == cudaErrorNotReady) return;
      SABLE_CUDA_CHECK(e);
    }
    spare_.push_back(s.done);
    live_.pop_front();
    if (wait) return;  // one at a time: the caller checks whether that made room
  }
}

bool PinnedStaging::overlaps(size_t begin, size_t end) const {
  for (const Span& s : live_)
    if (begin < s.end && s.begin < end) return true;
  return false;
}

char* PinnedStaging::reserve(size_t n, cudaStream_t stream) {
  if (n > capacity_ / 4 || !pinned_staging_enabled()) return nullptr;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  SABLE_CUDA_CHECK(cudaStreamIsCapturing(stream, &capturing));
  // A captured copy would replay from this ring's address, long since reused.
  if (capturing != cudaStreamCaptureStatusNone) return nullptr;
  if (!ring_) SABLE_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&ring_), capacity_, cudaHostAllocDefault));
  constexpr size_t kAlign = 256;
  size_t begin = (head_ + kAlign - 1) / kAlign * kAlign;
  if (begin + n > capacity_) begin = 0;
  retire(/*wait=*/false);
  while (overlaps(begin, begin + n)) retire(/*wait=*/true);
  return ring_ + begin;
}

void PinnedStaging::record(char* at, size_t n, cudaStream_t stream) {
  cudaEvent_t done = nullptr;
  if (!spare_.empty()) {
    done = spare_.back();
    spare_.pop_back();
  } else {
    SABLE_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  }
  SABLE_CUDA_CHECK(cudaEventRecord(done, stream));
  const size_t begin = size_t(at - ring_);
  live_.push_back({begin, begin + n, done});
  head_ = begin + n;
}

bool PinnedStaging::copy_to_device(void* dst, const void* src, size_t n, cudaStream_t stream) {
  return copy_2d_to_device(dst, n, src, n, n, 1, stream);  // one row
}

bool PinnedStaging::copy_2d_to_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width,
                                      size_t rows, cudaStream_t stream) {
  if (width == 0 || rows == 0) return true;
  char* at = reserve(width * rows, stream);
  if (!at) return false;
  for (size_t r = 0; r < rows; ++r) std::memcpy(at + r * width, static_cast<const char*>(src) + r * src_pitch, width);
  SABLE_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, at, width, width, rows, cudaMemcpyHostToDevice, stream));
  record(at, width * rows, stream);
  return true;
}

void* PinnedStaging::host_buffer(size_t n) {
  if (n > out_bytes_) {
    if (out_) SABLE_CUDA_CHECK(cudaFreeHost(out_));
    out_ = nullptr;
    out_bytes_ = 0;
    SABLE_CUDA_CHECK(cudaHostAlloc(&out_, n, cudaHostAllocDefault));
    out_bytes_ = n;
  }
  return out_;
}

}  // namespace sable::cuda
