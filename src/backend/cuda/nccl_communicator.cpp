#include "backend/cuda/nccl_communicator.h"

#include <dlfcn.h>
#include <nccl.h>

#include <mutex>
#include <stdexcept>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace sable::cuda {
namespace {

// The NCCL entry points this file uses, from the library loaded at run time.
struct NcclApi {
  decltype(&ncclCommInitAll) comm_init_all = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclAllGather) all_gather = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

Result<const NcclApi*> nccl_api() {
  static std::once_flag once;
  static NcclApi api;
  static std::string error;
  std::call_once(once, [] {
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      error = std::string("tensor parallelism on GPUs needs NCCL, and libnccl.so.2 could not be loaded (") +
              (e ? e : "not found") +
              "). Install NCCL (the libnccl2 package, or the CUDA image that ships it) or add its folder to "
              "LD_LIBRARY_PATH";
      return;  // never closed: the process keeps it
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && error.empty()) error = std::string("libnccl.so.2 has no ") + name + " (NCCL too old: 2.18 or newer)";
    };
    sym(api.comm_init_all, "ncclCommInitAll");
    sym(api.all_reduce, "ncclAllReduce");
    sym(api.all_gather, "ncclAllGather");
    sym(api.comm_destroy, "ncclCommDestroy");
    sym(api.comm_abort, "ncclCommAbort");
    sym(api.error_string, "ncclGetErrorString");
  });
  if (!error.empty()) return unavailable(error);
  return &api;
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::BF16:
      return ncclBfloat16;
    case DType::F32:
      return ncclFloat32;
    case DType::F16:
      return ncclFloat16;
    default:
      throw std::invalid_argument(std::string("NCCL collective: unsupported dtype ") + dtype_name(t));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const NcclApi& api, ncclComm_t comm, CudaBackend& be, int rank, int size)
      : api_(api), comm_(comm), be_(be), rank_(rank), size_(size) {}
  ~NcclCommunicator() override {
    if (comm_) api_.comm_destroy(comm_);  // best effort at exit
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(Tensor& x) override {
    // Under the lock: abort() from another rank's thread waits for the
    // enqueue to return before it frees the communicator (it then aborts
    // what is left on the GPU).
    std::lock_guard<std::mutex> lk(mu_);
    check(api_.all_reduce(x.data(), x.data(), size_t(x.numel()), nccl_type(x.dtype()), ncclSum, live(), be_.stream()),
          "ncclAllReduce");
  }

  void all_gather_columns(const Tensor& x, Tensor& out) override {
    const int64_t N = x.dim(0), C = x.dim(1);
    if (out.dim(0) != N || out.dim(1) != C * size_ || out.dtype() != x.dtype())
      throw std::invalid_argument("all_gather_columns: out must be [N, size * C] of x's dtype");
    // NCCL gathers rank-major ([size, N, C]); each rank's block then goes to
    // its columns with one strided copy (a memcpy node under capture).
    Tensor parts = be_.empty(x.dtype(), {int64_t(size_), N, C});
    {
      std::lock_guard<std::mutex> lk(mu_);
      check(api_.all_gather(x.data(), parts.data(), size_t(N * C), nccl_type(x.dtype()), live(), be_.stream()),
            "ncclAllGather");
    }
    const size_t es = dtype_size(x.dtype()), row = size_t(C) * es;
    for (int r = 0; r < size_; ++r)
      SABLE_CUDA_CHECK(cudaMemcpy2DAsync(out.ptr<char>() + size_t(r) * row, row * size_t(size_),
                                         parts.ptr<char>() + size_t(r) * size_t(N) * row, row, row, size_t(N),
                                         cudaMemcpyDeviceToDevice, be_.stream()));
  }

  void abort() override {
    std::lock_guard<std::mutex> lk(mu_);
    if (comm_) api_.comm_abort(comm_);
    comm_ = nullptr;
  }

 private:
  // The communicator, or GroupAborted once abort() freed it (mu_ held).
  ncclComm_t live() const {
    if (!comm_) throw GroupAborted();
    return comm_;
  }
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess && r != ncclInProgress)
      throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(rank_) + ": " +
                               api_.error_string(r));
  }

  const NcclApi& api_;
  std::mutex mu_;
  ncclComm_t comm_;
  CudaBackend& be_;
  int rank_, size_;
};

}  // namespace

Result<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(const std::vector<CudaBackend*>& ranks) {
  SABLE_ASSIGN_OR_RETURN(const NcclApi* api, nccl_api());
  const int n = int(ranks.size());
  std::vector<int> devices;
  for (CudaBackend* b : ranks) devices.push_back(b->device_index());
  std::vector<ncclComm_t> comms(size_t(n), nullptr);
  const ncclResult_t r = api->comm_init_all(comms.data(), n, devices.data());
  if (r != ncclSuccess)
    return unavailable(std::string("NCCL could not connect the ") + std::to_string(n) +
                       " GPUs of the tensor-parallel group: " + api->error_string(r) +
                       " (NCCL_DEBUG=INFO in the environment says more)");
  std::vector<std::unique_ptr<Communicator>> out;
  for (int i = 0; i < n; ++i)
    out.push_back(std::make_unique<NcclCommunicator>(*api, comms[size_t(i)], *ranks[size_t(i)], i, n));
  return out;
}

}  // namespace sable::cuda
