// The CPU implementations of the backend ops (backend/backend.h), one per
// file in this folder. Activations are float32; weights may be any float
// dtype and are converted on the fly, so memory holds them as stored.
#pragma once

#include "backend/backend.h"

namespace sable::cpu {

void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void linear(const Tensor& x, const LinearWeight& w, Tensor& out);
// The plain reference the fast linear() is tested against.
void linear_reference(const Tensor& x, const LinearWeight& w, Tensor& out);
void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out);
void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions, const RopeParams& p);
// Rotates one vector v[0:rope_dim] for position `pos` (shared by rope and
// mla_write_kv).
void rope_vector(float* v, int rope_dim, int32_t pos, const RopeParams& p);
void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights);
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights,
                 const MoeExperts& w, Tensor& out);
void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out);
void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions = nullptr,
                  const RopeParams* rope = nullptr);
void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                  const AttentionMetadata& m, Tensor& cache);
void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m,
                   float softmax_scale, int v_dim, Tensor& out);
void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe);
void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                            float softmax_scale, bool accumulate, Tensor& out, Tensor& lse);
void add_inplace(Tensor& a, const Tensor& b);
void gather_rows(const Tensor& x, const Tensor& index, Tensor& out);
void copy_columns(const Tensor& x, int64_t col0, Tensor& out);
void convert(const Tensor& src, Tensor& dst);

}  // namespace sable::cpu
