// Pre-tokenizers of the Hugging Face tokenizers format that byte-level BPE
// models use: Sequence, Split (regex or string, every SplitDelimiterBehavior,
// invert) and ByteLevel. Pieces are byte ranges of the (normalized) text, so
// pre-tokenizing copies no text; the ByteLevel byte->char mapping is folded into
// the BPE model, which works on bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace sable {

struct Piece {
  uint32_t begin = 0, end = 0;
  bool prefix_space = false;  // ByteLevel add_prefix_space: BPE sees " " + text
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A compiled PCRE2 pattern (UTF + UCP, JIT when available). Thread-safe:
// match data lives in thread-local storage.
class Regex {
 public:
  static Result<std::shared_ptr<Regex>> compile(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Finds the next match in subject at or after start. Returns false when none.
  bool find(std::string_view subject, size_t start, size_t* mbegin, size_t* mend) const;

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

class PreTokenizer {
 public:
  // From the "pre_tokenizer" value of tokenizer.json (null means none).
  static Result<PreTokenizer> from_json(const nlohmann::json& j);
  // Splits text into pieces (replacing out's contents).
  void run(std::string_view text, std::vector<Piece>& out) const;

 private:
  struct Step {
    enum class Kind { kSplit, kByteLevel } kind;
    std::shared_ptr<Regex> regex;
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  static Status add_steps(const nlohmann::json& j, std::vector<Step>& steps);
  void split(const Step& s, std::string_view text, const std::vector<Piece>& in,
             std::vector<Piece>& out) const;

  std::vector<Step> steps_;
};

}  // namespace sable
