#include "engine/json_matcher.h"

#include <algorithm>
#include <cstring>

#include "engine/json_matcher_internal.h"
#include "engine/regex_dfa.h"
#include "tokenizer/utf8.h"

namespace sable {

namespace {

bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

JsonMatcher::JsonMatcher(const JsonSchema& schema) : schema_(&schema) {
  frames_[0] = {.node = schema.root_, .phase = kRootStart};
  if (schema.regex_) {  // the text is one leaf, from its first byte
    frames_[0].phase = kValue;
    leaf_ = {.kind = kLeafRegex, .count = schema.regex_->start()};
  }
}

bool JsonMatcher::accept(uint8_t byte) {
  // A byte can end a number and then be rejected by the enclosing object:
  // rolling back a copy is simpler than checking every path before writing.
  const JsonMatcher saved = *this;
  if (step(byte)) return true;
  *this = saved;
  return false;
}

bool JsonMatcher::accept(std::string_view bytes) {
  for (char c : bytes) {
    if (!step(uint8_t(c))) return false;
  }
  return true;
}

bool JsonMatcher::in_free_string() const {
  if (leaf_.kind != kLeafString && leaf_.kind != kLeafKeyString) return false;
  if (leaf_.phase != kStrChars || leaf_.utf8_need != 0) return false;
  const JsonSchema::Node& n = schema_->nodes_[leaf_.ref];
  return !(n.kind == JsonSchema::Kind::kString && (n.min > 0 || n.max != UINT32_MAX || n.list != 0));
}

const RegexDfa* JsonMatcher::string_pattern() const {
  if (leaf_.kind != kLeafString) return nullptr;
  const JsonSchema::Node& n = schema_->nodes_[leaf_.ref];
  return n.kind == JsonSchema::Kind::kString && n.list != 0 ? schema_->patterns_[n.list - 1].get() : nullptr;
}

bool JsonMatcher::escape_feasible(int digits, uint16_t prefix) const {
  const RegexDfa* re = string_pattern();
  if (!re) return true;
  const Leaf& l = leaf_;
  // The 4-digit values the escape can still become.
  const uint32_t shift = 4 * uint32_t(4 - digits);
  const uint32_t vlo = uint32_t(prefix) << shift, vhi = ((uint32_t(prefix) + 1) << shift) - 1;
  if (l.low_surrogate) {  // completes the high surrogate l.high
    const uint32_t a = std::max(vlo, 0xDC00u), b = std::min(vhi, 0xDFFFu);
    const uint32_t base = 0x10000 + ((uint32_t(l.high) - 0xD800) << 10);
    return a <= b && re->any_code_point(l.re, base + (a - 0xDC00), base + (b - 0xDC00));
  }
  // A character of the BMP, or through a high surrogate one beyond it.
  if (re->any_code_point(l.re, vlo, vhi)) return true;  // (surrogates skipped)
  const uint32_t a = std::max(vlo, 0xD800u), b = std::min(vhi, 0xDBFFu);
  return a <= b && re->any_code_point(l.re, 0x10000 + ((a - 0xD800) << 10), 0x10000 + ((b - 0xD800) << 10) + 0x3FF);
}

bool JsonMatcher::pattern_step(std::string_view decoded) {
  const RegexDfa* re = string_pattern();
  if (!re) return true;
  uint32_t s = leaf_.re;
  for (char c : decoded) {
    s = re->next(s, uint8_t(c));
    if (s == RegexDfa::kDead) return false;
  }
  leaf_.re = s;
  return true;
}

void JsonMatcher::state_key(std::string& out) const {
  out.clear();
  auto put = [&out](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(schema_->id_);  // not the address: a freed schema's may come back for another
  put(leaf_.kind), put(leaf_.phase), put(leaf_.utf8_need), put(leaf_.utf8_lo), put(leaf_.utf8_hi);
  put(leaf_.hex_digits), put(leaf_.low_surrogate), put(leaf_.integer), put(leaf_.ref), put(leaf_.hex);
  put(leaf_.high), put(leaf_.re);
  put(leaf_.lo), put(leaf_.hi), put(leaf_.pos), put(leaf_.count);
  put(depth_);
  for (int i = 0; i <= depth_; ++i) put(frames_[i].node), put(frames_[i].phase), put(frames_[i].count);
  put(unions_);
  for (int i = 0; i < unions_; ++i) put(ucounts_[i]), put(uvalue_[i]);
}

bool JsonMatcher::complete() const {
  if (depth_ != 0) return false;
  if (frames_[0].phase == kRootDone) return true;
  if (leaf_.kind == kLeafRegex) return schema_->regex_->accepting(leaf_.count);
  // A top-level number or literal that could end here.
  if (leaf_.kind == kLeafNumber) {
    return leaf_.phase == kNumZero || leaf_.phase == kNumInt || leaf_.phase == kNumFrac || leaf_.phase == kNumExp;
  }
  return leaf_.kind == kLeafLiteral && literal_exact();
}

bool JsonMatcher::may_continue() const {
  // Only a top-level scalar can be complete and still go on; a finished
  // object or array cannot, and a scalar inside one ends with its
  // container's next byte.
  if (depth_ != 0 || frames_[0].phase == kRootDone || !complete()) return false;
  // A literal's candidates share the bytes matched; an exact match is the
  // shortest of them, so any other candidate is longer ("AB" after "A" in a
  // guided_choice, 12 after 1 in an enum).
  if (leaf_.kind == kLeafLiteral) return leaf_.hi - leaf_.lo > 1;
  if (leaf_.kind == kLeafRegex) return schema_->regex_->has_next(leaf_.count);
  // A number: "1" may go on to "12", "1.5" or "1e3" where the schema allows.
  if (leaf_.kind == kLeafNumber) {
    for (const char c : std::string_view("0123456789.eE")) {
      JsonMatcher m = *this;
      if (m.accept(uint8_t(c))) return true;
    }
  }
  return false;
}

bool JsonMatcher::step(uint8_t b) {
  if (leaf_.kind != kLeafNone) {
    switch (leaf_step(b)) {
      case LeafStep::kTaken: return true;
      case LeafStep::kRejected: return false;
      case LeafStep::kEnded: break;  // the value ended before b: its container takes b
    }
  }
  Frame& f = frames_[depth_];
  const JsonSchema::Node& n = schema_->nodes_[f.node];
  switch (f.phase) {
    case kRootStart:
      f.phase = kValue;
      return begin_value(f.node, b);
    case kRootDone:
    case kValue:
    case kObjKey:
      return false;  // a value in progress is a leaf or a deeper frame
    case kObjStart:
      if (b == '}') return close_object(f);
      return b == '"' && begin_key(f);
    case kObjColon:
      if (b != ':') return false;
      f.phase = kObjAfterColon;
      return true;
    case kObjAfterColon:
      if (b == ' ') {
        f.phase = kObjAfterColonSpace;
        return true;
      }
      [[fallthrough]];
    case kObjAfterColonSpace:
      f.phase = kValue;
      if (n.kind == JsonSchema::Kind::kObjectUnion) return begin_value(uvalue_[f.count], b);
      return begin_value(n.closed ? schema_->props_[n.first_prop + f.count - 1].node : n.child, b);
    case kObjAfterValue:
      if (b == '}') return close_object(f);
      if (b != ',') return false;
      if (n.kind == JsonSchema::Kind::kObjectUnion ? !union_more_keys(f) : n.closed && f.count >= n.num_props)
        return false;
      f.phase = kObjAfterComma;
      return true;
    case kObjAfterComma:
      if (b == ' ') {
        f.phase = kObjAfterCommaSpace;
        return true;
      }
      [[fallthrough]];
    case kObjAfterCommaSpace:
      return b == '"' && begin_key(f);
    case kArrStart:
      if (b == ']') return n.min == 0 && close_container();
      return begin_item(f, b);
    case kArrAfterValue:
      if (b == ']') return f.count >= n.min && close_container();
      if (b != ',' || f.count >= n.max) return false;
      f.phase = kArrAfterComma;
      return true;
    case kArrAfterComma:
      if (b == ' ') {
        f.phase = kArrAfterCommaSpace;
        return true;
      }
      [[fallthrough]];
    case kArrAfterCommaSpace:
      return begin_item(f, b);
  }
  return false;
}

JsonMatcher::LeafStep JsonMatcher::leaf_step(uint8_t b) {
  switch (leaf_.kind) {
    case kLeafString:
    case kLeafKeyString:
      return string_step(b) ? LeafStep::kTaken : LeafStep::kRejected;
    case kLeafNumber:
      return number_step(b);
    case kLeafRegex: {
      const uint32_t next = schema_->regex_->next(leaf_.count, b);
      if (next == RegexDfa::kDead) return LeafStep::kRejected;
      leaf_.count = next;
      return LeafStep::kTaken;
    }
    case kLeafLiteral:
      if (narrow(b)) return LeafStep::kTaken;
      // Self-delimiting texts (strings, true, ...) end here; a number ends
      // when the next byte cannot continue any value ("1" then ',').
      if (!literal_exact()) return LeafStep::kRejected;
      leaf_.kind = kLeafNone;
      finish_value();
      return LeafStep::kEnded;
    case kLeafUnionLiteral: {
      // As a literal, and only texts some live alternative allows.
      const Leaf before = leaf_;
      if (narrow(b) && union_literal_viable(leaf_.lo, leaf_.hi)) return LeafStep::kTaken;
      leaf_ = before;
      if (!literal_exact() || !union_literal_viable(leaf_.lo, leaf_.lo + 1)) return LeafStep::kRejected;
      // The alternatives that do not allow this value drop out.
      const Frame& f = frames_[depth_];
      const uint32_t allow = schema_->lists_[leaf_.ref].props[leaf_.lo];
      for (int a = 0; a < JsonSchema::kMaxObjectAlts; ++a)
        if (!(allow >> a & 1)) set_alt_count(f, a, JsonSchema::kNoProp);
      leaf_.kind = kLeafNone;
      finish_value();
      return LeafStep::kEnded;
    }
    case kLeafUnionKey:
      if (!narrow(b) || !union_key_viable()) return LeafStep::kRejected;
      if (literal_exact()) union_take_key();
      return LeafStep::kTaken;
    case kLeafKey: {
      if (!narrow(b) || !key_viable()) return LeafStep::kRejected;
      // Names hold no quote, so the closing one leaves a single candidate.
      if (literal_exact()) {
        Frame& f = frames_[depth_];
        f.count = schema_->lists_[schema_->nodes_[leaf_.ref].list].props[leaf_.lo] + 1;
        f.phase = kObjColon;
        leaf_.kind = kLeafNone;
      }
      return LeafStep::kTaken;
    }
    default:
      return LeafStep::kRejected;
  }
}

bool JsonMatcher::string_step(uint8_t b) {
  Leaf& l = leaf_;
  if (l.utf8_need > 0) {
    if (b < l.utf8_lo || b > l.utf8_hi) return false;
    if (!pattern_step(std::string_view(reinterpret_cast<const char*>(&b), 1))) return false;
    --l.utf8_need;
    l.utf8_lo = 0x80;
    l.utf8_hi = 0xBF;
    return true;
  }
  switch (l.phase) {
    case kStrChars: {
      const JsonSchema::Node& n = schema_->nodes_[l.ref];
      const bool limited = n.kind == JsonSchema::Kind::kString;
      if (b == '"') {
        if (limited && l.count < n.min) return false;
        if (const RegexDfa* re = string_pattern(); re && !re->accepting(l.re)) return false;
        if (l.kind == kLeafKeyString) {
          frames_[depth_].phase = kObjColon;
          l.kind = kLeafNone;
        } else {
          l.kind = kLeafNone;
          finish_value();
        }
        return true;
      }
      if (b < 0x20) return false;
      if (limited && l.count >= n.max) return false;  // every other byte starts a character
      if (b != '\\' && !pattern_step(std::string_view(reinterpret_cast<const char*>(&b), 1))) return false;
      if (b == '\\') {
        // A pattern string: some escape (\uXXXX stands for any character)
        // must lead on, or the string could never be finished.
        if (!escape_feasible(0, 0)) return false;
        l.phase = kStrEscape;
      } else if (b >= 0x80) {
        // UTF-8 lead byte: how many continuation bytes, and the range of the
        // first (excluding overlong forms, surrogates and > U+10FFFF).
        uint8_t need, lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
          need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
          need = 2;
          if (b == 0xE0) lo = 0xA0;
          if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
          need = 3;
          if (b == 0xF0) lo = 0x90;
          if (b == 0xF4) hi = 0x8F;
        } else {
          return false;  // continuation byte, 0xC0, 0xC1, 0xF5..0xFF
        }
        l.utf8_need = need;
        l.utf8_lo = lo;
        l.utf8_hi = hi;
      }
      // Counted only where a length is enforced: an unbounded string's state
      // then stays the same from character to character, so the engine can
      // reuse the token mask of the previous step (TokenTrie's cache).
      if (limited && (n.min > 0 || n.max != UINT32_MAX)) ++l.count;
      return true;
    }
    case kStrEscape:
      switch (b) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': {
          const char decoded = b == 'b'   ? '\b'
                               : b == 'f' ? '\f'
                               : b == 'n' ? '\n'
                               : b == 'r' ? '\r'
                               : b == 't' ? '\t'
                                          : char(b);
          if (!pattern_step(std::string_view(&decoded, 1))) return false;
          l.phase = kStrChars;
          return true;
        }
        case 'u':
          l.phase = kStrHex;
          l.hex = 0;
          l.hex_digits = 0;
          return true;
        default:
          return false;
      }
    case kStrHex: {
      int d = hex_value(b);
      if (d < 0) return false;
      // A pattern string: the digits so far must still allow a character the
      // pattern takes (checked at each digit, so no escape is a dead end).
      if (!escape_feasible(l.hex_digits + 1, uint16_t(l.hex * 16 + d))) return false;
      l.hex = uint16_t(l.hex * 16 + d);
      ++l.hex_digits;
      if (l.hex_digits == 2) {
        // The first two digits tell a surrogate: a low one only completes a
        // high one, and a high one must be followed by a low one.
        bool low = l.hex >= 0xDC && l.hex <= 0xDF;
        if (low != l.low_surrogate) return false;
      } else if (l.hex_digits == 4) {
        bool high = !l.low_surrogate && l.hex >= 0xD800 && l.hex <= 0xDBFF;
        if (string_pattern() && !high) {  // the escaped character, decoded, through the pattern
          const uint32_t cp =
              l.low_surrogate ? 0x10000 + ((uint32_t(l.high) - 0xD800) << 10) + (uint32_t(l.hex) - 0xDC00) : l.hex;
          std::string u;
          utf8_append(u, cp);
          if (!pattern_step(u)) return false;
        }
        if (high) l.high = l.hex;
        l.low_surrogate = false;
        l.phase = high ? kStrPairBackslash : kStrChars;
      }
      return true;
    }
    case kStrPairBackslash:
      if (b != '\\') return false;
      l.phase = kStrPairU;
      return true;
    case kStrPairU:
      if (b != 'u') return false;
      l.phase = kStrHex;
      l.hex = 0;
      l.hex_digits = 0;
      l.low_surrogate = true;  // not counted: the pair is one character
      return true;
    default:
      return false;
  }
}

JsonMatcher::LeafStep JsonMatcher::number_step(uint8_t b) {
  const bool digit = is_digit(b);
  const bool fraction_ok = !leaf_.integer;
  uint8_t next = kNumNone;
  switch (leaf_.phase) {
    case kNumMinus:
      if (b == '0') next = kNumZero;
      else if (digit) next = kNumInt;
      break;
    case kNumZero:
    case kNumInt:
      if (digit && leaf_.phase == kNumInt) next = kNumInt;
      else if (b == '.' && fraction_ok) next = kNumDot;
      else if ((b == 'e' || b == 'E') && fraction_ok) next = kNumE;
      break;
    case kNumDot:
      if (digit) next = kNumFrac;
      break;
    case kNumFrac:
      if (digit) next = kNumFrac;
      else if (b == 'e' || b == 'E') next = kNumE;
      break;
    case kNumE:
      if (b == '+' || b == '-') next = kNumESign;
      else if (digit) next = kNumExp;
      break;
    case kNumESign:
    case kNumExp:
      if (digit) next = kNumExp;
      break;
    default:
      break;
  }
  if (next != kNumNone) {
    leaf_.phase = next;
    return LeafStep::kTaken;
  }
  const uint8_t p = leaf_.phase;
  if (p != kNumZero && p != kNumInt && p != kNumFrac && p != kNumExp) return LeafStep::kRejected;
  leaf_.kind = kLeafNone;  // the number ended before b
  finish_value();
  return LeafStep::kEnded;
}

// Narrows the candidate range to the texts that continue with b; false (and
// no change) if none does. The range shares its first pos bytes, and the one
// text of exactly pos bytes, if any, sorts first.
bool JsonMatcher::narrow(uint8_t b) {
  const bool key = leaf_.kind == kLeafKey || leaf_.kind == kLeafUnionKey;
  const uint16_t list = key ? schema_->nodes_[leaf_.ref].list : leaf_.ref;
  const std::vector<std::string>& texts = schema_->lists_[list].texts;
  const size_t pos = leaf_.pos;
  auto byte_at = [pos](const std::string& t) { return t.size() > pos ? int(uint8_t(t[pos])) : -1; };
  auto first = texts.begin() + leaf_.lo, last = texts.begin() + leaf_.hi;
  auto lo = std::partition_point(first, last, [&](const std::string& t) { return byte_at(t) < int(b); });
  auto hi = std::partition_point(lo, last, [&](const std::string& t) { return byte_at(t) == int(b); });
  if (lo == hi) return false;
  leaf_.lo = uint16_t(lo - texts.begin());
  leaf_.hi = uint16_t(hi - texts.begin());
  ++leaf_.pos;
  return true;
}

bool JsonMatcher::literal_exact() const {
  const bool key = leaf_.kind == kLeafKey || leaf_.kind == kLeafUnionKey;
  const uint16_t list = key ? schema_->nodes_[leaf_.ref].list : leaf_.ref;
  return schema_->lists_[list].texts[leaf_.lo].size() == leaf_.pos;
}

// Some key in the range may come next: one of the properties from the next
// one up to the next required one.
bool JsonMatcher::key_viable() const {
  const JsonSchema::Node& n = schema_->nodes_[leaf_.ref];
  const Frame& f = frames_[depth_];
  const uint32_t first = f.count;
  const uint32_t last = schema_->props_[n.first_prop + first].window_end;
  const std::vector<uint32_t>& props = schema_->lists_[n.list].props;
  for (uint32_t i = leaf_.lo; i < leaf_.hi; ++i) {
    if (props[i] >= first && props[i] <= last) return true;
  }
  return false;
}

bool JsonMatcher::begin_value(uint16_t node, uint8_t b) {
  using Kind = JsonSchema::Kind;
  const JsonSchema::Node& n = schema_->nodes_[node];
  const bool number_start = b == '-' || is_digit(b);
  switch (n.kind) {
    case Kind::kAny:
      if (b == '{') return push(JsonSchema::kAnyObjectNode);
      if (b == '[') return push(JsonSchema::kAnyArrayNode);
      if (b == '"') break;
      if (number_start) break;
      leaf_ = {.kind = kLeafLiteral, .ref = JsonSchema::kKeywordList,
               .hi = uint16_t(schema_->lists_[JsonSchema::kKeywordList].texts.size())};
      return narrow(b);
    case Kind::kObject:
      return b == '{' && push(node);
    case Kind::kArray:
      return b == '[' && push(node);
    case Kind::kString:
      if (b != '"') return false;
      break;
    case Kind::kNumber:
    case Kind::kInteger:
      if (!number_start) return false;
      break;
    case Kind::kLiteral:
      leaf_ = {.kind = kLeafLiteral, .ref = n.list, .hi = uint16_t(schema_->lists_[n.list].texts.size())};
      return narrow(b);
    case Kind::kObjectUnion:
      return b == '{' && push(node);
    case Kind::kUnionLiteral:
      leaf_ = {.kind = kLeafUnionLiteral, .ref = n.list, .hi = uint16_t(schema_->lists_[n.list].texts.size())};
      return narrow(b) && union_literal_viable(leaf_.lo, leaf_.hi);
    case Kind::kRegex:
      return false;  // the root only, where the matcher starts in its leaf
    case Kind::kUnion: {
      // The alternatives start with different bytes: this one picks the
      // alternative (never a union), which the value then follows alone.
      const uint8_t slot = JsonSchema::kValueStartSlot[b];
      if (slot == JsonSchema::kNoSlot) return false;
      const uint16_t alt = schema_->dispatch_[n.first_prop + slot];
      return alt != JsonSchema::kAnyNode && begin_value(alt, b);
    }
  }
  if (b == '"') {
    leaf_ = {.kind = kLeafString, .phase = kStrChars, .ref = node};
  } else {
    leaf_ = {.kind = kLeafNumber,
             .phase = uint8_t(b == '-' ? kNumMinus : b == '0' ? kNumZero : kNumInt),
             .integer = n.kind == Kind::kInteger};
  }
  return true;
}

bool JsonMatcher::begin_item(Frame& f, uint8_t b) {
  if (f.count >= schema_->nodes_[f.node].max) return false;
  ++f.count;
  f.phase = kValue;
  return begin_value(schema_->nodes_[f.node].child, b);
}

bool JsonMatcher::begin_key(Frame& f) {
  const JsonSchema::Node& n = schema_->nodes_[f.node];
  f.phase = kObjKey;
  if (n.kind == JsonSchema::Kind::kObjectUnion) {
    if (!union_more_keys(f)) return false;
    leaf_ = {.kind = kLeafUnionKey, .ref = f.node, .hi = uint16_t(schema_->lists_[n.list].texts.size()), .pos = 1};
    return union_key_viable();  // some key text of a live alternative may come
  }
  if (!n.closed) {
    leaf_ = {.kind = kLeafKeyString, .phase = kStrChars, .ref = JsonSchema::kAnyNode};  // any key, no limits
    return true;
  }
  if (f.count >= n.num_props) return false;
  // Every key text starts with the quote just read: all candidates remain,
  // and the window [count, window_end] is not empty.
  leaf_ = {.kind = kLeafKey, .ref = f.node, .hi = uint16_t(schema_->lists_[n.list].texts.size()), .pos = 1};
  return true;
}

bool JsonMatcher::push(uint16_t node) {
  if (depth_ >= JsonSchema::kMaxDepth) return false;
  const JsonSchema::Node& n = schema_->nodes_[node];
  if (n.kind == JsonSchema::Kind::kObjectUnion) {
    // Every alternative starts before its first property (the compiler
    // bounds the nesting, so a state is always free).
    if (unions_ >= JsonSchema::kMaxObjectUnionNesting) return false;
    std::memset(ucounts_[unions_], JsonSchema::kNoProp, sizeof ucounts_[unions_]);
    std::memset(ucounts_[unions_], 0, n.num_props);
    uvalue_[unions_] = 0;
    frames_[++depth_] = {.node = node, .phase = kObjStart, .count = unions_++};
    return true;
  }
  const bool object = n.kind == JsonSchema::Kind::kObject;
  frames_[++depth_] = {.node = node, .phase = uint8_t(object ? kObjStart : kArrStart)};
  return true;
}

bool JsonMatcher::close_object(const Frame& f) {
  const JsonSchema::Node& n = schema_->nodes_[f.node];
  if (n.kind == JsonSchema::Kind::kObjectUnion) return close_union(f);
  if (n.closed && f.count < n.num_props && schema_->props_[n.first_prop + f.count].required_ahead) return false;
  return close_container();
}

bool JsonMatcher::close_container() {
  --depth_;
  finish_value();
  return true;
}

void JsonMatcher::finish_value() {
  Frame& f = frames_[depth_];
  if (depth_ == 0) {
    f.phase = kRootDone;
    return;
  }
  f.phase = schema_->nodes_[f.node].kind == JsonSchema::Kind::kArray ? kArrAfterValue : kObjAfterValue;
}

}  // namespace sable
