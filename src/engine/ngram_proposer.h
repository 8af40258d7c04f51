// vLLM's "ngram" speculative method (prompt lookup decoding): draft tokens
// for a sequence copied from its own history, no draft model.
//
// What it mirrors (vLLM v1 NgramProposer, _find_longest_matched_ngram_and_
// propose_tokens): the longest n in [min_n, max_n] wins, and among the
// earlier occurrences of that n-gram vLLM takes the EARLIEST one (so do the
// v0 NGramWorker and Hugging Face's prompt lookup). Sable's default does the
// same, so that a given --speculative-config drafts the same tokens under
// both servers and acceptance rates compare. The earliest occurrence also
// has the most history after it, so in a repeating pattern it yields the
// full k drafts where the most recent one would run into the end. The most
// recent occurrence (recent context, e.g. the latest copy of an edited
// line) is available as NgramOccurrence::kMostRecent.
//
// Cost: one pass of Knuth-Morris-Pratt over the history read backwards (the
// suffix becomes a prefix, its own failure table capped at max_n entries),
// so O(len) per call with O(max_n) scratch and, for max_n <= 64, no
// allocation besides the result. Stretches without a copy of the last token
// (most of a long history) are skipped by a vectorized scan; kMostRecent
// also stops at the first occurrence of length max_n. Measured on a 128K-
// token history (2-core CI box, under load): ~60-100 us a call for random
// tokens, ~0.4-0.7 ms for a 4-token alphabet (KMP's worst kind of input).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sable {

enum class NgramOccurrence {
  kEarliest,    // vLLM's choice
  kMostRecent,  // the occurrence closest to the end of the history
};

// Up to k draft tokens for a sequence from its own history: the longest
// suffix of `tokens` of length n in [min_n, max_n] that occurred earlier in
// `tokens`, and the tokens that followed that earlier occurrence (at most k,
// fewer when the history ends first). An earlier occurrence ends before the
// last token (it is not the suffix itself) but may overlap the suffix, so a
// repeating pattern continues: "a b a b a b", n = 2 -> "a b a b" (earliest)
// or "a b" (most recent). Empty when nothing matches, when k < 1, or when
// min_n < 1 or min_n > max_n. Callers cap k by the room left in the sequence
// (max_model_len, max_tokens), as vLLM does.
std::vector<int32_t> ngram_propose(std::span<const int32_t> tokens, int min_n, int max_n, int k,
                                   NgramOccurrence pick = NgramOccurrence::kEarliest);

}  // namespace sable
