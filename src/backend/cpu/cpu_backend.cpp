// The CPU backend: float32 activations, weights used in their stored dtype.
#include <cstring>

#include "backend/backend.h"
#include "backend/cpu/ops.h"

namespace sable {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  Device device() const override { return Device::kCPU; }
  Allocator& allocator() override { return cpu_allocator(); }
  DType activation_dtype() const override { return DType::F32; }
  bool batch_invariant() const override { return true; }

  Tensor to_device(const Tensor& host) override { return host; }
  void copy_to_host(const Tensor& src, void* dst) override { std::memcpy(dst, src.data(), src.nbytes()); }
  void copy_from_host(const void* src, Tensor& dst) override { std::memcpy(dst.data(), src, dst.nbytes()); }
  void copy_from_host_2d(const void* src, size_t src_pitch, Tensor& dst, size_t offset, size_t dst_pitch, size_t width,
                         size_t rows) override {
    if (rows && offset + (rows - 1) * dst_pitch + width > dst.nbytes())
      throw std::invalid_argument("copy_from_host_2d: the block does not fit the tensor");
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(dst.data()) + offset + r * dst_pitch,
                  static_cast<const char*>(src) + r * src_pitch, width);
  }
  void prepare_linear(LinearWeight&) override {}
  void prepare_experts(MoeExperts&) override {}

  void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out) override {
    cpu::embedding(ids, table, row_begin, out);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) override { cpu::rms_norm(x, w, eps, out); }
  void add_rms_norm(Tensor& r, const Tensor& x, const Tensor& w, float eps, Tensor& out) override {
    cpu::add_rms_norm(r, x, w, eps, out);
  }
  void linear(const Tensor& x, const LinearWeight& w, Tensor& out) override { cpu::linear(x, w, out); }
  void silu_and_mul(const Tensor& g, const Tensor& u, Tensor& out) override { cpu::silu_and_mul(g, u, out); }
  void rope(Tensor& x, int offset, int rope_dim, const Tensor& pos, const RopeParams& p) override {
    cpu::rope(x, offset, rope_dim, pos, p);
  }
  void moe_route(const Tensor& logits, const Tensor& bias, const MoeRoutingParams& p, Tensor& ids,
                 Tensor& weights) override {
    cpu::moe_route(logits, bias, p, ids, weights);
  }
  void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const MoeExperts& w,
                   Tensor& out) override {
    cpu::moe_experts(x, ids, weights, w, out);
  }
  void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) override {
    cpu::head_matmul(x, w, transposed, out);
  }
  void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                    const RopeParams* rope) override {
    cpu::mla_absorb_q(q, w_uk, q_latent, rope_positions, rope);
  }
  void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                    const AttentionMetadata& m, Tensor& cache) override {
    cpu::mla_write_kv(kv, norm_w, eps, rope, m, cache);
  }
  void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float scale,
                     int v_dim, Tensor& out) override {
    cpu::mla_attention(q, cache, m, scale, v_dim, out);
  }
  void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe) override {
    cpu::mla_read_kv(cache, slots, c_kv, k_pe);
  }
  void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                              float scale, bool accumulate, Tensor& out, Tensor& lse) override {
    cpu::mla_attention_expanded(q, kv, k_pe, q_pos0, k_pos0, scale, accumulate, out, lse);
  }
  void add_inplace(Tensor& a, const Tensor& b) override { cpu::add_inplace(a, b); }
  void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) override { cpu::gather_rows(x, index, out); }
  void copy_columns(const Tensor& x, int64_t col0, Tensor& out) override { cpu::copy_columns(x, col0, out); }
  void convert(const Tensor& src, Tensor& dst) override { cpu::convert(src, dst); }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace sable
