// The MTP module's forward (DeepseekV3Model::forward_mtp) over its own slot
// of the paged latent cache: a prompt's MTP logits computed one position at
// a time, each step attending to the MTP latents the earlier steps wrote,
// equal those of one pass over the whole prompt, at one rank and split over
// two; and loading the MTP layer leaves the main model's logits as they were.
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "common/fixtures.h"
#include "model/deepseek_v3.h"
#include "model/weight_source.h"

namespace sable {
namespace {

// One sequence's positions [p0, p0 + n) as a batch, cache slot = position.
ForwardBatch batch(const std::vector<int32_t>& ids, int p0, int n, int blocks, int bs) {
  ForwardBatch b;
  b.block_size = bs;
  b.max_blocks = blocks;
  for (int i = 0; i < n; ++i) {
    b.token_ids.push_back(ids[size_t(p0 + i)]);
    b.positions.push_back(p0 + i);
    b.token_seq.push_back(0);
    b.slot_mapping.push_back(p0 + i);
    b.logits_indices.push_back(i);
  }
  b.seq_lens.push_back(p0 + n);
  for (int i = 0; i < blocks; ++i) b.block_tables.push_back(i);
  return b;
}

// MTP logits [P, V] of positions 0..P-1 (position p joins h_p and token
// p + 1), computed in steps of `chunk` positions.
std::vector<float> mtp_logits(DeepseekV3Model& m, const std::vector<int32_t>& ids, int chunk) {
  const int P = int(ids.size()) - 1, bs = 4, blocks = (P + bs - 1) / bs;
  KvCache cache = m.allocate_kv_cache(blocks, bs, DType::F32);
  std::vector<float> out;
  for (int p0 = 0; p0 < P; p0 += chunk) {
    const int n = std::min(chunk, P - p0);
    ForwardBatch main = batch(ids, p0, n, blocks, bs);
    main.keep_hidden = true;
    EXPECT_TRUE(m.forward(main, cache).is_ok());
    ForwardBatch next = batch(ids, p0 + 1, n, blocks, bs);  // tokens p + 1 ...
    for (int i = 0; i < n; ++i) {                           // ... at positions p
      next.positions[size_t(i)] = p0 + i;
      next.slot_mapping[size_t(i)] = p0 + i;
    }
    next.seq_lens[0] = p0 + n;
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) rows[size_t(i)] = i;
    auto lg = m.forward_mtp(next, rows, cache);
    EXPECT_TRUE(lg.is_ok()) << lg.status().to_string();
    if (!lg.is_ok()) return out;
    out.insert(out.end(), lg->ptr<float>(), lg->ptr<float>() + lg->numel());
  }
  return out;
}

std::unique_ptr<DeepseekV3Model> load(WeightSource& src, int tp, bool mtp) {
  LoadOptions o;
  o.load_mtp = mtp;
  o.tensor_parallel_size = tp;
  auto m = DeepseekV3Model::load(src, cpu_backend(), o);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? std::move(*m) : nullptr;
}

TEST(MtpForward, IncrementalEqualsOnePass) {
  DummyWeightSource src(testing::tiny_config_with_mtp(), 21, /*include_mtp=*/true);
  auto m = load(src, 1, true);
  ASSERT_TRUE(m && m->has_mtp());
  EXPECT_EQ(m->num_cache_layers(), m->config().num_hidden_layers + 1);
  std::vector<int32_t> ids;
  for (int i = 0; i < 23; ++i) ids.push_back(int32_t((i * 97 + 13) % 1000 + 2));
  const auto whole = mtp_logits(*m, ids, 64);
  ASSERT_EQ(int64_t(whole.size()), int64_t(ids.size() - 1) * m->config().vocab_size);
  for (int chunk : {1, 5}) {
    const auto steps = mtp_logits(*m, ids, chunk);
    ASSERT_EQ(steps.size(), whole.size());
    EXPECT_LT(testing::max_rel_error(steps.data(), whole.data(), int64_t(whole.size())), 1e-4) << "chunk " << chunk;
  }
  // Two ranks (the MTP layer's heads and experts split as any layer's).
  auto tp2 = load(src, 2, true);
  ASSERT_TRUE(tp2);
  const auto split = mtp_logits(*tp2, ids, 5);
  ASSERT_EQ(split.size(), whole.size());
  EXPECT_LT(testing::max_rel_error(split.data(), whole.data(), int64_t(whole.size())), 1e-4);
}

TEST(MtpForward, TheMainModelIsUnchanged) {
  DummyWeightSource src(testing::tiny_config_with_mtp(), 21, /*include_mtp=*/true);
  auto with = load(src, 1, true), without = load(src, 1, false);
  ASSERT_TRUE(with && without);
  EXPECT_FALSE(without->has_mtp());
  std::vector<int32_t> ids = {5, 9, 200, 31, 77, 4, 600};
  const int bs = 4, blocks = 2;
  KvCache a = with->allocate_kv_cache(blocks, bs, DType::F32), b = without->allocate_kv_cache(blocks, bs, DType::F32);
  auto la = with->forward(batch(ids, 0, int(ids.size()), blocks, bs), a);
  auto lb = without->forward(batch(ids, 0, int(ids.size()), blocks, bs), b);
  ASSERT_TRUE(la.is_ok() && lb.is_ok());
  ASSERT_EQ(la->numel(), lb->numel());
  EXPECT_EQ(testing::max_rel_error(la->ptr<float>(), lb->ptr<float>(), la->numel()), 0.0);
  // A forward_mtp without kept hidden states is refused, not read out of bounds.
  ForwardBatch q = batch(ids, 0, 2, blocks, bs);
  KvCache c = with->allocate_kv_cache(blocks, bs, DType::F32);
  auto fresh = load(src, 1, true);
  auto r = fresh->forward_mtp(q, {0, 1}, c);
  EXPECT_FALSE(r.is_ok());
}

}  // namespace
}  // namespace sable
