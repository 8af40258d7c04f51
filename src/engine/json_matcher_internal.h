// Internal to the JSON matcher (json_matcher.cpp, json_matcher_union.cpp):
// the phases of a frame and the kinds of leaf, shared by the two files
// (included by nothing else).
#pragma once

#include <cstdint>

namespace sable {

// Frame phases. A frame whose value is being matched (by a leaf or a deeper
// frame) is in kValue or kObjKey.
enum Phase : uint8_t {
  kRootStart,
  kRootDone,
  kValue,
  kObjStart,  // after '{'
  kObjKey,    // a key is the leaf
  kObjColon,  // after a key
  kObjAfterColon,
  kObjAfterColonSpace,
  kObjAfterValue,
  kObjAfterComma,
  kObjAfterCommaSpace,
  kArrStart,  // after '['
  kArrAfterValue,
  kArrAfterComma,
  kArrAfterCommaSpace,
};

enum LeafKind : uint8_t {
  kLeafNone,
  kLeafString,
  kLeafKeyString,
  kLeafNumber,
  kLeafLiteral,
  kLeafKey,
  kLeafUnionKey,      // a key of an object union: ref is its node
  kLeafUnionLiteral,  // a const/enum value of an object union's property: ref is its list
  kLeafRegex,         // the whole text of a regex() schema: count is the DFA state
};

enum StringPhase : uint8_t { kStrChars, kStrEscape, kStrHex, kStrPairBackslash, kStrPairU };

enum NumberPhase : uint8_t { kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumESign, kNumExp, kNumNone };

}  // namespace sable
