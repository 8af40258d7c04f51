// Byte-level BPE (the "BPE" model of tokenizer.json, without dropout, unk or
// subword affixes). Words arrive as raw bytes: the ByteLevel pre-tokenizer's
// byte->char mapping is a bijection, so merging byte-symbol ids is the same as
// merging the mapped characters, and no mapped string is ever built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace sable {

// Open-addressing map (id_a, id_b) -> (rank, merged id). The hot loop of BPE
// is this lookup, so it avoids std::unordered_map's node chasing.
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  void insert(int32_t a, int32_t b, int32_t rank, int32_t id);
  const Entry* find(int32_t a, int32_t b) const {
    const uint64_t key = make_key(a, b);
    for (size_t i = hash(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ULL;
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t hash(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_); }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
};

class BpeModel {
 public:
  static Result<BpeModel> from_json(const nlohmann::json& model);

  // Appends the ids of one pre-tokenized word (raw bytes; with prefix_space a
  // space byte goes first). Results are cached per thread.
  void encode_word(std::string_view word, bool prefix_space, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The vocabulary string of id ("" when id is a hole).
  const std::string& id_to_token(int32_t id) const;
  int64_t size() const { return static_cast<int64_t>(id_to_token_.size()); }
  uint64_t uid() const { return uid_; }

 private:
  static constexpr size_t kShortWord = 64;  // longer words take the heap path
  void merge(std::vector<int32_t>& syms) const;
  void merge_long(std::vector<int32_t>& syms) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  int32_t byte_id_[256];
  MergeTable merges_;
  uint64_t uid_ = 0;  // distinguishes models in the per-thread word cache
};

}  // namespace sable
