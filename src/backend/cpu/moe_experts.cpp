#include <algorithm>
#include <cassert>
#include <vector>

#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/silu.h"

namespace sable::cpu {
namespace {

// Per-thread buffers of the op, grown on demand and reused across calls.
struct MoeWorkspace {
  std::vector<int32_t> count, start, token;  // tokens grouped by expert
  std::vector<float> weight;                 // their routing weights
  std::vector<int> active;                   // experts with tokens, ascending
  std::vector<float> xg, gate, up, y;        // [T*K, H], [T*K, I] x2, [T*K, H]
  struct Piece { int e; int64_t r0, r1; };
  std::vector<Piece> pieces;                 // gate/up work items
};

template <class V>
void grow(V& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

// Tokens are grouped by expert so that each expert's weights are read once
// per call (the CPU analogue of the grouped GEMM over permuted tokens), and
// the work of all active experts is cut into pieces for the pool at once,
// so a decode step with 6 single-token experts keeps every core streaming:
//   1. gate/up: pieces of (expert, rows of I) -> h = silu(gate x) * up x;
//   2. down + combine: pieces of rows of H; each runs every active expert's
//      rows, then adds them into out in ascending expert order.
// Every output value comes from the nt kernel (batch-invariant) and each
// token's sum over experts has a fixed order, so a token's result does not
// depend on the batch.
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const MoeExperts& w,
                 Tensor& out) {
  const int64_t T = x.dim(0), H = x.dim(1), K = topk_ids.dim(1);
  const int E = w.num_experts();
  assert(out.dim(0) == T && out.dim(1) == H && E > 0);
  const int64_t I = w.gate[0].out_features();
  // The caller's workspace; the pool's threads reach it by reference.
  thread_local MoeWorkspace tl_ws;
  MoeWorkspace& ws = tl_ws;

  // Counting sort of the T*K assignments by expert (tokens ascending within).
  ws.count.assign(size_t(E), 0);
  grow(ws.start, size_t(E) + 1);
  const int32_t* ids = topk_ids.ptr<int32_t>();
  for (int64_t i = 0; i < T * K; ++i) {
    assert(ids[i] >= 0 && ids[i] < E);
    ++ws.count[size_t(ids[i])];
  }
  ws.start[0] = 0;
  ws.active.clear();
  for (int e = 0; e < E; ++e) {
    ws.start[size_t(e) + 1] = ws.start[size_t(e)] + ws.count[size_t(e)];
    if (ws.count[size_t(e)]) ws.active.push_back(e);
  }
  const int64_t N = T * K;
  grow(ws.token, size_t(N));
  grow(ws.weight, size_t(N));
  grow(ws.xg, size_t(N * H));
  grow(ws.gate, size_t(N * I));
  grow(ws.up, size_t(N * I));
  grow(ws.y, size_t(N * H));
  {
    std::vector<int32_t>& fill = ws.count;  // reused as the write cursor
    for (int e = 0; e < E; ++e) fill[size_t(e)] = ws.start[size_t(e)];
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k) {
        const int32_t e = ids[t * K + k];
        const int32_t s = fill[size_t(e)]++;
        ws.token[size_t(s)] = int32_t(t);
        ws.weight[size_t(s)] = topk_weights.ptr<float>()[t * K + k];
        std::copy_n(x.ptr<float>() + t * H, H, ws.xg.data() + size_t(s) * size_t(H));
      }
  }

  // 1. gate and up, then silu * up, in pieces of (expert, rows of I).
  auto& pieces = ws.pieces;
  pieces.clear();
  for (int e : ws.active) {
    const int64_t n = ws.start[size_t(e) + 1] - ws.start[size_t(e)];
    const int64_t rows = nt_rows_per_item(nt_weight(w.gate[size_t(e)]), I, n);
    for (int64_t r0 = 0; r0 < I; r0 += rows) pieces.push_back({e, r0, std::min(I, r0 + rows)});
  }
  const int64_t scratch_h = nt_scratch_floats(H), scratch_i = nt_scratch_floats(I);
  const GemmKernels& k = gemm_kernels();
  parallel_items(int64_t(pieces.size()), [&](int64_t p) {
    const MoeWorkspace::Piece& pc = pieces[size_t(p)];
    const int64_t s = ws.start[size_t(pc.e)], n = ws.start[size_t(pc.e) + 1] - s;
    float* scratch = thread_scratch(scratch_h);
    for (int which = 0; which < 2; ++which) {
      GemmNT a = nt_weight(which == 0 ? w.gate[size_t(pc.e)] : w.up[size_t(pc.e)]);
      a.x = ws.xg.data() + s * H;
      a.ldx = H;
      a.y = (which == 0 ? ws.gate.data() : ws.up.data()) + s * I;
      a.ldy = I;
      k.nt(a, pc.r0, pc.r1, 0, n, scratch);
    }
    for (int64_t i = 0; i < n; ++i) {
      float* g = ws.gate.data() + (s + i) * I;
      const float* u = ws.up.data() + (s + i) * I;
      for (int64_t r = pc.r0; r < pc.r1; ++r) g[r] = silu_times(g[r], u[r]);
    }
  });

  // 2. down for every active expert over a piece of H's rows, then the
  //    weighted sum into out (ascending expert order per token).
  const int64_t max_n = [&] {
    int64_t m = 0;
    for (int e : ws.active) m = std::max<int64_t>(m, ws.start[size_t(e) + 1] - ws.start[size_t(e)]);
    return m;
  }();
  const int64_t rows = nt_rows_per_item(nt_weight(w.down[0]), H, max_n);
  float* o = out.ptr<float>();
  parallel_items((H + rows - 1) / rows, [&](int64_t p) {
    const int64_t c0 = p * rows, c1 = std::min(H, c0 + rows);
    float* scratch = thread_scratch(scratch_i);
    for (int64_t t = 0; t < T; ++t) std::fill(o + t * H + c0, o + t * H + c1, 0.f);
    for (int e : ws.active) {
      const int64_t s = ws.start[size_t(e)], n = ws.start[size_t(e) + 1] - s;
      GemmNT a = nt_weight(w.down[size_t(e)]);
      a.x = ws.gate.data() + s * I;
      a.ldx = I;
      a.y = ws.y.data() + s * H;
      a.ldy = H;
      k.nt(a, c0, c1, 0, n, scratch);
      for (int64_t i = 0; i < n; ++i) {
        float* dst = o + int64_t(ws.token[size_t(s + i)]) * H;
        const float* src = ws.y.data() + (s + i) * H;
        const float wt = ws.weight[size_t(s + i)];
        for (int64_t j = c0; j < c1; ++j) dst[j] += wt * src[j];
      }
    }
  });
}

}  // namespace sable::cpu
