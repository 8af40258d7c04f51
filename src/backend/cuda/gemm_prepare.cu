// Weight preparation: upload host weights into the device forms the GEMMs
// read (gemm_common.cuh: PreparedLinear, PreparedExperts), converting F16/F32
// to BF16 and, for --quantization fp8, quantizing BF16 into 128x128-block FP8.
#include <cuda_bf16.h>

#include "backend/cuda/expert_tiles.cuh"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/weight_upload.h"

namespace sable::cuda {

bool stream_tiles_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("SABLE_STREAM_TILES");
    return !(e && *e == '0');
  }();
  return on;
}

int64_t stream_tiles_bytes(int64_t out, int64_t in) {
  return stream_tiles_enabled() && in % 16 == 0 ? expert_tiled_bytes(out, in, 1) : 0;
}

namespace {

// (dtype_size lives in sable_lib, which links after this library.)
size_t elt_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::F8_E4M3: return 1;
    default: return 0;
  }
}

std::shared_ptr<void> device_alloc(size_t bytes) {
  void* p = nullptr;
  SABLE_CUDA_OK(cudaMalloc(&p, bytes ? bytes : 1));
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

// A host (or device) weight [R, C] into natural-layout device storage:
// fp8 -> dst_w (R*C bytes) + dst_s [ceil(R/128), sld]; otherwise BF16 dst_w
// (R*C*2 bytes), or, with quantize, fp8 + scales. Returns whether the result
// is FP8. tmp must hold R*C*4 bytes when a conversion is needed.
// A weight's bytes to the device: through the uploader's pinned chunks from
// host memory when there is one.
void copy_in(void* dst, const void* src, size_t n, cudaMemcpyKind kind, WeightUploader* up, cudaStream_t stream) {
  if (up && kind == cudaMemcpyHostToDevice)
    up->copy(dst, src, n, stream);
  else
    SABLE_CUDA_OK(cudaMemcpyAsync(dst, src, n, kind, stream));
}

bool upload_matrix(const LinearWeight& src, bool quantize, void* dst_w, float* dst_s, int64_t sld, void* tmp,
                   cudaStream_t stream, WeightUploader* up) {
  const Tensor& w = src.weight;
  const int64_t R = w.dim(0), C = w.dim(1);
  const cudaMemcpyKind kind =
      w.device() == Device::kCUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
  if (w.dtype() == DType::F8_E4M3) {
    SABLE_GEMM_REQUIRE(src.block_out == 128 && src.block_in == 128,
                       "FP8 weights must use 128x128 scale blocks");
    SABLE_GEMM_REQUIRE(src.scale_inv.dtype() == DType::F32 &&
                           src.scale_inv.dim(0) == ceil_div(R, 128) &&
                           src.scale_inv.dim(1) == ceil_div(C, 128),
                       "FP8 weight_scale_inv must be F32 [ceil(out/128), ceil(in/128)]");
    copy_in(dst_w, w.data(), size_t(R * C), kind, up, stream);
    const int64_t kb = ceil_div(C, 128);
    const cudaMemcpyKind skind = src.scale_inv.device() == Device::kCUDA ? cudaMemcpyDeviceToDevice
                                                                         : cudaMemcpyHostToDevice;
    SABLE_CUDA_OK(cudaMemsetAsync(dst_s, 0, size_t(ceil_div(R, 128) * sld) * 4, stream));
    SABLE_CUDA_OK(cudaMemcpy2DAsync(dst_s, size_t(sld) * 4, src.scale_inv.data(), size_t(kb) * 4,
                                    size_t(kb) * 4, size_t(ceil_div(R, 128)), skind, stream));
    return true;
  }
  SABLE_GEMM_REQUIRE(w.dtype() == DType::BF16 || w.dtype() == DType::F16 || w.dtype() == DType::F32,
                     "linear weights must be BF16, F16, F32 or F8_E4M3");
  __nv_bfloat16* bf = nullptr;
  if (w.dtype() == DType::BF16 && !quantize) {
    copy_in(dst_w, w.data(), size_t(R * C) * 2, kind, up, stream);
    return false;
  }
  // Stage the raw data in tmp, convert into the BF16 part of tmp (or dst_w).
  const size_t raw_bytes = size_t(R * C) * elt_size(w.dtype());
  char* t = static_cast<char*>(tmp);
  copy_in(t, w.data(), raw_bytes, kind, up, stream);
  if (w.dtype() == DType::BF16) {
    bf = reinterpret_cast<__nv_bfloat16*>(t);
  } else {
    bf = quantize ? reinterpret_cast<__nv_bfloat16*>(t + round_up(int64_t(raw_bytes), 256))
                  : static_cast<__nv_bfloat16*>(dst_w);
    launch_to_bf16(t, int(w.dtype()), R * C, bf, stream);
  }
  if (!quantize) return false;
  SABLE_CUDA_OK(cudaMemsetAsync(dst_s, 0, size_t(ceil_div(R, 128) * sld) * 4, stream));
  launch_quantize_weight_fp8(bf, R, C, static_cast<uint8_t*>(dst_w), dst_s, sld, stream);
  return true;
}

// A natural [N, K] device weight (esz bytes per element) into the tiled
// layout of expert_tiles.cuh; one thread per 16-byte vector of dst.
__global__ void tile_expert_weight_kernel(const uint8_t* src, int64_t N, int64_t K_bytes, int64_t KT, uint4* dst,
                                          int64_t vectors) {
  for (int64_t v = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; v < vectors; v += int64_t(gridDim.x) * blockDim.x) {
    const int64_t tile = v >> 8, rt = tile / KT, kt = tile % KT;
    const int i = int(v >> 5) & 7, lane = int(v) & 31, r = i & 3, c = i >> 2, g = lane >> 2, q = lane & 3;
    const int64_t row = rt * kExpertTileRows + (r >> 1) * 16 + (r & 1) * 8 + g;
    const int64_t byte = kt * kExpertTileKBytes + c * 64 + q * 16;
    dst[v] = row < N && byte < K_bytes ? *reinterpret_cast<const uint4*>(src + row * K_bytes + byte)
                                       : make_uint4(0, 0, 0, 0);
  }
}

void tile_expert_weight(const void* src, int64_t N, int64_t K, size_t esz, void* dst, cudaStream_t stream) {
  SABLE_GEMM_REQUIRE(int64_t(K * esz) % 16 == 0, "expert weights need rows of a multiple of 16 bytes");
  const int64_t vectors = expert_tiled_bytes(N, K, int64_t(esz)) / 16;
  const int64_t blocks = std::min<int64_t>(ceil_div(vectors, 256), 8192);
  tile_expert_weight_kernel<<<unsigned(blocks), 256, 0, stream>>>(static_cast<const uint8_t*>(src), N,
                                                                   int64_t(K * esz), expert_k_tiles(K, int64_t(esz)),
                                                                   static_cast<uint4*>(dst), vectors);
  SABLE_LAUNCH_OK();
}

// The tiled copy of an FP8 PreparedLinear (see PreparedLinear::tiled).
void add_stream_tiles(PreparedLinear& P, cudaStream_t stream) {
  if (!P.fp8 || !stream_tiles_enabled() || P.in % 16 != 0) return;
  P.tiled_kt = expert_k_tiles(P.in, 1);
  P.tiled_mem = device_alloc(size_t(expert_tiled_bytes(P.out, P.in, 1)));
  P.tiled = P.tiled_mem.get();
  tile_expert_weight(P.weight, P.out, P.in, 1, P.tiled, stream);
}

size_t tmp_bytes_for(const LinearWeight& w, bool quantize) {
  const size_t n = size_t(w.weight.numel());
  if (w.weight.dtype() == DType::F8_E4M3) return 0;
  if (w.weight.dtype() == DType::BF16 && !quantize) return 0;
  return round_up(int64_t(n * elt_size(w.weight.dtype())), 256) + n * 2 + 256;
}

}  // namespace

void prepare_linear(LinearWeight& w, bool quantize_fp8, cudaStream_t stream, WeightUploader* up) {
  if (w.prepared) return;
  const int64_t R = w.weight.dim(0), C = w.weight.dim(1);
  const bool fp8 = w.is_fp8() || quantize_fp8;
  if (fp8) (void)fp8_block_config();  // probe cuBLASLt now, outside any graph capture
  auto P = std::make_shared<PreparedLinear>();
  P->out = R;
  P->in = C;
  P->fp8 = fp8;
  P->weight_mem = device_alloc(size_t(R * C) * (fp8 ? 1 : 2));
  P->weight = P->weight_mem.get();
  if (fp8) {
    P->kb_ld = weight_scale_ld(C);
    P->scale_mem = device_alloc(size_t(ceil_div(R, 128) * P->kb_ld) * 4);
    P->scale = static_cast<float*>(P->scale_mem.get());
  }
  const size_t tb = tmp_bytes_for(w, quantize_fp8);
  std::shared_ptr<void> tmp = tb ? device_alloc(tb) : nullptr;
  upload_matrix(w, quantize_fp8, P->weight, P->scale, P->kb_ld, tmp.get(), stream, up);
  add_stream_tiles(*P, stream);
  SABLE_CUDA_OK(cudaStreamSynchronize(stream));  // the host source may go away after this
  w.weight = Tensor(P->weight, fp8 ? DType::F8_E4M3 : DType::BF16, {R, C}, Device::kCUDA,
                    P->weight_mem);
  w.scale_inv = fp8 ? Tensor(P->scale, DType::F32, {ceil_div(R, 128), P->kb_ld}, Device::kCUDA,
                             P->scale_mem)
                    : Tensor();
  w.block_out = w.block_in = 128;
  w.prepared = P;
}

void prepare_experts(MoeExperts& e, bool quantize_fp8, cudaStream_t stream, WeightUploader* up) {
  if (e.prepared) return;
  const int E = e.num_experts();
  SABLE_GEMM_REQUIRE(E > 0 && int(e.up.size()) == E && int(e.down.size()) == E,
                     "prepare_experts: gate, up and down need one weight per expert");
  const int64_t I = e.gate[0].weight.dim(0), H = e.gate[0].weight.dim(1);
  SABLE_GEMM_REQUIRE(I % 16 == 0, "prepare_experts: intermediate size must be a multiple of 16");
  const bool src_fp8 = e.gate[0].is_fp8();
  const bool fp8 = src_fp8 || quantize_fp8;
  if (fp8) (void)fp8_block_config();
  const size_t esz = fp8 ? 1 : 2;
  const int64_t nbI = ceil_div(I, 128), nbH = ceil_div(H, 128);
  const int64_t kbH = weight_scale_ld(H), kbI = weight_scale_ld(I);
  const int64_t st13 = expert_tiled_bytes(2 * I, H, int64_t(esz)), st2 = expert_tiled_bytes(H, I, int64_t(esz));
  const size_t w13_bytes = size_t(E * st13), w2_bytes = size_t(E * st2);
  const size_t s13_bytes = fp8 ? size_t(E) * 2 * nbI * kbH * 4 : 0;
  const size_t s2_bytes = fp8 ? size_t(E) * nbH * kbI * 4 : 0;
  auto P = std::make_shared<PreparedExperts>();
  P->E = E;
  P->H = H;
  P->I = I;
  P->fp8 = fp8;
  P->w13_stride = st13;
  P->w2_stride = st2;
  const size_t o_w2 = round_up(int64_t(w13_bytes), 256), o_s13 = o_w2 + round_up(int64_t(w2_bytes), 256),
               o_s2 = o_s13 + round_up(int64_t(s13_bytes), 256);
  P->mem = device_alloc(o_s2 + s2_bytes);
  char* base = static_cast<char*>(P->mem.get());
  P->w13 = base;
  P->w2 = base + o_w2;
  P->s13 = fp8 ? reinterpret_cast<float*>(base + o_s13) : nullptr;
  P->s2 = fp8 ? reinterpret_cast<float*>(base + o_s2) : nullptr;

  size_t tb = 0;
  for (int x = 0; x < E; ++x)
    for (const LinearWeight* lw : {&e.gate[x], &e.up[x], &e.down[x]}) {
      SABLE_GEMM_REQUIRE(lw->is_fp8() == src_fp8, "prepare_experts: experts mix FP8 and non-FP8");
      tb = std::max(tb, tmp_bytes_for(*lw, quantize_fp8));
    }
  std::shared_ptr<void> tmp = tb ? device_alloc(tb) : nullptr;
  std::shared_ptr<void> nat = device_alloc(size_t(I * H) * esz);  // one natural gate/up matrix
  std::shared_ptr<void> fused = device_alloc(size_t(2 * I * H) * esz);  // natural [2I, H], then [H, I]
  char* w13 = static_cast<char*>(P->w13);
  char* w2 = static_cast<char*>(P->w2);
  const size_t chunk = size_t(16 * H) * esz;  // 16 rows
  for (int x = 0; x < E; ++x) {
    SABLE_GEMM_REQUIRE(e.gate[x].weight.dim(0) == I && e.up[x].weight.dim(0) == I &&
                           e.gate[x].weight.dim(1) == H && e.down[x].weight.dim(0) == H &&
                           e.down[x].weight.dim(1) == I,
                       "prepare_experts: experts differ in shape");
    for (int half = 0; half < 2; ++half) {
      const LinearWeight& src = half == 0 ? e.gate[x] : e.up[x];
      float* s = fp8 ? P->s13 + (int64_t(x) * 2 + half) * nbI * kbH : nullptr;
      upload_matrix(src, quantize_fp8, nat.get(), s, kbH, tmp.get(), stream, up);
      // Interleave: natural rows [16u, 16u+16) -> fused rows 32u + 16*half.
      SABLE_CUDA_OK(cudaMemcpy2DAsync(static_cast<char*>(fused.get()) + half * chunk, 2 * chunk, nat.get(), chunk,
                                      chunk, size_t(I / 16), cudaMemcpyDeviceToDevice, stream));
    }
    tile_expert_weight(fused.get(), 2 * I, H, esz, w13 + x * st13, stream);
    float* s = fp8 ? P->s2 + int64_t(x) * nbH * kbI : nullptr;
    upload_matrix(e.down[x], quantize_fp8, fused.get(), s, kbI, tmp.get(), stream, up);
    tile_expert_weight(fused.get(), H, I, esz, w2 + x * st2, stream);
    // The staging buffers are reused by the next expert.
    SABLE_CUDA_OK(cudaStreamSynchronize(stream));
  }
  const DType wt = fp8 ? DType::F8_E4M3 : DType::BF16;
  for (int x = 0; x < E; ++x) {
    // gate/up/down point at the expert's tiled blocks (not plain matrices:
    // only the prepared form is meant to be read; the shapes count bytes).
    e.gate[x].weight = Tensor(w13 + x * st13, wt, {I, H}, Device::kCUDA, P->mem);
    e.up[x].weight = Tensor(w13 + x * st13, wt, {I, H}, Device::kCUDA, P->mem);
    e.down[x].weight = Tensor(w2 + x * st2, wt, {H, I}, Device::kCUDA, P->mem);
    if (fp8) {
      e.gate[x].scale_inv = Tensor(P->s13 + (int64_t(x) * 2) * nbI * kbH, DType::F32, {nbI, kbH}, Device::kCUDA, P->mem);
      e.up[x].scale_inv = Tensor(P->s13 + (int64_t(x) * 2 + 1) * nbI * kbH, DType::F32, {nbI, kbH}, Device::kCUDA, P->mem);
      e.down[x].scale_inv = Tensor(P->s2 + int64_t(x) * nbH * kbI, DType::F32, {nbH, kbI}, Device::kCUDA, P->mem);
    } else {
      e.gate[x].scale_inv = e.up[x].scale_inv = e.down[x].scale_inv = Tensor();
    }
  }
  e.prepared = P;
}

}  // namespace sable::cuda

// ---- random device weights ----
namespace sable::cuda {
namespace {

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

// fp8: random sign, exponent 1..14 and mantissa (finite normals); bf16: U(-0.05, 0.05).
__global__ void fill_random_kernel(void* dst, int64_t n, bool fp8, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t r = mix64(seed * 0x9e3779b97f4a7c15ull + uint64_t(i));
    if (fp8) {
      const uint32_t e = 1 + uint32_t(r % 14), m = uint32_t(r >> 8) & 7u, sgn = uint32_t(r >> 16) & 1u;
      static_cast<uint8_t*>(dst)[i] = uint8_t((sgn << 7) | (e << 3) | m);
    } else {
      const float u = float(r >> 40) / float(1ull << 24);  // [0, 1)
      static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16((u - 0.5f) * 0.1f);
    }
  }
}

__global__ void fill_scales_kernel(float* dst, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t r = mix64(seed ^ (uint64_t(i) * 0x632be59bd9b4e019ull));
    dst[i] = 5e-5f + 1e-4f * float(r >> 40) / float(1ull << 24);
  }
}

void fill_random(void* dst, int64_t n, bool fp8, uint64_t seed, cudaStream_t s) {
  fill_random_kernel<<<4096, 256, 0, s>>>(dst, n, fp8, seed);
  SABLE_LAUNCH_OK();
}
void fill_scales(float* dst, int64_t n, uint64_t seed, cudaStream_t s) {
  fill_scales_kernel<<<unsigned(ceil_div(n, 256) < 4096 ? ceil_div(n, 256) : 4096), 256, 0, s>>>(dst, n, seed);
  SABLE_LAUNCH_OK();
}

}  // namespace

void make_random_linear(LinearWeight& w, int64_t out, int64_t in, bool fp8, uint64_t seed,
                        cudaStream_t stream) {
  auto P = std::make_shared<PreparedLinear>();
  P->out = out;
  P->in = in;
  P->fp8 = fp8;
  P->weight_mem = device_alloc(size_t(out * in) * (fp8 ? 1 : 2));
  P->weight = P->weight_mem.get();
  fill_random(P->weight, out * in, fp8, seed, stream);
  if (fp8) {
    (void)fp8_block_config();
    P->kb_ld = weight_scale_ld(in);
    P->scale_mem = device_alloc(size_t(ceil_div(out, 128) * P->kb_ld) * 4);
    P->scale = static_cast<float*>(P->scale_mem.get());
    fill_scales(P->scale, ceil_div(out, 128) * P->kb_ld, seed + 1, stream);
    add_stream_tiles(*P, stream);
  }
  SABLE_CUDA_OK(cudaStreamSynchronize(stream));
  w.weight = Tensor(P->weight, fp8 ? DType::F8_E4M3 : DType::BF16, {out, in}, Device::kCUDA, P->weight_mem);
  w.scale_inv = fp8 ? Tensor(P->scale, DType::F32, {ceil_div(out, 128), P->kb_ld}, Device::kCUDA, P->scale_mem)
                    : Tensor();
  w.prepared = P;
}

void make_random_experts(MoeExperts& e, int E, int64_t H, int64_t I, bool fp8, uint64_t seed,
                         cudaStream_t stream) {
  SABLE_GEMM_REQUIRE(I % 16 == 0, "make_random_experts: intermediate size must be a multiple of 16");
  if (fp8) (void)fp8_block_config();
  const size_t esz = fp8 ? 1 : 2;
  const int64_t nbI = ceil_div(I, 128), nbH = ceil_div(H, 128);
  const int64_t kbH = weight_scale_ld(H), kbI = weight_scale_ld(I);
  // Random bits in the tiled layout directly (padding included: it meets
  // only zero activations and unstored rows).
  const int64_t st13 = expert_tiled_bytes(2 * I, H, int64_t(esz)), st2 = expert_tiled_bytes(H, I, int64_t(esz));
  const size_t w13 = size_t(E * st13), w2 = size_t(E * st2);
  const size_t s13 = fp8 ? size_t(E) * 2 * nbI * kbH * 4 : 0, s2 = fp8 ? size_t(E) * nbH * kbI * 4 : 0;
  auto P = std::make_shared<PreparedExperts>();
  P->E = E;
  P->H = H;
  P->I = I;
  P->fp8 = fp8;
  P->w13_stride = st13;
  P->w2_stride = st2;
  const size_t o_w2 = round_up(int64_t(w13), 256), o_s13 = o_w2 + round_up(int64_t(w2), 256),
               o_s2 = o_s13 + round_up(int64_t(s13), 256);
  P->mem = device_alloc(o_s2 + s2);
  char* base = static_cast<char*>(P->mem.get());
  P->w13 = base;
  P->w2 = base + o_w2;
  fill_random(P->w13, int64_t(w13 / esz), fp8, seed, stream);
  fill_random(P->w2, int64_t(w2 / esz), fp8, seed + 1, stream);
  if (fp8) {
    P->s13 = reinterpret_cast<float*>(base + o_s13);
    P->s2 = reinterpret_cast<float*>(base + o_s2);
    fill_scales(P->s13, int64_t(s13 / 4), seed + 2, stream);
    fill_scales(P->s2, int64_t(s2 / 4), seed + 3, stream);
  }
  SABLE_CUDA_OK(cudaStreamSynchronize(stream));
  const DType wt = fp8 ? DType::F8_E4M3 : DType::BF16;
  e.gate.assign(size_t(E), LinearWeight{});
  e.up.assign(size_t(E), LinearWeight{});
  e.down.assign(size_t(E), LinearWeight{});
  for (int x = 0; x < E; ++x) {
    char* g = static_cast<char*>(P->w13) + x * st13;
    e.gate[size_t(x)].weight = Tensor(g, wt, {I, H}, Device::kCUDA, P->mem);
    e.up[size_t(x)].weight = Tensor(g, wt, {I, H}, Device::kCUDA, P->mem);
    e.down[size_t(x)].weight = Tensor(static_cast<char*>(P->w2) + x * st2, wt, {H, I}, Device::kCUDA, P->mem);
  }
  e.prepared = P;
}

}  // namespace sable::cuda
