// bench_gpu_e2e --speculative: the speculative decoding step (verify k + 1
// tokens a sequence, then the MTP module over them and its chain of drafts)
// against the plain decode step of the same batch. A header of
// bench/gpu_e2e.cpp's (each bench/*.cpp is its own program).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "model/deepseek_v3.h"
#include "runner/model_runner.h"
#include "step_timer.h"

namespace sable {

// Speculative decoding's step against the plain decode step, per batch and
// draft count k: the verify step (each sequence's token and its k drafts,
// k + 1 logits rows; a CUDA graph of k + 1 tokens a sequence, as the engine
// replays it, unless --enforce-eager; k = 0 runs eagerly) followed
// by ModelRunner::propose_mtp as the engine calls it when every draft was
// accepted (the MTP over k + 1 positions, then its chain of k - 1 more),
// the most the MTP does in a step. A step that accepts a drafts yields
// a + 1 tokens; at a per-draft acceptance rate p the expected tokens a
// step are 1 + p + ... + p^k, and the speedup is that over spec/plain.
inline void time_speculative(DeepseekV3Model& model, Backend& be, KvPoolOptions po, ModelRunner& plain,
                             const std::vector<int>& batches, const std::vector<int>& ks, int context, int iters,
                             int vocab, std::ofstream& json) {
  const int kmax = *std::max_element(ks.begin(), ks.end());
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  // The chain writes the MTP's slots up to position context + 2k - 1.
  const int blocks_per_seq = (context + 2 * kmax + 2 + po.block_size - 1) / po.block_size;
  po.num_blocks = max_batch * blocks_per_seq;
  // One runner a k, as the engine's: its verification graphs hold k + 1
  // tokens a sequence (SABLE_SPEC_GRAPHS=0: eager).
  std::vector<std::unique_ptr<ModelRunner>> specs;
  for (int k : ks) {
    po.num_speculative_tokens = k;
    specs.push_back(std::make_unique<ModelRunner>(model, po));
    specs.back()->set_speculative(true);
  }
  for (size_t i = 0; i < ks.size(); ++i)
    std::printf("runner for k = %d: %d graphs, %.2f GiB of device memory (planned %.2f)\n", ks[i],
                specs[i]->num_graphs(), double(specs[i]->graph_memory_bytes()) / double(1 << 30),
                double(specs[i]->graph_memory_planned_bytes()) / double(1 << 30));
  const double accept[] = {0.6, 0.8, 0.9};
  std::printf(
      "\nspeculative decoding, MTP drafts (verify step + propose_mtp, all drafts accepted) against the plain "
      "decode step of the same batch (CUDA graphs unless --enforce-eager; MTP graphed: its calls in the step that "
      "replayed one)\n\n"
      "| decode batch | drafts k | verify ms | verify graphed | MTP ms | MTP graphed | MTP ms eager | spec step ms | "
      "plain step ms | spec / plain (break-even tokens a step) | speedup at 60%% / 80%% / 90%% acceptance |\n"
      "|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---|\n");
  StepTimer tm{be};
  for (int B : batches) {
    std::vector<std::vector<int32_t>> tokens(static_cast<size_t>(B)), tables(static_cast<size_t>(B)),
        full(static_cast<size_t>(B));
    for (int s = 0; s < B; ++s) {
      tokens[size_t(s)].assign(size_t(context + 1), int32_t((s * 7919) % vocab));
      for (int b = 0; b < blocks_per_seq; ++b) tables[size_t(s)].push_back(s * blocks_per_seq + b);
    }
    std::vector<RunnerSeq> seqs(static_cast<size_t>(B));
    for (int s = 0; s < B; ++s) {
      RunnerSeq& r = seqs[size_t(s)];
      r.tokens = &tokens[size_t(s)];
      r.num_computed = context;
      r.num_new = 1;
      r.block_table = &tables[size_t(s)];
      r.need_logits = true;
    }
    // The plain runner's pool holds (context + 1) / block_size blocks a sequence.
    const int plain_blocks = (context + 1 + po.block_size - 1) / po.block_size;
    std::vector<std::vector<int>> plain_tables(static_cast<size_t>(B));
    std::vector<RunnerSeq> plain_seqs = seqs;
    for (int s = 0; s < B; ++s) {
      for (int b = 0; b < plain_blocks; ++b) plain_tables[size_t(s)].push_back(s * plain_blocks + b);
      plain_seqs[size_t(s)].block_table = &plain_tables[size_t(s)];
    }
    const double plain_ms = tm.median_ms([&] { (void)plain.run_device(plain_seqs); }, 3, iters);
    for (size_t ki = 0; ki < ks.size(); ++ki) {
      const int k = ks[ki];
      ModelRunner& spec = *specs[ki];
      std::vector<std::vector<int32_t>> drafts(static_cast<size_t>(B));
      std::vector<MtpSeq> ms(static_cast<size_t>(B));
      for (int s = 0; s < B; ++s) {
        for (int j = 0; j < k; ++j) drafts[size_t(s)].push_back(int32_t((s * 31 + j * 977 + 11) % vocab));
        seqs[size_t(s)].draft = k > 0 ? &drafts[size_t(s)] : nullptr;
        // After the step: the token, the k accepted drafts and the bonus token.
        full[size_t(s)] = tokens[size_t(s)];
        full[size_t(s)].insert(full[size_t(s)].end(), drafts[size_t(s)].begin(), drafts[size_t(s)].end());
        full[size_t(s)].push_back(int32_t((s * 13 + 5) % vocab));
        MtpSeq& m = ms[size_t(s)];
        m.step_seq = s;
        m.first = context;
        m.num = k + 1;
        m.tokens = &full[size_t(s)];
        m.block_table = &tables[size_t(s)];
        m.num_drafts = k;
      }
      bool ok = true;
      const double verify_ms = tm.median_ms([&] { ok = ok && spec.run_device(seqs).is_ok(); }, 2, iters);
      const bool graphed = spec.last_step_graphed();
      auto spec_step = [&] {
        ok = ok && spec.run_device(seqs).is_ok();
        ok = ok && spec.propose_mtp(ms).is_ok();
      };
      const double step_ms = tm.median_ms(spec_step, 2, iters);
      const int graphed_calls = spec.last_mtp_graphed_calls();
      // The same step with the MTP module eager (its graphs off).
      spec.set_mtp_graphs(false);
      const double eager_step_ms = tm.median_ms(spec_step, 2, iters);
      spec.set_mtp_graphs(true);
      if (!ok) {
        std::printf("| %d | %d | failed | | | | | | | | |\n", B, k);
        continue;
      }
      const double ratio = step_ms / plain_ms;
      // The module's calls in a step: its first over the k + 1 positions, then k - 1 chain steps.
      const int mtp_calls = 1 + std::max(0, k - 1);
      std::printf("| %d | %d | %.3f | %s | %.3f | %d of %d | %.3f | %.3f | %.3f | %.2f |", B, k, verify_ms,
                  graphed ? "yes" : "no", step_ms - verify_ms, graphed_calls, mtp_calls, eager_step_ms - verify_ms,
                  step_ms, plain_ms, ratio);
      for (double p : accept) {
        double tokens_a_step = 0;
        for (int i = 0; i <= k; ++i) tokens_a_step += std::pow(p, i);
        std::printf(" %.2fx%s", tokens_a_step / ratio, p == accept[2] ? " |\n" : " /");
      }
      if (json)
        json << "{\"kind\":\"speculative\",\"batch\":" << B << ",\"k\":" << k << ",\"verify_ms\":" << verify_ms
             << ",\"step_ms\":" << step_ms << ",\"plain_ms\":" << plain_ms
             << ",\"verify_graphed\":" << (graphed ? "true" : "false") << ",\"mtp_graphed_calls\":" << graphed_calls
             << ",\"mtp_calls\":" << mtp_calls << ",\"eager_mtp_step_ms\":" << eager_step_ms << "}\n";
    }
  }
}

}  // namespace sable
