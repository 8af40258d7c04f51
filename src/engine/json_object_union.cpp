#include "engine/json_object_union.h"

#include <algorithm>
#include <map>

namespace sable {

bool ObjectUnionBuilder::same(const JsonSchema& s, uint16_t x, uint16_t y, int depth) {
  using Kind = JsonSchema::Kind;
  if (x == y) return true;
  if (depth > 2 * JsonSchema::kMaxDepth) return false;
  const JsonSchema::Node& a = s.nodes_[x];
  const JsonSchema::Node& b = s.nodes_[y];
  if (a.kind != b.kind || a.closed != b.closed || a.num_props != b.num_props || a.max != b.max) return false;
  auto same_list = [&](uint16_t l, uint16_t m) {
    return s.lists_[l].texts == s.lists_[m].texts && s.lists_[l].props == s.lists_[m].props;
  };
  switch (a.kind) {
    case Kind::kAny:
    case Kind::kNumber:
    case Kind::kInteger:
      return true;
    case Kind::kString:
      return a.min == b.min && a.list == b.list;  // list: the pattern
    case Kind::kLiteral:
    case Kind::kUnionLiteral:
      return same_list(a.list, b.list);
    case Kind::kArray:
      return a.min == b.min && same(s, a.child, b.child, depth + 1);
    case Kind::kObject:
      if (!a.closed) return same(s, a.child, b.child, depth + 1);
      if (a.num_props == 0) return true;
      if (!same_list(a.list, b.list)) return false;
      for (uint32_t i = 0; i < a.num_props; ++i) {
        const JsonSchema::Property& p = s.props_[a.first_prop + i];
        const JsonSchema::Property& q = s.props_[b.first_prop + i];
        if (p.required_ahead != q.required_ahead || p.window_end != q.window_end || !same(s, p.node, q.node, depth + 1))
          return false;
      }
      return true;
    case Kind::kRegex:
      return false;  // a root of its own: never compared
    case Kind::kUnion:
      for (int i = 0; i < JsonSchema::kValueStarts; ++i)
        if (!same(s, s.dispatch_[a.first_prop + i], s.dispatch_[b.first_prop + i], depth + 1)) return false;
      return true;
    case Kind::kObjectUnion: {
      for (uint32_t i = 0; i < a.num_props; ++i)
        if (!same(s, s.union_alts_[a.first_prop + i], s.union_alts_[b.first_prop + i], depth + 1)) return false;
      // Same alternatives: the same keys, and values compared as above.
      const size_t keys = a.num_props == 0 ? 0 : s.lists_[a.list].texts.size();
      for (size_t k = 0; k < keys; ++k) {
        const JsonSchema::UnionKey& p = s.union_keys_[a.min + k];
        const JsonSchema::UnionKey& q = s.union_keys_[b.min + k];
        for (uint32_t i = 0; i < a.num_props; ++i)
          if (p.prop[i] != JsonSchema::kNoProp && !same(s, p.value[i], q.value[i], depth + 1)) return false;
      }
      return true;
    }
  }
  return false;
}

// Whether a document can never be followed by both alternatives up to the
// properties at index pa of object a and pb of object b: some property
// before both, required in both, has const/enum values in each and none in
// common. (A required property cannot be skipped, so both must have read
// it, and its value drops one of them.)
bool ObjectUnionBuilder::told_apart(const JsonSchema& s, uint16_t a, uint16_t b, uint8_t pa, uint8_t pb) {
  using Kind = JsonSchema::Kind;
  const JsonSchema::Node& na = s.nodes_[a];
  const JsonSchema::Node& nb = s.nodes_[b];
  const JsonSchema::TextList& ka = s.lists_[na.list];
  const JsonSchema::TextList& kb = s.lists_[nb.list];
  // Property i is required when, with it next, nothing after it may come first.
  auto required = [&](const JsonSchema::Node& n, uint32_t i) {
    return i + 1 < n.num_props && s.props_[n.first_prop + i].window_end == i;
  };
  for (size_t i = 0; i < ka.texts.size(); ++i) {
    const uint32_t da = ka.props[i];
    if (da >= pa || !required(na, da)) continue;
    const auto it = std::lower_bound(kb.texts.begin(), kb.texts.end(), ka.texts[i]);
    if (it == kb.texts.end() || *it != ka.texts[i]) continue;
    const uint32_t db = kb.props[size_t(it - kb.texts.begin())];
    if (db >= pb || !required(nb, db)) continue;
    const JsonSchema::Node& va = s.nodes_[s.props_[na.first_prop + da].node];
    const JsonSchema::Node& vb = s.nodes_[s.props_[nb.first_prop + db].node];
    if (va.kind != Kind::kLiteral || vb.kind != Kind::kLiteral) continue;
    const std::vector<std::string>& ta = s.lists_[va.list].texts;
    const std::vector<std::string>& tb = s.lists_[vb.list].texts;
    bool common = false;
    for (const std::string& t : ta) common = common || std::binary_search(tb.begin(), tb.end(), t);
    if (!common) return true;
  }
  return false;
}

Result<uint16_t> ObjectUnionBuilder::build(JsonSchema& s, const std::vector<uint16_t>& objects,
                                           const std::string& where,
                                           const std::function<Result<uint16_t>(const JsonSchema::Node&)>& add_node,
                                           const std::function<Result<uint16_t>(JsonSchema::TextList)>& add_list,
                                           const std::function<int(uint16_t)>& union_height) {
  using Kind = JsonSchema::Kind;
  // The objects, nested object unions flattened, each once.
  std::vector<uint16_t> alts;
  for (uint16_t o : objects) {
    const JsonSchema::Node& n = s.nodes_[o];
    if (n.kind == Kind::kObjectUnion) {
      for (uint32_t i = 0; i < n.num_props; ++i) alts.push_back(s.union_alts_[n.first_prop + i]);
    } else {
      alts.push_back(o);
    }
  }
  std::vector<uint16_t> unique;
  for (uint16_t a : alts)
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) unique.push_back(a);
  alts = std::move(unique);
  if (alts.size() > size_t(JsonSchema::kMaxObjectAlts))
    return invalid_argument(where + " has " + std::to_string(alts.size()) + " object alternatives; at most " +
                            std::to_string(JsonSchema::kMaxObjectAlts) + " are supported");
  int nested = 0;
  for (uint16_t a : alts) {
    const JsonSchema::Node& n = s.nodes_[a];
    if (n.num_props >= JsonSchema::kNoProp)
      return invalid_argument(where + ": an object alternative has " + std::to_string(n.num_props) +
                              " properties; at most " + std::to_string(JsonSchema::kNoProp - 1) + " are supported");
    nested = std::max(nested, union_height(a));
  }
  if (nested + 1 > JsonSchema::kMaxObjectUnionNesting)
    return invalid_argument(where + " nests unions of objects more than " +
                            std::to_string(JsonSchema::kMaxObjectUnionNesting) + " deep");

  // Every key of every alternative: its property in each, and each one's value node.
  std::map<std::string, JsonSchema::UnionKey> keys;
  for (size_t a = 0; a < alts.size(); ++a) {
    const JsonSchema::Node& n = s.nodes_[alts[a]];
    if (n.num_props == 0) continue;  // {} only: no key list
    const JsonSchema::TextList& list = s.lists_[n.list];
    for (size_t i = 0; i < list.texts.size(); ++i) {
      auto [it, fresh] = keys.try_emplace(list.texts[i]);
      if (fresh) it->second.prop.fill(JsonSchema::kNoProp);
      it->second.prop[a] = uint8_t(list.props[i]);
      it->second.value[a] = s.props_[n.first_prop + list.props[i]].node;
    }
  }

  // Each key's value: the one node its alternatives share, their const/enum
  // texts merged (each with the alternatives that allow it), or each
  // alternative's own node (kept as read above).
  JsonSchema::TextList names;
  std::vector<JsonSchema::UnionKey> table;
  for (auto& [name, key] : keys) {
    std::vector<size_t> with;
    for (size_t a = 0; a < alts.size(); ++a)
      if (key.prop[a] != JsonSchema::kNoProp) with.push_back(a);
    bool same = true, literals = true;
    for (size_t a : with) {
      same = same && ObjectUnionBuilder::same(s, key.value[a], key.value[with[0]]);
      literals = literals && s.nodes_[key.value[a]].kind == Kind::kLiteral;
    }
    if (same) {
      for (size_t a : with) key.value[a] = key.value[with[0]];
    } else if (literals) {
      std::map<std::string, uint32_t> masks;
      for (size_t a : with)
        for (const std::string& t : s.lists_[s.nodes_[key.value[a]].list].texts) masks[t] |= 1u << a;
      JsonSchema::TextList merged;
      for (const auto& [t, m] : masks) {
        merged.texts.push_back(t);
        merged.props.push_back(m);
      }
      SABLE_ASSIGN_OR_RETURN(uint16_t list, add_list(std::move(merged)));
      SABLE_ASSIGN_OR_RETURN(uint16_t merged_node, add_node({.kind = Kind::kUnionLiteral, .list = list}));
      for (size_t a : with) key.value[a] = merged_node;
    } else {
      // Each alternative's own node, when every two alternatives whose
      // schemas for this key differ are told apart before it.
      for (size_t x = 0; x < with.size(); ++x)
        for (size_t y = x + 1; y < with.size(); ++y) {
          const size_t a = with[x], b = with[y];
          if (ObjectUnionBuilder::same(s, key.value[a], key.value[b]) ||
              told_apart(s, alts[a], alts[b], key.prop[a], key.prop[b]))
            continue;
          return invalid_argument(where + ": object alternatives " + std::to_string(a) + " and " + std::to_string(b) +
                                  " give property " + name +
                                  " different schemas; a property that objects of a union share may differ only "
                                  "in its const or enum values, or after a required const/enum property that "
                                  "tells the two apart (like a discriminator listed first)");
        }
    }
    names.texts.push_back(name);
    table.push_back(key);
  }

  JsonSchema::Node u{.kind = Kind::kObjectUnion,
                     .first_prop = uint32_t(s.union_alts_.size()),
                     .num_props = uint32_t(alts.size()),
                     .min = uint32_t(s.union_keys_.size())};
  if (!names.texts.empty()) {
    SABLE_ASSIGN_OR_RETURN(u.list, add_list(std::move(names)));
  }
  s.union_alts_.insert(s.union_alts_.end(), alts.begin(), alts.end());
  s.union_keys_.insert(s.union_keys_.end(), table.begin(), table.end());
  return add_node(u);
}

}  // namespace sable
