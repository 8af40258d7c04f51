// anyOf / oneOf: the alternatives compiled, flattened and merged into one
// union node (the JSON Schema compiler's second part; json_schema_compiler.h).
#include <array>

#include "engine/json_object_union.h"
#include "engine/json_schema_compiler.h"

namespace sable::json_schema_internal {

// anyOf / oneOf: a union of alternatives that start with different bytes.
// Other keywords beside it apply to every alternative ({"type": "object",
// "anyOf": [...]}, as vLLM writes tool_choice "required"): they are copied
// into each inline alternative that does not say otherwise.
template <typename J>
Result<uint16_t> JsonSchemaCompiler<J>::compile_alternatives(const J& s, const char* keyword, const std::string& path,
                                                             int depth) {
  const J& list = *find(s, keyword);
  if (!list.is_array() || list.empty())
    return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path +
                            " must be a non-empty list of schemas");
  std::vector<std::string> shared;
  for (auto it = s.begin(); it != s.end(); ++it)
    if (it.key() != keyword && !is_annotation(it.key())) shared.push_back(it.key());
  if (find(s, "anyOf") && find(s, "oneOf"))
    return invalid_argument(kPrefix + std::string("'anyOf' and 'oneOf' together at ") + path + " are not supported");
  std::vector<Alt> alts;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = path + "." + keyword + "[" + std::to_string(i) + "]";
    if (shared.empty()) {
      SABLE_ASSIGN_OR_RETURN(uint16_t node, compile(list[i], where, depth));
      alts.push_back({node, i});
      continue;
    }
    if (!list[i].is_object() || find(list[i], "$ref") || find(list[i], "anyOf") || find(list[i], "oneOf"))
      return invalid_argument(kPrefix + std::string("'") + shared[0] + "' next to '" + keyword + "' at " + path +
                              " is supported only with inline alternatives (no $ref, anyOf or oneOf in them); " +
                              where + " is not one");
    J merged = list[i];
    for (const std::string& k : shared) {
      const J* own = find(merged, k.c_str());
      if (!own) {
        merged[k] = *find(s, k.c_str());
      } else if (*own != *find(s, k.c_str())) {
        return invalid_argument(kPrefix + std::string("'") + k + "' next to '" + keyword + "' at " + path +
                                " differs from the one in " + where + "; merging them is not supported");
      }
    }
    SABLE_ASSIGN_OR_RETURN(uint16_t node, compile(merged, where, depth));
    alts.push_back({node, i});
  }
  return make_union(std::move(alts), keyword, path);
}

// The value-start bytes a node's values can begin with.
template <typename J>
std::bitset<JsonSchema::kValueStarts> JsonSchemaCompiler<J>::first_bytes(uint16_t node) const {
  const JsonSchema::Node& n = out_.nodes_[node];
  std::bitset<JsonSchema::kValueStarts> slots;
  auto add = [&slots](std::string_view bytes) {
    for (char c : bytes) slots.set(JsonSchema::kValueStartSlot[uint8_t(c)]);
  };
  switch (n.kind) {
    case Kind::kAny:
      slots.set();
      break;
    case Kind::kObject:
      add("{");
      break;
    case Kind::kArray:
      add("[");
      break;
    case Kind::kString:
      add("\"");
      break;
    case Kind::kNumber:
    case Kind::kInteger:
      add("-0123456789");
      break;
    case Kind::kLiteral:
      for (const std::string& t : out_.lists_[n.list].texts) add(t.substr(0, 1));  // dump()s: never empty
      break;
    case Kind::kUnion:
      for (int i = 0; i < JsonSchema::kValueStarts; ++i)
        slots[i] = out_.dispatch_[n.first_prop + i] != JsonSchema::kAnyNode;
      break;
    case Kind::kObjectUnion:
      add("{");
      break;
    case Kind::kUnionLiteral:
      for (const std::string& t : out_.lists_[n.list].texts) add(t.substr(0, 1));
      break;
    case Kind::kRegex:
      break;  // a root of its own: never in a union
  }
  return slots;
}

// Two or more closed objects among the alternatives become one object
// union (json_object_union.h), which then owns '{'.
template <typename J>
Status JsonSchemaCompiler<J>::merge_objects(std::vector<Alt>& flat, const char* keyword, const std::string& path) {
  std::vector<uint16_t> objects;
  size_t first = SIZE_MAX;
  for (const Alt& a : flat) {
    const JsonSchema::Node& n = out_.nodes_[a.node];
    if ((n.kind == Kind::kObject && n.closed) || n.kind == Kind::kObjectUnion) {
      objects.push_back(a.node);
      first = std::min(first, a.index);
    }
  }
  if (objects.size() < 2) return Status::ok();
  SABLE_ASSIGN_OR_RETURN(uint16_t u, ObjectUnionBuilder::build(
                                         out_, objects, kPrefix + std::string("'") + keyword + "' at " + path,
                                         [&](const JsonSchema::Node& n) { return add_node(n, path); },
                                         [&](JsonSchema::TextList l) { return add_list(std::move(l), path); },
                                         [&](uint16_t node) { return union_heights_[node]; }));
  std::vector<Alt> rest;
  for (const Alt& a : flat)
    if (std::find(objects.begin(), objects.end(), a.node) == objects.end()) rest.push_back(a);
  rest.push_back({u, first});
  flat = std::move(rest);
  return Status::ok();
}

// The alternatives (flattened, repeats dropped) must start with different
// bytes, except literals, which are merged into one list; the union node
// maps each value-start byte to its alternative. One alternative is itself.
template <typename J>
Result<uint16_t> JsonSchemaCompiler<J>::make_union(std::vector<Alt> alts, const char* keyword,
                                                   const std::string& path) {
  const bool one_of = std::string_view(keyword) == "oneOf";
  std::vector<Alt> flat;
  auto add = [&](Alt a) -> Status {
    for (const Alt& f : flat) {
      if (f.node != a.node) continue;
      // oneOf: a schema listed twice matches nothing.
      if (one_of && f.index != a.index)
        return invalid_argument(kPrefix + std::string("'oneOf' at ") + path + ": alternatives " +
                                std::to_string(f.index) + " and " + std::to_string(a.index) +
                                " are the same schema; 'oneOf' alternatives must not overlap");
      return Status::ok();
    }
    flat.push_back(a);
    return Status::ok();
  };
  for (const Alt& a : alts) {
    const JsonSchema::Node& n = out_.nodes_[a.node];
    if (n.kind != Kind::kUnion) {
      SABLE_RETURN_IF_ERROR(add(a));
      continue;
    }
    for (int i = 0; i < JsonSchema::kValueStarts; ++i) {
      if (uint16_t inner = out_.dispatch_[n.first_prop + i]; inner != JsonSchema::kAnyNode)
        SABLE_RETURN_IF_ERROR(add({inner, a.index}));
    }
  }
  SABLE_RETURN_IF_ERROR(merge_objects(flat, keyword, path));

  std::array<int, JsonSchema::kValueStarts> owner;  // index into flat
  owner.fill(-1);
  std::vector<std::bitset<JsonSchema::kValueStarts>> bytes;
  JsonSchema::TextList literals;
  std::vector<size_t> literal_from;  // the alternative of each text
  size_t num_literals = 0;
  for (size_t i = 0; i < flat.size(); ++i) {
    const JsonSchema::Node& n = out_.nodes_[flat[i].node];
    const bool literal = n.kind == Kind::kLiteral;
    bytes.push_back(first_bytes(flat[i].node));
    for (int slot = 0; slot < JsonSchema::kValueStarts; ++slot) {
      if (!bytes[i][slot]) continue;
      if (owner[slot] < 0) {
        owner[slot] = int(i);
        continue;
      }
      const Alt& other = flat[owner[slot]];
      if (literal && out_.nodes_[other.node].kind == Kind::kLiteral) continue;
      return invalid_argument(
          kPrefix + std::string("'") + keyword + "' at " + path + ": alternatives " +
          std::to_string(std::min(other.index, flat[i].index)) + " and " +
          std::to_string(std::max(other.index, flat[i].index)) + " can both start with " +
          quote_byte(uint8_t(JsonSchema::kValueStartBytes[slot])) +
          "; only alternatives of different JSON types, closed objects and const/enum values are supported");
    }
    if (literal) {
      ++num_literals;
      for (const std::string& t : out_.lists_[n.list].texts) {
        literals.texts.push_back(t);
        literal_from.push_back(flat[i].index);
      }
    }
  }

  // Literal alternatives become one literal node.
  uint16_t merged = JsonSchema::kAnyNode;
  if (num_literals > 1) {
    std::vector<size_t> order(literals.texts.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return literals.texts[a] < literals.texts[b]; });
    JsonSchema::TextList sorted;
    for (size_t k = 0; k < order.size(); ++k) {
      const size_t i = order[k];
      if (!sorted.texts.empty() && sorted.texts.back() == literals.texts[i]) {
        // oneOf: a value allowed by two alternatives matches neither.
        const size_t prev = literal_from[order[k - 1]];
        if (one_of && prev != literal_from[i])
          return invalid_argument(kPrefix + std::string("'oneOf' at ") + path + ": alternatives " +
                                  std::to_string(std::min(prev, literal_from[i])) + " and " +
                                  std::to_string(std::max(prev, literal_from[i])) + " both allow " + literals.texts[i] +
                                  "; 'oneOf' alternatives must not overlap");
        continue;
      }
      sorted.texts.push_back(std::move(literals.texts[i]));
    }
    if (sorted.texts.size() > kMaxIndex)
      return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path + " allows " +
                              std::to_string(sorted.texts.size()) + " literal values; at most " +
                              std::to_string(kMaxIndex) + " are supported");
    SABLE_ASSIGN_OR_RETURN(uint16_t list, add_list(std::move(sorted), path));
    SABLE_ASSIGN_OR_RETURN(merged, add_node({.kind = Kind::kLiteral, .list = list}, path));
  }

  std::array<uint16_t, JsonSchema::kValueStarts> table;
  table.fill(JsonSchema::kAnyNode);
  std::vector<uint16_t> nodes;  // the alternatives left after the merge
  for (size_t i = 0; i < flat.size(); ++i) {
    const bool literal = out_.nodes_[flat[i].node].kind == Kind::kLiteral;
    const uint16_t node = literal && num_literals > 1 ? merged : flat[i].node;
    if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
    for (int slot = 0; slot < JsonSchema::kValueStarts; ++slot)
      if (bytes[i][slot]) table[slot] = node;
  }
  // One alternative is the schema itself; that includes {} (kAnyNode),
  // which overlaps every other alternative.
  if (nodes.size() == 1) return nodes[0];
  JsonSchema::Node n{.kind = Kind::kUnion, .first_prop = uint32_t(out_.dispatch_.size())};
  out_.dispatch_.insert(out_.dispatch_.end(), table.begin(), table.end());
  return add_node(n, path);
}

template class JsonSchemaCompiler<nlohmann::json>;
template class JsonSchemaCompiler<nlohmann::ordered_json>;

}  // namespace sable::json_schema_internal
