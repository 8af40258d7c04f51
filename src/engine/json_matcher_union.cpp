// The object-union part of the JSON matcher (json_object_union.h): each
// alternative's next property per union frame, which keys and const/enum
// values a live alternative may take, and when the object may close.
#include "engine/json_matcher.h"
#include "engine/json_matcher_internal.h"

namespace sable {

// Some live alternative has a property left.
bool JsonMatcher::union_more_keys(const Frame& f) const {
  const JsonSchema::Node& u = schema_->nodes_[f.node];
  for (uint32_t a = 0; a < u.num_props; ++a) {
    const uint8_t c = alt_count(f, int(a));
    if (c != JsonSchema::kNoProp && c < schema_->nodes_[schema_->union_alts_[u.first_prop + a]].num_props) return true;
  }
  return false;
}

// Some key in the candidate range may come next in some live alternative:
// one of its properties from the next one up to its next required one.
bool JsonMatcher::union_key_viable() const {
  const Frame& f = frames_[depth_];
  const JsonSchema::Node& u = schema_->nodes_[f.node];
  for (uint32_t i = leaf_.lo; i < leaf_.hi; ++i) {
    const JsonSchema::UnionKey& k = schema_->union_keys_[u.min + i];
    for (uint32_t a = 0; a < u.num_props; ++a) {
      const uint8_t c = alt_count(f, int(a)), p = k.prop[a];
      if (c == JsonSchema::kNoProp || p == JsonSchema::kNoProp || p < c) continue;
      const JsonSchema::Node& o = schema_->nodes_[schema_->union_alts_[u.first_prop + a]];
      if (c < o.num_props && p <= schema_->props_[o.first_prop + c].window_end) return true;
    }
  }
  return false;
}

// The key just closed: the alternatives that may take it move past it, the
// others drop out; its value follows the key's node.
void JsonMatcher::union_take_key() {
  Frame& f = frames_[depth_];
  const JsonSchema::Node& u = schema_->nodes_[f.node];
  const JsonSchema::UnionKey& k = schema_->union_keys_[u.min + leaf_.lo];
  for (uint32_t a = 0; a < u.num_props; ++a) {
    const uint8_t c = alt_count(f, int(a)), p = k.prop[a];
    if (c == JsonSchema::kNoProp) continue;
    const JsonSchema::Node& o = schema_->nodes_[schema_->union_alts_[u.first_prop + a]];
    const bool takes =
        p != JsonSchema::kNoProp && p >= c && c < o.num_props && p <= schema_->props_[o.first_prop + c].window_end;
    set_alt_count(f, int(a), takes ? uint8_t(p + 1) : JsonSchema::kNoProp);
    // The alternatives that take the key all follow the same schema for its
    // value (json_object_union.cpp checks that).
    if (takes) uvalue_[f.count] = k.value[a];
  }
  f.phase = kObjColon;
  leaf_.kind = kLeafNone;
}

// Some text in [lo, hi) of the union literal's list is allowed by a live
// alternative of the object union it is a value of.
bool JsonMatcher::union_literal_viable(uint16_t lo, uint16_t hi) const {
  const Frame& f = frames_[depth_];
  const uint32_t alts = schema_->nodes_[f.node].num_props;
  uint32_t live = 0;
  for (uint32_t a = 0; a < alts; ++a)
    if (alt_count(f, int(a)) != JsonSchema::kNoProp) live |= 1u << a;
  const std::vector<uint32_t>& allow = schema_->lists_[leaf_.ref].props;
  for (uint32_t i = lo; i < hi; ++i)
    if (allow[i] & live) return true;
  return false;
}

// '}' is allowed when some live alternative has no required property left.
bool JsonMatcher::close_union(const Frame& f) {
  const JsonSchema::Node& u = schema_->nodes_[f.node];
  bool done = false;
  for (uint32_t a = 0; a < u.num_props && !done; ++a) {
    const uint8_t c = alt_count(f, int(a));
    if (c == JsonSchema::kNoProp) continue;
    const JsonSchema::Node& o = schema_->nodes_[schema_->union_alts_[u.first_prop + a]];
    done = c >= o.num_props || !schema_->props_[o.first_prop + c].required_ahead;
  }
  if (!done) return false;
  --unions_;
  return close_container();
}

}  // namespace sable
