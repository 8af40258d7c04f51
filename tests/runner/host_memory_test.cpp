// The host memory planner (runner/host_memory.h): what a load holds, the
// memory a fake /proc and /sys tree says is available, and the refusal.
#include "runner/host_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/presets.h"
#include "runner/memory_planner.h"

namespace sable {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kGiB = int64_t(1) << 30;

// A fake root with /proc/meminfo, /proc/self/cgroup and cgroup files.
class FakeRoot {
 public:
  FakeRoot() {
    dir_ = fs::temp_directory_path() / ("sable-host-memory-" + std::to_string(getpid()) + "-" + std::to_string(n_++));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "proc/self");
  }
  ~FakeRoot() { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel) << text;
  }
  void meminfo(int64_t available) {
    write("proc/meminfo", "MemTotal:       99999999 kB\nMemFree:        1 kB\nMemAvailable:   " +
                              std::to_string(available / 1024) + " kB\nBuffers:        0 kB\n");
  }
  std::string root() const { return dir_.string(); }

 private:
  fs::path dir_;
  static inline int n_ = 0;
};

TEST(HostMemory, MemAvailableWithoutCgroupLimits) {
  FakeRoot r;
  r.meminfo(20 * kGiB);
  r.write("proc/self/cgroup", "0::/\n");
  r.write("sys/fs/cgroup/memory.max", "max\n");
  const HostMemory h = probe_host_memory(r.root());
  EXPECT_EQ(h.available, 20 * kGiB);
  EXPECT_NE(h.source.find("MemAvailable"), std::string::npos) << h.source;
}

TEST(HostMemory, CgroupV2LimitOfThisProcessOrAParentWins) {
  FakeRoot r;
  r.meminfo(100 * kGiB);
  r.write("proc/self/cgroup", "0::/kubepods/pod1/c1\n");
  r.write("sys/fs/cgroup/kubepods/pod1/c1/memory.max", "max\n");
  // The pod's limit: 8 GiB, 3 GiB in use of which 1 GiB is reclaimable page cache.
  r.write("sys/fs/cgroup/kubepods/pod1/memory.max", std::to_string(8 * kGiB) + "\n");
  r.write("sys/fs/cgroup/kubepods/pod1/memory.current", std::to_string(3 * kGiB) + "\n");
  r.write("sys/fs/cgroup/kubepods/pod1/memory.stat", "anon 123\ninactive_file " + std::to_string(kGiB) + "\n");
  const HostMemory h = probe_host_memory(r.root());
  EXPECT_EQ(h.available, 6 * kGiB);
  EXPECT_NE(h.source.find("container"), std::string::npos) << h.source;
}

TEST(HostMemory, CgroupV1LimitInTheContainersOwnMount) {
  FakeRoot r;
  r.meminfo(100 * kGiB);
  // The host's path is not under the container's mount: its root is the container's cgroup.
  r.write("proc/self/cgroup", "12:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n");
  r.write("sys/fs/cgroup/memory/memory.limit_in_bytes", std::to_string(16 * kGiB) + "\n");
  r.write("sys/fs/cgroup/memory/memory.usage_in_bytes", std::to_string(4 * kGiB) + "\n");
  r.write("sys/fs/cgroup/memory/memory.stat", "total_inactive_file " + std::to_string(2 * kGiB) + "\n");
  EXPECT_EQ(probe_host_memory(r.root()).available, 14 * kGiB);
  // v1 writes "no limit" as a huge number.
  r.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_EQ(probe_host_memory(r.root()).available, 100 * kGiB);
}

TEST(HostMemory, NothingReadableIsUnknownAndFits) {
  FakeRoot r;
  EXPECT_LT(probe_host_memory(r.root()).available, 0);
  HostMemoryPlanInput in;
  in.config = *preset_config("dsv3");
  in.dummy_weights = true;
  const HostMemoryPlan p = plan_host_memory(in, HostMemory{});
  EXPECT_TRUE(p.fits);
  EXPECT_NE(p.to_string().find("unknown"), std::string::npos);
}

TEST(HostMemoryPlan, DummyWeightsOnTheCpuAreHeldWhole) {
  HostMemoryPlanInput in;
  in.config = *preset_config("dsv3");
  in.dummy_weights = true;
  in.kv_cache_bytes = kGiB;
  const HostMemory host{24 * kGiB, "MemAvailable in /proc/meminfo"};
  const HostMemoryPlan p = plan_host_memory(in, host);
  EXPECT_EQ(p.weights, weight_bytes(in.config, false));
  EXPECT_EQ(p.needed, p.weights + kGiB + kHostMemoryAllowance);
  EXPECT_FALSE(p.fits);
  // What is missing, why, and what would fit.
  for (const char* part : {"not enough host memory", "1344.10 GB of weights", "25.77 GB is available", "MemAvailable",
                           "dummy weights on the CPU backend", "--quantization fp8", "SABLE_HOST_MEMORY_CHECK=0"})
    EXPECT_NE(p.advice.find(part), std::string::npos) << part << " in: " << p.advice;
  // FP8 halves the experts; a model's parts are held once per tensor-parallel rank only where replicated.
  in.quantize_fp8 = true;
  const HostMemoryPlan q = plan_host_memory(in, host);
  EXPECT_EQ(q.weights, weight_bytes(in.config, true));
  EXPECT_LT(q.weights, p.weights * 6 / 10);
  in.tensor_parallel_size = 2;
  EXPECT_EQ(plan_host_memory(in, host).weights, weight_bytes(in.config, true, 2) * 2);
  EXPECT_GT(plan_host_memory(in, host).weights, q.weights);
}

TEST(HostMemoryPlan, TheDemoModelFitsAndACheckpointIsMostlyNotHeld) {
  HostMemoryPlanInput in;
  in.config = *preset_config("tiny");
  in.dummy_weights = true;
  in.kv_cache_bytes = kGiB;
  EXPECT_TRUE(plan_host_memory(in, HostMemory{4 * kGiB, "MemAvailable in /proc/meminfo"}).fits);
  // A BF16 checkpoint's files are mmapped: held are kv_b_proj's two BF16 copies (61 layers x 128 heads x 256 x
  // 512 x 2 x 2 bytes = 4.09 GB) and the stacked q_a / kv_a projections (61 x 2,112 x 7,168 x 2 = 1.85 GB).
  const HostMemory host{16 * kGiB, "MemAvailable in /proc/meminfo"};
  in.config = *preset_config("dsv3");
  in.dummy_weights = false;
  HostMemoryPlan p = plan_host_memory(in, host);
  const int64_t kv_b = int64_t(61) * 128 * 256 * 512 * 2, stacked = int64_t(61) * 2112 * 7168;
  EXPECT_EQ(p.weights, kv_b * 2 + stacked * 2);
  EXPECT_TRUE(p.fits) << p.advice;
  // Where it does not fit, --quantization fp8 is not offered: it would hold FP8 copies of mmapped weights.
  const HostMemoryPlan tight = plan_host_memory(in, HostMemory{4 * kGiB, "MemAvailable in /proc/meminfo"});
  EXPECT_FALSE(tight.fits);
  EXPECT_EQ(tight.advice.find("--quantization fp8"), std::string::npos) << tight.advice;
  // Quantized at load: the FP8 linear weights and scales are copies too (all but the embeddings' 3.7 GB).
  in.quantize_fp8 = true;
  p = plan_host_memory(in, host);
  EXPECT_GT(p.weights, weight_bytes(in.config, true) * 9 / 10);
  EXPECT_LE(p.weights, weight_bytes(in.config, true));
  EXPECT_FALSE(p.fits);
  EXPECT_NE(p.advice.find("FP8 copies"), std::string::npos) << p.advice;
  // An FP8 checkpoint is used as it is, but for kv_b_proj in F32 (CPU) and the stacked projections in FP8.
  in.config.quantization.quant_method = "fp8";
  in.config.quantization.block_out = in.config.quantization.block_in = 128;
  const int64_t stacked_fp8 = stacked + int64_t(61) * (12 + 5) * 56 * 4;  // and their 128 x 128 block scales
  EXPECT_EQ(plan_host_memory(in, host).weights, kv_b * 4 + stacked_fp8);
  // Tensor parallelism copies the column parts: o_proj and every down projection (a third of the experts), or,
  // with the routed experts placed whole, o_proj and the dense and shared down projections only.
  in.config = *preset_config("dsv3");
  in.quantize_fp8 = false;
  in.tensor_parallel_size = 8;
  const int64_t split = plan_host_memory(in, host).weights;
  EXPECT_GT(split, kv_b * 2 + stacked * 2 + int64_t(58) * 256 * 2048 * 7168 * 2);
  in.expert_parallel = true;
  const int64_t whole = plan_host_memory(in, host).weights;
  EXPECT_LT(whole, split - int64_t(58) * 256 * 2048 * 7168 * 2 + 1);
  EXPECT_GT(whole, kv_b * 2 + stacked * 2);
}

TEST(HostMemoryPlan, CheckpointFilesLargerThanTheMemoryLeftAreAWarningNotARefusal) {
  HostMemoryPlanInput in;
  in.config = *preset_config("small-moe");
  in.kv_cache_bytes = kGiB;
  in.checkpoint_file_bytes = int64_t(3560) * 1000 * 1000;
  // 8 GiB: the files fit beside the load.
  EXPECT_TRUE(plan_host_memory(in, HostMemory{8 * kGiB, "MemAvailable in /proc/meminfo"}).warning.empty());
  // 4 GiB: the load fits (~2.2 GB), its files do not fit beside it.
  const HostMemoryPlan p = plan_host_memory(in, HostMemory{4 * kGiB, "MemAvailable in /proc/meminfo"});
  EXPECT_TRUE(p.fits) << p.advice;
  EXPECT_NE(p.warning.find("3.56 GB"), std::string::npos) << p.warning;
  EXPECT_NE(p.warning.find("from disk again"), std::string::npos) << p.warning;
  // Dummy weights have no files; a GPU backend reads the files once.
  in.dummy_weights = true;
  EXPECT_TRUE(plan_host_memory(in, HostMemory{4 * kGiB, "MemAvailable in /proc/meminfo"}).warning.empty());
  in.dummy_weights = false;
  in.weights_on_host = false;
  EXPECT_TRUE(plan_host_memory(in, HostMemory{4 * kGiB, "MemAvailable in /proc/meminfo"}).warning.empty());
}

TEST(HostMemoryPlan, DummyWeightsForAGpuAreOneLayerAtATime) {
  HostMemoryPlanInput in;
  in.config = *preset_config("dsv3");
  in.dummy_weights = true;
  in.weights_on_host = false;
  const HostMemory host{16 * kGiB, "MemAvailable in /proc/meminfo"};
  const HostMemoryPlan p = plan_host_memory(in, host);
  // One MoE layer in BF16: 256 routed experts x 3 x 2048 x 7168 x 2 bytes, plus attention and the shared expert.
  const int64_t experts = int64_t(256) * 3 * 2048 * 7168 * 2;
  EXPECT_GT(p.weights, experts);
  EXPECT_LT(p.weights, experts + int64_t(2) * 1000 * 1000 * 1000);
  EXPECT_EQ(p.kv, 0);
  EXPECT_FALSE(p.fits);
  EXPECT_NE(p.advice.find("one layer at a time"), std::string::npos) << p.advice;
  EXPECT_EQ(p.advice.find("--device cuda"), std::string::npos) << p.advice;
  in.quantize_fp8 = true;
  EXPECT_TRUE(plan_host_memory(in, host).fits);  // ~11.3 GB of FP8 experts
}

TEST(HostMemoryPlan, TheCheckCanBeTurnedOff) {
  unsetenv("SABLE_HOST_MEMORY_CHECK");
  EXPECT_TRUE(host_memory_check_enabled());
  // The setting is read each time (a process sets it once, before loading).
  setenv("SABLE_HOST_MEMORY_CHECK", "0", 1);
  EXPECT_FALSE(host_memory_check_enabled());
  unsetenv("SABLE_HOST_MEMORY_CHECK");
}

}  // namespace
}  // namespace sable
