// The fast linear (gemm.h's nt kernel, every ISA variant this CPU runs)
// against linear_reference for every weight dtype at odd shapes, and its
// batch invariance: a token's outputs are bitwise the same alone, inside any
// batch, and whatever rows or threads a call covers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <tuple>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"
#include "cpu_kernels/kernel_util.h"

namespace sable {
namespace {

using testing::abs_dot;
using testing::bitwise_equal;
using testing::random_f32;
using testing::random_weight;
using testing::testable_kernels;

struct Shape3 {
  int64_t T, out, in;
};
// in: below one vector, not a multiple of 16 or of 128 (partial FP8 edge
// blocks in both directions), and large.
const Shape3 kShapes[] = {{1, 37, 200}, {3, 19, 131}, {5, 33, 7},   {8, 130, 259},
                          {37, 45, 300}, {2, 129, 1000}, {64, 150, 1030}};
const DType kDtypes[] = {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3};

cpu::GemmNT problem(const Tensor& x, const LinearWeight& w, Tensor& y) {
  cpu::GemmNT a = cpu::nt_weight(w);
  a.x = x.ptr<float>();
  a.ldx = x.dim(1);
  a.y = y.ptr<float>();
  a.ldy = y.dim(1);
  return a;
}

void run_nt(const cpu::GemmKernels& k, const Tensor& x, const LinearWeight& w, Tensor& y) {
  cpu::GemmNT a = problem(x, w, y);
  k.nt(a, 0, w.out_features(), 0, x.dim(0), cpu::thread_scratch(cpu::nt_scratch_floats(w.in_features())));
}

void expect_close(const Tensor& got, const Tensor& ref, const std::vector<double>& scale, const std::string& what) {
  int bad = 0;
  for (int64_t i = 0; i < ref.numel() && bad < 5; ++i) {
    const double d = std::fabs(double(got.ptr<float>()[i]) - ref.ptr<float>()[i]);
    if (!(d <= 1e-5 * scale[size_t(i)] + 1e-30)) {
      ADD_FAILURE() << what << " element " << i << ": " << got.ptr<float>()[i] << " vs " << ref.ptr<float>()[i]
                    << " (bound " << 1e-5 * scale[size_t(i)] << ")";
      ++bad;
    }
  }
}

std::string name(const cpu::GemmKernels& k, DType dt, const Shape3& s) {
  return std::string(k.name) + " " + dtype_name(dt) + " T=" + std::to_string(s.T) + " out=" +
         std::to_string(s.out) + " in=" + std::to_string(s.in);
}

TEST(Linear, EveryDtypeAndIsaMatchesReference) {
  uint64_t seed = 1;
  std::string names;
  for (const auto* k : testable_kernels()) names += std::string(names.empty() ? "" : ", ") + k->name;
  std::printf("kernel variants tested: %s (active: %s)\n", names.c_str(), cpu::gemm_kernels().name);
  for (const auto* k : testable_kernels())
    for (DType dt : kDtypes)
      for (const Shape3& s : kShapes) {
        Tensor x = random_f32({s.T, s.in}, seed++);
        LinearWeight w = random_weight(dt, s.out, s.in, seed++);
        Tensor ref = Tensor::empty(DType::F32, {s.T, s.out}), y = Tensor::empty(DType::F32, {s.T, s.out});
        cpu::linear_reference(x, w, ref);
        run_nt(*k, x, w, y);
        expect_close(y, ref, abs_dot(x, w), name(*k, dt, s));
      }
}

TEST(Linear, Fp8OddBlocksAndLargeScales) {
  // A block width that is not a multiple of the vector width takes the
  // element-wise conversion; scales >= 2^8 take the two-multiply path.
  uint64_t seed = 100;
  struct Case { int bo, bi; float scale; };
  for (const auto* k : testable_kernels())
    for (Case c : {Case{128, 100, 1.f / 64}, Case{64, 48, 1.f / 64}, Case{128, 128, 1024.f}, Case{32, 40, 4096.f}})
      for (const Shape3& s : {Shape3{1, 70, 250}, Shape3{2, 33, 130}, Shape3{23, 70, 250}}) {
        Tensor x = random_f32({s.T, s.in}, seed++);
        LinearWeight w = random_weight(DType::F8_E4M3, s.out, s.in, seed++, c.bo, c.bi, c.scale);
        Tensor ref = Tensor::empty(DType::F32, {s.T, s.out}), y = Tensor::empty(DType::F32, {s.T, s.out});
        cpu::linear_reference(x, w, ref);
        run_nt(*k, x, w, y);
        expect_close(y, ref, abs_dot(x, w),
                     name(*k, DType::F8_E4M3, s) + " bo=" + std::to_string(c.bo) + " bi=" + std::to_string(c.bi));
      }
}

// One-hot activations read single weights back through the kernel (one
// exact product, the rest zeros): every FP8 code times scales of both signs,
// tiny (subnormal results) and huge (the two-multiply path) must equal the
// reference dequantisation bit for bit; likewise F16 and BF16 codes.
TEST(Linear, WeightDecodeIsExact) {
  for (const auto* k : testable_kernels())
    for (DType dt : {DType::F8_E4M3, DType::F16, DType::BF16})
      for (float scale : {0.37f, -0.0123f, 3e-39f, 1000.f}) {
        if (dt != DType::F8_E4M3 && scale != 0.37f) continue;
        const int64_t n = 256;
        LinearWeight w = random_weight(dt, 1, n, 7);
        if (dt == DType::F8_E4M3) {
          for (int64_t i = 0; i < n; ++i) w.weight.ptr<uint8_t>()[i] = uint8_t((i & 0x7f) == 0x7f ? i ^ 1 : i);
          for (int64_t i = 0; i < w.scale_inv.numel(); ++i) w.scale_inv.ptr<float>()[i] = scale;
        } else {
          for (int64_t i = 0; i < n; ++i) {  // finite codes across the whole range
            uint16_t c = uint16_t((i * 2654435761u) >> 16);
            if (((c >> (dt == DType::F16 ? 10 : 7)) & (dt == DType::F16 ? 0x1f : 0xff)) == (dt == DType::F16 ? 0x1f : 0xff))
              c ^= uint16_t(dt == DType::F16 ? 0x4000 : 0x4000);
            w.weight.ptr<uint16_t>()[i] = c;
          }
        }
        Tensor x = Tensor::zeros(DType::F32, {n, n});
        for (int64_t t = 0; t < n; ++t) x.ptr<float>()[t * n + t] = 1.f;
        Tensor got = Tensor::empty(DType::F32, {n, 1}), ref = Tensor::empty(DType::F32, {n, 1});
        run_nt(*k, x, w, got);
        cpu::linear_reference(x, w, ref);
        for (int64_t t = 0; t < n; ++t)
          ASSERT_TRUE(bitwise_equal(got.ptr<float>() + t, ref.ptr<float>() + t, 1))
              << k->name << " " << dtype_name(dt) << " code " << t << " scale " << scale << ": "
              << got.ptr<float>()[t] << " vs " << ref.ptr<float>()[t];
      }
}

// Token t computed alone (T = 1), inside batches of several sizes, and over
// row ranges that cut register tiles and panels: all bitwise equal.
TEST(Linear, BatchInvariantPerIsa) {
  const int64_t T = 37;
  uint64_t seed = 500;
  for (const auto* k : testable_kernels())
    for (DType dt : kDtypes)
      for (int64_t in : {int64_t(131), int64_t(300), int64_t(1030)}) {
        const int64_t out = 150;
        Tensor x = random_f32({T, in}, seed++);
        LinearWeight w = random_weight(dt, out, in, seed++);
        Tensor full = Tensor::empty(DType::F32, {T, out});
        run_nt(*k, x, w, full);
        const std::string what = std::string(k->name) + " " + dtype_name(dt) + " in=" + std::to_string(in);
        // Each token alone.
        for (int64_t t = 0; t < T; ++t) {
          Tensor one = Tensor::empty(DType::F32, {1, out});
          run_nt(*k, x.rows(t, t + 1), w, one);
          ASSERT_TRUE(bitwise_equal(one.ptr<float>(), full.ptr<float>() + t * out, out)) << what << " token " << t;
        }
        // Sub-batches of every size up to 9, at shifting offsets.
        for (int64_t n = 2; n <= 9; ++n)
          for (int64_t t0 = (n * 5) % 7; t0 + n <= T; t0 += 11) {
            Tensor part = Tensor::empty(DType::F32, {n, out});
            run_nt(*k, x.rows(t0, t0 + n), w, part);
            ASSERT_TRUE(bitwise_equal(part.ptr<float>(), full.ptr<float>() + t0 * out, n * out))
                << what << " tokens " << t0 << "+" << n;
          }
        // Row ranges and token ranges cut anywhere.
        Tensor cut = Tensor::empty(DType::F32, {T, out});
        cpu::GemmNT a = problem(x, w, cut);
        float* scratch = cpu::thread_scratch(cpu::nt_scratch_floats(in));
        for (int64_t o0 = 0; o0 < out;) {
          const int64_t o1 = std::min<int64_t>(out, o0 + 1 + (o0 * 7) % 13);
          for (int64_t t0 = 0; t0 < T;) {
            const int64_t t1 = std::min<int64_t>(T, t0 + 1 + (t0 * 3 + o0) % 10);
            k->nt(a, o0, o1, t0, t1, scratch);
            t0 = t1;
          }
          o0 = o1;
        }
        ASSERT_TRUE(bitwise_equal(cut.ptr<float>(), full.ptr<float>(), T * out)) << what << " cut ranges";
      }
}

// linear() (active ISA, all threads) equals the single-threaded kernel, and
// decode-sized calls equal the same rows of a prefill-sized call.
TEST(Linear, ThreadedEqualsKernelAndDecodeEqualsPrefill) {
  uint64_t seed = 900;
  for (DType dt : kDtypes) {
    const int64_t T = 70, out = 1000, in = 2048;
    Tensor x = random_f32({T, in}, seed++);
    LinearWeight w = random_weight(dt, out, in, seed++);
    Tensor a = Tensor::empty(DType::F32, {T, out}), b = Tensor::empty(DType::F32, {T, out});
    cpu::linear(x, w, a);
    run_nt(cpu::gemm_kernels(), x, w, b);
    EXPECT_TRUE(bitwise_equal(a.ptr<float>(), b.ptr<float>(), T * out)) << dtype_name(dt);
    for (int64_t t : {0, 13, 69}) {
      Tensor one = Tensor::empty(DType::F32, {1, out});
      cpu::linear(x.rows(t, t + 1), w, one);
      EXPECT_TRUE(bitwise_equal(one.ptr<float>(), a.ptr<float>() + t * out, out)) << dtype_name(dt) << " token " << t;
    }
  }
}

// nn (y = x W, used by attention and head_matmul): every ISA against a
// double reference; invariant to the token and column ranges; accumulate.
TEST(GemmNN, MatchesReferenceAndIsInvariant) {
  uint64_t seed = 1300;
  for (const auto* k : testable_kernels())
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
      for (auto [T, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 128, 512}, {7, 33, 77}, {19, 16, 520}, {5, 3, 9}}) {
        Tensor x = random_f32({T, K}, seed++);
        LinearWeight w = random_weight(dt, K, N, seed++);
        Tensor wf = Tensor::empty(DType::F32, {K, N});
        cpu::to_f32(w.weight.data(), dt, K * N, wf.ptr<float>());
        Tensor y0 = random_f32({T, N}, seed++);
        Tensor y = Tensor::empty(DType::F32, {T, N});
        std::copy_n(y0.ptr<float>(), T * N, y.ptr<float>());
        cpu::GemmNN a{x.ptr<float>(), K, y.ptr<float>(), N, w.weight.data(), dt, N, K, true};
        k->nn(a, 0, N, 0, T);
        const std::string what = std::string(k->name) + " " + dtype_name(dt) + " K=" + std::to_string(K) + " N=" +
                                 std::to_string(N);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t n = 0; n < N; ++n) {
            double ref = y0.ptr<float>()[t * N + n], mag = std::fabs(ref);
            for (int64_t j = 0; j < K; ++j) {
              const double p = double(x.ptr<float>()[t * K + j]) * wf.ptr<float>()[j * N + n];
              ref += p;
              mag += std::fabs(p);
            }
            ASSERT_NEAR(y.ptr<float>()[t * N + n], ref, 1e-5 * mag + 1e-30) << what << " t=" << t << " n=" << n;
          }
        // Token by token and in ragged column ranges: bitwise the same.
        Tensor z = Tensor::empty(DType::F32, {T, N});
        std::copy_n(y0.ptr<float>(), T * N, z.ptr<float>());
        cpu::GemmNN b = a;
        b.y = z.ptr<float>();
        for (int64_t t = 0; t < T; ++t)
          for (int64_t n0 = 0; n0 < N;) {
            const int64_t n1 = std::min<int64_t>(N, n0 + 1 + (n0 * 13 + t) % 40);
            k->nn(b, n0, n1, t, t + 1);
            n0 = n1;
          }
        ASSERT_TRUE(bitwise_equal(z.ptr<float>(), y.ptr<float>(), T * N)) << what;
      }
}

}  // namespace
}  // namespace sable
