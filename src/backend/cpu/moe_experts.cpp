#include <algorithm>
#include <cassert>
#include <vector>

#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/silu.h"

namespace sable::cpu {
namespace {

// Tokens per pass: bounds the shared buffer h to kChunk * top_k * I floats
// (17 MB at top-6 x 1408; 34 MB at DeepSeek-V3's top-8 x 2048), while a prefill chunk still gives
// each expert enough tokens to reuse its converted weight panels.
constexpr int64_t kChunk = 512;

// The calling thread's buffers, grown on demand and reused across calls.
struct MoeWorkspace {
  std::vector<int32_t> count, start, token;  // (token, expert) pairs grouped by expert
  std::vector<float> weight;                 // their routing weights
  std::vector<int> active;                   // experts with tokens, ascending
  std::vector<float> h;                      // [pairs, I]: silu(gate x) * up x
  struct Piece { int e; int64_t r0, r1; };
  std::vector<Piece> pieces;                 // gate/up work items
};

// A pool thread's buffers for one piece of work.
struct PieceBuffers {
  std::vector<float> a, b;
};

float* sized(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

void moe_chunk(const Tensor& x, const int32_t* ids, const float* wts, int64_t t0, int64_t T, int64_t K,
               const MoeExperts& w, float* out, MoeWorkspace& ws) {
  const int64_t H = x.dim(1), I = w.gate[0].out_features(), N = T * K;
  const int E = w.num_experts();
  // Counting sort of the N (token, expert) pairs by expert, tokens ascending.
  ws.count.assign(size_t(E), 0);
  ws.start.resize(size_t(E) + 1);
  ws.token.resize(size_t(N));
  ws.weight.resize(size_t(N));
  for (int64_t i = 0; i < N; ++i) {
    assert(ids[i] < E);
    if (ids[i] >= 0) ++ws.count[size_t(ids[i])];  // < 0: another expert-parallel rank's expert
  }
  ws.start[0] = 0;
  ws.active.clear();
  for (int e = 0; e < E; ++e) {
    ws.start[size_t(e) + 1] = ws.start[size_t(e)] + ws.count[size_t(e)];
    if (ws.count[size_t(e)]) ws.active.push_back(e);
    ws.count[size_t(e)] = ws.start[size_t(e)];  // now the write cursor
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      if (ids[t * K + k] < 0) continue;
      const int32_t s = ws.count[size_t(ids[t * K + k])]++;
      ws.token[size_t(s)] = int32_t(t0 + t);
      ws.weight[size_t(s)] = wts[t * K + k];
    }
  float* h = sized(ws.h, N * I);
  const GemmKernels& kern = gemm_kernels();

  // 1. gate and up, then silu * up into h, in pieces of (expert, rows of I).
  ws.pieces.clear();
  for (int e : ws.active) {
    const int64_t n = ws.start[size_t(e) + 1] - ws.start[size_t(e)];
    const int64_t rows = nt_rows_per_item(nt_weight(w.gate[size_t(e)]), I, n);
    for (int64_t r0 = 0; r0 < I; r0 += rows) ws.pieces.push_back({e, r0, std::min(I, r0 + rows)});
  }
  const int64_t scratch_h = nt_scratch_floats(H), scratch_i = nt_scratch_floats(I);
  parallel_items(int64_t(ws.pieces.size()), [&](int64_t p) {
    const MoeWorkspace::Piece& pc = ws.pieces[size_t(p)];
    const int64_t s = ws.start[size_t(pc.e)], n = ws.start[size_t(pc.e) + 1] - s, cols = pc.r1 - pc.r0;
    thread_local PieceBuffers buf;
    float* g = sized(buf.a, n * cols);
    float* u = sized(buf.b, n * cols);
    float* scratch = thread_scratch(scratch_h);
    for (int which = 0; which < 2; ++which) {
      GemmNT a = nt_weight(which == 0 ? w.gate[size_t(pc.e)] : w.up[size_t(pc.e)]);
      a.x = x.ptr<float>();
      a.ldx = H;
      a.x_rows = ws.token.data() + s;  // gather the expert's tokens
      a.y = which == 0 ? g : u;
      a.ldy = cols;
      a.y_col0 = pc.r0;
      kern.nt(a, pc.r0, pc.r1, 0, n, scratch);
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < cols; ++r) h[(s + i) * I + pc.r0 + r] = silu_times(g[i * cols + r], u[i * cols + r]);
  });

  // 2. down for every active expert over a piece of H's rows, then the
  //    weighted sum into out, experts in ascending order for every token.
  int64_t max_n = 0;
  for (int e : ws.active) max_n = std::max<int64_t>(max_n, ws.start[size_t(e) + 1] - ws.start[size_t(e)]);
  const int64_t rows = nt_rows_per_item(nt_weight(w.down[0]), H, max_n);
  parallel_items((H + rows - 1) / rows, [&](int64_t p) {
    const int64_t c0 = p * rows, c1 = std::min(H, c0 + rows), cols = c1 - c0;
    thread_local PieceBuffers buf;
    float* y = sized(buf.a, max_n * cols);
    float* scratch = thread_scratch(scratch_i);
    for (int64_t t = t0; t < t0 + T; ++t) std::fill(out + t * H + c0, out + t * H + c1, 0.f);
    for (int e : ws.active) {
      const int64_t s = ws.start[size_t(e)], n = ws.start[size_t(e) + 1] - s;
      GemmNT a = nt_weight(w.down[size_t(e)]);
      a.x = h + s * I;
      a.ldx = I;
      a.y = y;
      a.ldy = cols;
      a.y_col0 = c0;
      kern.nt(a, c0, c1, 0, n, scratch);
      for (int64_t i = 0; i < n; ++i) {
        float* dst = out + int64_t(ws.token[size_t(s + i)]) * H + c0;
        const float wt = ws.weight[size_t(s + i)];
        for (int64_t j = 0; j < cols; ++j) dst[j] += wt * y[i * cols + j];
      }
    }
  });
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
// depend on the batch (nor on the chunking of large batches).
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights, const MoeExperts& w,
                 Tensor& out) {
  const int64_t T = x.dim(0), H = x.dim(1), K = topk_ids.dim(1);
  assert(out.dim(0) == T && out.dim(1) == H && w.num_experts() > 0);
  (void)H;
  thread_local MoeWorkspace tl_ws;
  MoeWorkspace& ws = tl_ws;  // the pool's threads reach it by reference
  for (int64_t t0 = 0; t0 < T; t0 += kChunk)
    moe_chunk(x, topk_ids.ptr<int32_t>() + t0 * K, topk_weights.ptr<float>() + t0 * K, t0, std::min(kChunk, T - t0),
              K, w, out.ptr<float>(), ws);
}

}  // namespace sable::cpu
