// Structured output (response_format json_object / json_schema, guided_json):
// a subset of JSON Schema compiled into a small grammar (JsonSchema), and an
// incremental byte-level matcher over it (JsonMatcher). The engine masks, at
// each decoding step, the tokens whose bytes the matcher would reject; it
// copies the matcher at every node of a DFS over the vocabulary's byte trie,
// so the matcher's state is a fixed-size, trivially copyable value.
//
// The generated text is compact JSON: no whitespace anywhere except at most
// one space after ':' and after ','. Grammars that allow free whitespace let
// a model wander into emitting newlines and spaces forever; this one cannot.
//
// Schema subset (everything else is an error naming the keyword and where):
//  - type: "object", "array", "string", "number", "integer", "boolean",
//    "null", or a list of them (a union, as anyOf below: "integer" next to
//    "number" is refused). Without type: properties, required or
//    additionalProperties make an object; items, minItems or maxItems an
//    array; minLength or maxLength a string; otherwise any value. Keywords
//    of another type (items on a string) do not apply, as in JSON Schema,
//    and are not compiled.
//  - object: properties (the keys must come in the schema's order: use
//    compile(ordered_json) to keep it; nlohmann::json sorts keys), required,
//    additionalProperties (false or absent with properties; absent, true or a
//    schema for the values without properties: any keys).
//  - array: items (a schema), minItems, maxItems.
//  - string: minLength, maxLength, counted in characters (code points; an
//    escape is one, a \u surrogate pair is one).
//  - enum / const (any JSON values): the value's compact text, as nlohmann's
//    dump() writes it (non-ASCII as raw UTF-8), byte for byte. `type` and
//    minLength/maxLength drop the values they exclude; other keywords next
//    to enum/const are not checked against its values.
//  - $ref to a JSON pointer into this schema: "#/$defs/NAME",
//    "#/definitions/NAME", any "#/a/b" (~0 and ~1 unescaped; no
//    percent-decoding), "#". The target is compiled once, at its first use
//    (errors inside it name that use's path), and shared by later uses.
//    Refused: a target that reaches itself (recursion), other documents or
//    anchors (anything not starting "#/"), a pointer that resolves to
//    nothing, and keywords next to $ref other than the annotations below.
//  - anyOf, and oneOf the same way: alternatives that start with different
//    bytes (object '{', array '[', string '"', number or integer '-' and
//    digits, boolean 't' 'f', null 'n'; enum/const the first bytes of their
//    texts), so that a value's first byte picks its one alternative and the
//    matcher keeps no extra state. Two alternatives that can start with the
//    same byte are refused ("integer" and "number" included), except that
//    enum/const/boolean/null alternatives are merged into one list of texts.
//    Nested unions are flattened; an alternative listed twice counts once.
//    oneOf's "exactly one" is anyOf for disjoint alternatives; where they are
//    not (a literal value in two of them, one schema listed twice), oneOf is
//    refused. Only annotations may stand next to anyOf/oneOf.
//  - accepted and not enforced: minimum, maximum, exclusiveMinimum,
//    exclusiveMaximum, multipleOf, format, uniqueItems: false.
//  - ignored annotations: title, description, default, examples, $schema,
//    $id, $comment, $anchor, deprecated, readOnly, writeOnly,
//    contentEncoding, contentMediaType, $defs, definitions (compiled only
//    through $ref).
//  - rejected: allOf, not, if/then/else, pattern, patternProperties,
//    prefixItems, items as a list, dependentRequired, and every other
//    keyword.
// Objects and arrays nest at most kMaxDepth deep, in schemas (through $ref
// too) and documents; subschemas ($ref, anyOf and containers together) at
// most 128 deep.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace sable {

template <typename J>
class JsonSchemaCompiler;

class JsonSchema {
 public:
  // Nesting of objects and arrays: the matcher keeps one frame per level.
  static constexpr int kMaxDepth = 24;

  // Any JSON object (response_format json_object); inside it, any JSON.
  static std::shared_ptr<const JsonSchema> any_object();
  // Properties are matched in the schema's key order: ordered_json (as the
  // server parses requests) keeps it, nlohmann::json has sorted it.
  static Result<std::shared_ptr<const JsonSchema>> compile(const nlohmann::ordered_json& schema);
  static Result<std::shared_ptr<const JsonSchema>> compile(const nlohmann::json& schema);

 private:
  friend class JsonMatcher;
  template <typename J>
  friend class JsonSchemaCompiler;

  enum class Kind : uint8_t { kAny, kObject, kArray, kString, kNumber, kInteger, kLiteral, kUnion };

  // The bytes a JSON value can start with ('{', '[', '"', '-', '0'..'9', 't',
  // 'f', 'n'): a union maps each one to its alternative.
  static constexpr int kValueStarts = 17;

  struct Node {
    Kind kind = Kind::kAny;
    bool closed = false;         // object: only its properties (else any keys with `child` values)
    uint16_t child = 0;          // array items; values of an object that is not closed
    uint16_t list = 0;           // literal: its texts; closed object: its keys
    uint32_t first_prop = 0;     // closed object: props_[first_prop, first_prop + num_props);
                                 // union: dispatch_[first_prop, first_prop + kValueStarts)
    uint32_t num_props = 0;
    uint32_t min = 0;            // array items, string characters
    uint32_t max = UINT32_MAX;
  };

  struct Property {
    uint16_t node = 0;
    bool required_ahead = false;  // this property or a later one is required
    uint32_t window_end = 0;      // with this one next, the last that may come next (the next required one)
  };

  // Byte strings sorted bytewise, so that the ones with a given prefix form a
  // range: the matcher keeps only [lo, hi) and the prefix length.
  struct TextList {
    std::vector<std::string> texts{};
    std::vector<uint32_t> props{};  // object keys: the property index of texts[i]
  };

  // Nodes and lists every schema has, in this order.
  static constexpr uint16_t kAnyNode = 0, kAnyObjectNode = 1, kAnyArrayNode = 2;
  static constexpr uint16_t kKeywordList = 0, kBooleanList = 1, kNullList = 2;

  JsonSchema();

  std::vector<Node> nodes_;
  std::vector<Property> props_;
  std::vector<TextList> lists_;
  // Unions: for each value-start byte, the node of the alternative that
  // starts with it (never a union), or kAnyNode where none does.
  std::vector<uint16_t> dispatch_;
  uint16_t root_ = kAnyNode;
};

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
    uint16_t lo = 0, hi = 0, pos = 0;  // literal, key: candidates [lo, hi) of the list, bytes matched
    uint32_t count = 0;             // string: characters so far
  };

  bool step(uint8_t b);
  LeafStep leaf_step(uint8_t b);
  bool string_step(uint8_t b);
  LeafStep number_step(uint8_t b);
  bool narrow(uint8_t b);
  bool key_viable() const;
  bool literal_exact() const;
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
};

static_assert(std::is_trivially_copyable_v<JsonMatcher>, "copied at every node of the vocabulary DFS");

}  // namespace sable
