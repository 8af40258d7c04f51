#include "backend/cuda/knobs.h"

#include <cstdlib>

#include "backend/cuda/cuda_allocator.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.h"
#include "backend/cuda/sampling.h"

namespace sable::cuda {
namespace {

int g_skip = 0;  // SkipGroup mask
bool g_absorb_rope = true;
// The fused MLA front of a one-token decode step (mla_front.cu): opt-in while
// it is measured (SABLE_MLA_FRONT=1, or the knob).
int g_mla_front = [] {
  const char* e = std::getenv("SABLE_MLA_FRONT");
  return e != nullptr && *e == '1' ? 1 : 0;
}();

struct Knob {
  const char* name;
  const char* values;
  bool (*set)(int);
};

const Knob kKnobs[] = {
    {"pdl", "1 | 0 (programmatic dependent launch, SABLE_PDL)",
     [](int v) { return (v == 0 || v == 1) && (set_pdl_enabled(v == 1), true); }},
    {"stream-tiles", "1 | 0 (FP8 dense GEMMs read the tiled copy, SABLE_STREAM_TILES)",
     [](int v) { return (v == 0 || v == 1) && (set_stream_tiles_read(v == 1), true); }},
    {"dense-kwarps", "0 (the rule) | 2 | 4 (SABLE_DENSE_KWARPS)", [](int v) { return set_dense_kwarps(v); }},
    {"stream-gemm-variant", "-1 (by dtype) | 0 (registers) | 1 (ring) (SABLE_STREAM_GEMM_SMEM)",
     [](int v) { return (v >= -1 && v <= 1) && (set_stream_gemm_variant(v), true); }},
    {"moe-bn", "0 (the rule) | 8 | 16 | 32 | 64 (MoE token tile, SABLE_MOE_BN)", [](int v) { return set_moe_bn(v); }},
    {"moe-wgmma-variant",
     "-1 (the default) | 0 (reference) | 1 (warp-specialized, 128-row) | 2 (256-row, paired tiles) | 3 (2, the "
     "down GEMM persistent with TMA stores) (the grouped kernel at prefill sizes, SABLE_MOE_WGMMA_WS)",
     [](int v) { return (v >= -1 && v <= 3) && (set_grouped_wgmma_variant(v), true); }},
    {"stream-kwarps", "0 (the rule) | 2 | 4 (K-warps of the MoE's grouped CTAs, SABLE_STREAM_KWARPS)",
     [](int v) { return set_stream_kwarps(v); }},
    {"mla-split-tiles", "0 (the rule) | 1..64 (least 64-key tiles per split of MLA decode, SABLE_MLA_SPLIT_TILES)",
     [](int v) { return set_mla_split_tiles(v); }},
    {"mla-small-units",
     "0..4096 (MLA decode: the 16-head kernel up to this many token x 64-head units, 0 never; SABLE_MLA_SMALL_UNITS)",
     [](int v) { return set_mla_small_units(v); }},
    {"mla-graph-splits", "1 | 0 (a graph's MLA split count suits every context up to its bound, or the bound's own)",
     [](int v) { return set_mla_graph_splits(v); }},
    {"mla-fp8-ws",
     "1 | 0 (MLA decode on an FP8 cache: the warp-specialized kernel, or the wgmma one; SABLE_MLA_FP8_WS)",
     [](int v) { return set_mla_fp8_ws(v); }},
    {"mla-combine-groups",
     "0 | 1 | 2 | 4 | 8 (MLA split-K combine: thread groups each walking every G-th split, 0 by the split and row "
     "counts; "
     "SABLE_MLA_COMBINE_GROUPS)",
     [](int v) { return set_mla_combine_groups(v); }},
    {"mla-combine-blocks",
     "0 | 1 | 2 | 4 (MLA split-K combine: blocks a (token, head) row, each over 1 / C of the value dims, 0 by the "
     "row count; "
     "SABLE_MLA_COMBINE_BLOCKS)",
     [](int v) { return set_mla_combine_blocks(v); }},
    {"pinned-staging", "1 | 0 (small uploads staged in pinned memory without waiting, SABLE_PINNED_STAGING)",
     [](int v) { return set_pinned_staging(v); }},
    {"sampling-split",
     "1 | 0 | 2 (GPU sampling: rows split over blocks up to 64 rows, one block a row beyond; one block a row; "
     "always split; "
     "SABLE_SAMPLING_SPLIT)",
     [](int v) { return set_sampling_split(v); }},
    {"alloc-zero-fill",
     "0 | 1 (every device allocation cleared by a memset, in graphs a memset node; SABLE_ALLOC_ZERO_FILL)",
     [](int v) { return set_alloc_zero_fill(v); }},
    {"absorb-rope", "1 | 0 (q_rope's RoPE inside mla_absorb_q, or a launch of its own after it)",
     [](int v) { return (v == 0 || v == 1) && (g_absorb_rope = v == 1, true); }},
    {"mla-front", "0 | 1 (a one-token decode step's MLA front as one cooperative kernel, SABLE_MLA_FRONT)",
     [](int v) { return (v == 0 || v == 1) && (g_mla_front = v, true); }},
    {"skip",
     "0 | a mask of kernel groups to leave out, bench only, results wrong (SkipGroup in knobs.h: 1 kv "
     "write, 2 per-head matmuls, 4 attention, 8 router GEMM, 16 activation quantization, 32 split-K "
     "reduction, 64 elementwise, 128 MLA combine)",
     [](int v) { return (v >= 0 && v < 256) && (g_skip = v, true); }},
};

}  // namespace

bool skipped(int group) { return (g_skip & group) != 0; }
bool absorb_rope_fused() { return g_absorb_rope; }
bool mla_front_enabled() { return g_mla_front == 1; }

bool set_knob(const std::string& name, int value) {
  for (const Knob& k : kKnobs)
    if (name == k.name) return k.set(value);
  return false;
}

std::vector<std::string> knob_help() {
  std::vector<std::string> out;
  for (const Knob& k : kKnobs) out.push_back(std::string(k.name) + ": " + k.values);
  return out;
}

}  // namespace sable::cuda
