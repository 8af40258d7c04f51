// MoE routing, noaux_tc exactly as cpu/moe_route.cpp and in float32 (in bf16
// routes flip): s = sigmoid(logit); choice = s + bias; each group scores the
// sum of its top-2 choices; the best topk_group groups are kept; the top_k
// experts among them by choice are chosen, ties toward the lower index;
// weights are the unbiased s of the chosen, normalized if asked, times
// routed_scaling_factor. Output order = descending choice, as the CPU's
// partial_sort; shared experts fused as experts E.. follow with weight 1.
//
// One block per token, and no serial selection rounds: a group's score is a
// warp's top-2 reduction; a group is kept when fewer than topk_group groups
// beat it, and an expert is chosen when fewer than top_k experts beat it (its
// rank, counted by its own thread over all E: O(E) per thread, all in
// parallel), which is also its output column. "Beat" is the CPU's order:
// larger value, ties toward the lower index. (The previous kernel, a warp
// per token picking the top_k in k rounds of warp reductions, took 21 us for
// one decode token on the H200: ncu, run of ea5d55a.) File named
// expert_routing, not moe_*: moe* files hold the grouped GEMM experts.
#include <cassert>
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/expert_routing.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {
namespace {

constexpr int kThreads = kRouteThreads;

__global__ void __launch_bounds__(kThreads) moe_route_kernel(const float* logits, const float* bias, RouteShape r,
                                                             int32_t* ids_out, float* w_out) {
  pdl_begin();
  extern __shared__ float smem[];
  const int64_t t = blockIdx.x;
  route_token(logits + t * r.E, bias, r, smem, ids_out + t * (r.K + r.S), w_out + t * (r.K + r.S));
}

}  // namespace

void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights, cudaStream_t stream) {
  const int64_t T = router_logits.dim(0);
  const int E = p.num_experts, G = p.n_group, K = p.top_k, S = p.num_shared;
  if (router_logits.dtype() != DType::F32 || (bias.data() && bias.dtype() != DType::F32))
    throw std::runtime_error("CUDA moe_route: router logits and bias must be F32");
  if (router_logits.dim(1) != E || E % G != 0 || K < 1 || K > E || p.topk_group > G || S < 0 ||
      topk_ids.dim(1) != K + S || topk_weights.dim(1) != K + S)
    throw std::runtime_error("CUDA moe_route: unsupported routing shape");
  if (T == 0) return;
  const RouteShape r = route_shape(p);
  const size_t smem = route_smem_bytes(r);
  allow_dynamic_smem(moe_route_kernel, smem);
  launch_pdl(moe_route_kernel, unsigned(T), kThreads, smem, stream, router_logits.ptr<float>(),
             bias.data() ? bias.ptr<float>() : nullptr, r, topk_ids.ptr<int32_t>(), topk_weights.ptr<float>());
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
