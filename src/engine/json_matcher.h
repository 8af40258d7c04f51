// Matching generated text against a compiled JsonSchema, one byte at a time.
// The engine masks, at each decoding step, the tokens whose bytes the matcher
// would reject; it copies the matcher at every node of a DFS over the
// vocabulary's byte trie (token_trie.h), so the matcher's state is a
// fixed-size, trivially copyable value.
//
// The generated text is compact JSON: no whitespace anywhere except at most
// one space after ':' and after ','. Grammars that allow free whitespace let
// a model wander into emitting newlines and spaces forever; this one cannot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/json_schema.h"

namespace sable {

// Matches the bytes of a generated text against a schema, one at a time.
class JsonMatcher {
 public:
  // The schema must outlive the matcher (and its copies).
  explicit JsonMatcher(const JsonSchema& schema);

  // Consumes the byte and returns true if the text can still become a
  // matching document; otherwise returns false and leaves the state as it was.
  bool accept(uint8_t byte);
  // Every byte in order. On false the state is unspecified: copy first.
  bool accept(std::string_view bytes);
  // A whole document has been matched: the text may end here. (A top-level
  // number may still go on: "12" is complete and accepts a "3".)
  bool complete() const;
  // Complete, and yet a longer text would match too (a choice that is a
  // prefix of another, a top-level number: "1" may become "12"): the model
  // may end here (EOS) or go on.
  bool may_continue() const;
  // The state's meaningful fields as bytes (the frames in use, not the rest
  // of the array): equal keys accept the same continuations, which lets the
  // engine reuse a token mask (TokenTrie's cache).
  void state_key(std::string& out) const;
  // Inside a string with no length limit, between characters: every run of
  // plain bytes (no '"', '\\', control bytes; whole UTF-8 characters) is
  // accepted and leaves the state as it is (TokenTrie's fast path).
  bool in_free_string() const;

 private:
  enum class LeafStep : uint8_t { kTaken, kRejected, kEnded };

  // An object or array being matched (frame 0 is the top level).
  struct Frame {
    uint16_t node = 0;
    uint8_t phase = 0;
    uint32_t count = 0;  // array: items begun; closed object: index of the next property that may come
  };

  // The scalar or key being matched, on top of the frames.
  struct Leaf {
    uint8_t kind = 0;
    uint8_t phase = 0;
    uint8_t utf8_need = 0;          // string: continuation bytes still due
    uint8_t utf8_lo = 0, utf8_hi = 0;  // string: the range of the next one
    uint8_t hex_digits = 0;         // string: in a \u escape
    bool low_surrogate = false;     // string: the \u escape must be a low surrogate
    bool integer = false;           // number: no fraction or exponent
    uint16_t ref = 0;               // string: its node; literal: its list; key: the object's node
    uint16_t hex = 0;
    uint16_t high = 0;              // string with a pattern: the high surrogate of a \u pair
    uint32_t re = 0;                // string with a pattern: its DFA state over the decoded text
    uint16_t lo = 0, hi = 0, pos = 0;  // literal, key: candidates [lo, hi) of the list, bytes matched
    uint32_t count = 0;             // string: characters so far
  };

  bool step(uint8_t b);
  LeafStep leaf_step(uint8_t b);
  bool string_step(uint8_t b);
  // The pattern of the string being matched (a kString node's "pattern"), or null.
  const RegexDfa* string_pattern() const;
  // Steps the pattern's DFA over decoded bytes of the string (false: no match can follow).
  bool pattern_step(std::string_view decoded);
  // In a pattern string, whether a \u escape with `digits` hex digits
  // reading `prefix` so far (0, 0: none yet) can still stand for a
  // character the pattern takes next (a surrogate pair counted whole).
  bool escape_feasible(int digits, uint16_t prefix) const;
  LeafStep number_step(uint8_t b);
  bool narrow(uint8_t b);
  bool key_viable() const;
  bool literal_exact() const;
  // Object unions (json_object_union.h): alternative a's next property in
  // the union state of frame f (kNoProp: a has dropped out).
  uint8_t alt_count(const Frame& f, int a) const { return ucounts_[f.count][a]; }
  void set_alt_count(const Frame& f, int a, uint8_t c) { ucounts_[f.count][a] = c; }
  bool union_more_keys(const Frame& f) const;
  bool union_key_viable() const;
  bool union_literal_viable(uint16_t lo, uint16_t hi) const;
  void union_take_key();
  bool close_union(const Frame& f);
  bool begin_value(uint16_t node, uint8_t b);
  bool begin_item(Frame& f, uint8_t b);
  bool begin_key(Frame& f);
  bool push(uint16_t node);
  bool close_object(const Frame& f);
  bool close_container();
  void finish_value();

  const JsonSchema* schema_;
  Leaf leaf_;
  uint8_t depth_ = 0;  // the top frame
  Frame frames_[JsonSchema::kMaxDepth + 1] = {};
  // Object-union frames in use, innermost last (a union frame's count is its
  // index here): each alternative's next property (a byte each), and the
  // node of the value after the key just read.
  uint8_t unions_ = 0;
  uint16_t uvalue_[JsonSchema::kMaxObjectUnionNesting] = {};
  uint8_t ucounts_[JsonSchema::kMaxObjectUnionNesting][JsonSchema::kMaxObjectAlts] = {};
};

static_assert(std::is_trivially_copyable_v<JsonMatcher>, "copied at every node of the vocabulary DFS");

}  // namespace sable
