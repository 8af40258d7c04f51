#include "model/tensor_parallel.h"

#include <string>
#include <vector>

#include "backend/cpu/ops.h"

namespace sable {

namespace {
// The sizes up to 16 that would split every dimension in `dims`, as "1, 2, 4".
std::string sizes_that_work(const std::vector<std::pair<std::string, int64_t>>& dims, int64_t align) {
  std::string s = "1";  // one rank splits nothing
  for (int n = 2; n <= 16; ++n) {
    bool ok = true;
    for (const auto& [name, d] : dims) ok = ok && d % n == 0 && (d / n) % align == 0;
    if (ok) s += ", " + std::to_string(n);
  }
  return s;
}
}  // namespace

Status check_tensor_parallel(const ModelConfig& c, int size, bool expert_parallel) {
  if (size < 1) return invalid_argument("--tensor-parallel-size must be at least 1, got " + std::to_string(size));
  if (size == 1) return Status::ok();
  // Expert parallelism places routed experts whole; the shared MLP (n_shared
  // x moe_intermediate_size) still splits.
  const bool ep = expert_parallel && c.n_routed_experts > 0;
  if (ep && c.n_routed_experts % size != 0)
    return invalid_argument("--tensor-parallel-size " + std::to_string(size) +
                            " with --enable-expert-parallel does not divide n_routed_experts (" +
                            std::to_string(c.n_routed_experts) +
                            "): each rank holds an equal number of whole experts. Sizes that divide it: " +
                            sizes_that_work({{"n_routed_experts", c.n_routed_experts}}, 1));
  const int64_t moe_split = ep ? c.moe_intermediate_size * c.n_shared_experts : c.moe_intermediate_size;
  const std::string moe_name =
      ep ? "the shared experts' intermediate size (n_shared_experts x moe_intermediate_size)" : "moe_intermediate_size";
  // Every dimension a rank holds a part of, by the name users know it by.
  std::vector<std::pair<std::string, int64_t>> dims = {
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"vocab_size", c.vocab_size},
  };
  if (c.n_routed_experts > 0 && moe_split > 0) dims.push_back({moe_name, moe_split});
  for (const auto& [name, d] : dims)
    if (d % size != 0)
      return invalid_argument("--tensor-parallel-size " + std::to_string(size) + " does not divide " + name + " (" +
                              std::to_string(d) +
                              "): the ranks split it evenly. Sizes that divide every split "
                              "dimension of this model: " +
                              sizes_that_work(dims, 1));
  if (!c.quantization.is_fp8()) return Status::ok();
  // FP8 checkpoints: each rank's part of every split weight, in rows or
  // columns, must be whole scale blocks.
  const int64_t bo = c.quantization.block_out, bi = c.quantization.block_in;
  const int64_t heads = c.num_attention_heads / size;
  std::vector<std::pair<std::string, int64_t>> parts = {
      {"q_b_proj rows (heads x qk_head_dim)", heads * c.qk_head_dim()},
      {"kv_b_proj rows (heads x (qk_nope_head_dim + v_head_dim))", heads * (c.qk_nope_head_dim + c.v_head_dim)},
      {"o_proj columns (heads x v_head_dim)", heads * c.v_head_dim},
      {"intermediate_size", c.intermediate_size / size},
  };
  if (c.n_routed_experts > 0 && moe_split > 0) parts.push_back({moe_name, moe_split / size});
  const int64_t block = std::max(bo, bi);
  for (const auto& [name, d] : parts)
    if (d % block != 0) {
      std::vector<std::pair<std::string, int64_t>> whole = {
          {"", c.num_attention_heads * c.qk_head_dim()},
          {"", c.num_attention_heads * (c.qk_nope_head_dim + c.v_head_dim)},
          {"", c.num_attention_heads * c.v_head_dim},
          {"", c.intermediate_size},
          {"", c.vocab_size}};
      if (c.n_routed_experts > 0 && moe_split > 0) whole.push_back({"", moe_split});
      const std::string ok = sizes_that_work(whole, block);
      return invalid_argument("--tensor-parallel-size " + std::to_string(size) + " splits the FP8 checkpoint's " +
                              name + " into parts of " + std::to_string(d) + ", not a multiple of its " +
                              std::to_string(block) + "-wide scale blocks. " +
                              (ok == "1" ? std::string("This checkpoint's FP8 weights cannot be split; serve it on one "
                                                       "rank, or from a BF16 checkpoint with --quantization fp8")
                                         : "Sizes that keep whole blocks: " + ok));
    }
  return Status::ok();
}

LinearWeight slice_linear_rows(const LinearWeight& w, int64_t r0, int64_t r1) {
  LinearWeight s = w;
  s.prepared.reset();
  s.weight = w.weight.rows(r0, r1);
  if (w.is_fp8()) s.scale_inv = w.scale_inv.rows(r0 / w.block_out, (r1 + w.block_out - 1) / w.block_out);
  return s;
}

LinearWeight slice_linear_cols(const LinearWeight& w, int64_t c0, int64_t c1) {
  auto cols = [](const Tensor& t, int64_t b, int64_t e) {
    Tensor out = Tensor::empty(t.dtype(), {t.dim(0), e - b});
    cpu::copy_columns(t, b, out);
    return out;
  };
  LinearWeight s = w;
  s.prepared.reset();
  s.weight = cols(w.weight, c0, c1);
  if (w.is_fp8()) s.scale_inv = cols(w.scale_inv, c0 / w.block_in, (c1 + w.block_in - 1) / w.block_in);
  return s;
}

}  // namespace sable
