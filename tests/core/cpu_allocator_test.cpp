// The host allocators behind CPU tensors: cpu_allocator (malloc) and
// mapped_host_allocator (large blocks, >= 4 MiB, mapped from the kernel, for
// weights made at load). Both must hand out zeroed memory from Tensor::empty
// and Tensor::zeros, and the mapped one give large blocks back when freed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/host_allocator.h"
#include "core/sanitizer.h"
#include "core/tensor.h"

namespace sable {
namespace {

bool all_zero(const Tensor& t) {
  const auto* p = t.ptr<unsigned char>();
  for (size_t i = 0; i < t.nbytes(); ++i)
    if (p[i] != 0) return false;
  return true;
}

// Resident set size in bytes (Linux).
size_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? size_t(resident) * size_t(sysconf(_SC_PAGESIZE)) : 0;
}

TEST(CpuAllocator, EmptyAndZerosAreZeroAndAlignedAtEverySize) {
  for (Allocator* a : {&cpu_allocator(), &mapped_host_allocator()})
    for (int64_t bytes : {int64_t(1), int64_t(4096), int64_t(4 << 20) - 1, int64_t(4 << 20), int64_t(9 << 20) + 7}) {
      for (int round = 0; round < 2; ++round) {  // the second round reuses what the first freed
        Tensor e = Tensor::empty(DType::U8, {bytes}, *a);
        Tensor z = Tensor::zeros(DType::U8, {bytes}, *a);
        EXPECT_EQ(e.device(), Device::kCPU);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(e.data()) % 64, 0u) << bytes;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(z.data()) % 64, 0u) << bytes;
        EXPECT_TRUE(all_zero(e)) << bytes << " bytes, round " << round;
        EXPECT_TRUE(all_zero(z)) << bytes << " bytes, round " << round;
        std::memset(e.data(), 0xA5, size_t(bytes));  // dirty them for the next round
        std::memset(z.data(), 0x5A, size_t(bytes));
      }
    }
}

TEST(CpuAllocator, LargeBlocksGoBackWhenFreed) {
  // ASan's allocator holds freed blocks in quarantine (256 MiB by default).
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer build: freed blocks are quarantined, not returned";
  const size_t before = rss_bytes();
  if (before == 0) GTEST_SKIP() << "no /proc/self/statm";
  // 64 blocks of 32 MiB, each written through: 2 GiB in all. Kept, they
  // would raise the resident set by that much; given back, by one block.
  for (int i = 0; i < 64; ++i) {
    Tensor t = Tensor::empty(DType::U8, {int64_t(32) << 20}, mapped_host_allocator());
    std::memset(t.data(), 1, t.nbytes());
  }
  EXPECT_LT(rss_bytes(), before + (size_t(256) << 20));
}

// Kernel mappings (VMAs) of this process (Linux).
int mapping_count() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) return -1;
  int n = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) n += c == '\n';
  std::fclose(f);
  return n;
}

TEST(CpuAllocator, ExpertBlocksShareKernelMappings) {
  // A process may hold vm.max_map_count mappings (65,530 by default). A full
  // dummy DeepSeek-V3 on the CPU backend keeps ~45 k expert tensors from this
  // allocator; one mapping each would come near the limit, where mmap fails.
  // The kernel merges a new anonymous mapping with its neighbour when they
  // touch and their flags agree. Kernels that place mappings of whole 2 MiB
  // multiples on 2 MiB boundaries (6.18 here) leave a gap before such a block
  // when the one before it is not a multiple; experts are multiples
  // (2,048 x 7,168 bytes in FP8 is 14 MiB), so a layer's experts, made one
  // after another at load, share one mapping. A layer as loaded: two
  // attention projections of odd sizes, then 64 experts. Mappings are made,
  // not touched (no memory is used).
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer build: the mapped allocator maps nothing";
  const int before = mapping_count();
  if (before < 0) GTEST_SKIP() << "no /proc/self/maps";
  std::vector<Tensor> kept;
  constexpr int kLayers = 4;
  for (int layer = 0; layer < kLayers; ++layer) {
    kept.push_back(Tensor::empty(DType::U8, {int64_t(576) * 7168 * 2}, mapped_host_allocator()));       // kv_a, BF16
    kept.push_back(Tensor::empty(DType::U8, {int64_t(1536) * 24576 + 4096}, mapped_host_allocator()));  // odd size
    for (int x = 0; x < 64; ++x)
      kept.push_back(Tensor::empty(DType::U8, {int64_t(2048) * 7168}, mapped_host_allocator()));  // an FP8 expert
  }
  EXPECT_LE(mapping_count() - before, 3 * kLayers) << kept.size() << " blocks kept";
}

}  // namespace
}  // namespace sable
