#include "engine/json_schema.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

namespace sable {

namespace {

constexpr const char* kPrefix = "json_schema: ";
constexpr size_t kMaxIndex = std::numeric_limits<uint16_t>::max();
// Subschemas ($ref, anyOf/oneOf alternatives, properties, items) nested in
// one another: bounds the compiler's recursion, which containers alone (at
// most kMaxDepth) no longer do.
constexpr size_t kMaxNesting = 128;

// The bytes a JSON value can start with, in the order of a union's dispatch
// slots; every other byte has no slot.
constexpr std::string_view kValueStartBytes = "{[\"-0123456789tfn";
constexpr uint8_t kNoSlot = 0xFF;
constexpr std::array<uint8_t, 256> kValueStartSlot = [] {
  std::array<uint8_t, 256> slots{};
  slots.fill(kNoSlot);
  for (size_t i = 0; i < kValueStartBytes.size(); ++i) slots[uint8_t(kValueStartBytes[i])] = uint8_t(i);
  return slots;
}();

// Frame phases. A frame whose value is being matched (by a leaf or a deeper
// frame) is in kValue or kObjKey.
enum Phase : uint8_t {
  kRootStart,
  kRootDone,
  kValue,
  kObjStart,             // after '{'
  kObjKey,               // a key is the leaf
  kObjColon,             // after a key
  kObjAfterColon,
  kObjAfterColonSpace,
  kObjAfterValue,
  kObjAfterComma,
  kObjAfterCommaSpace,
  kArrStart,             // after '['
  kArrAfterValue,
  kArrAfterComma,
  kArrAfterCommaSpace,
};

enum LeafKind : uint8_t { kLeafNone, kLeafString, kLeafKeyString, kLeafNumber, kLeafLiteral, kLeafKey };

enum StringPhase : uint8_t { kStrChars, kStrEscape, kStrHex, kStrPairBackslash, kStrPairU };

enum NumberPhase : uint8_t { kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumESign, kNumExp, kNumNone };

bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

// Code points of valid UTF-8 (continuation bytes do not start one).
size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (uint8_t(c) & 0xC0) != 0x80;
  return n;
}

bool is_annotation(const std::string& k) {
  static const char* const kNames[] = {"title",    "description",     "default",          "examples",   "$schema",
                                       "$id",      "$comment",        "$anchor",          "deprecated", "readOnly",
                                       "writeOnly", "contentEncoding", "contentMediaType", "$defs",      "definitions",
                                       "format"};
  for (const char* n : kNames)
    if (k == n) return true;
  return false;
}

// A byte for an error message.
std::string quote_byte(uint8_t b) {
  if (b >= 0x20 && b < 0x7F) return std::string("'") + char(b) + "'";
  static const char* const kHex = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[b >> 4] + kHex[b & 15];
}

// Keywords this compiler reads (or accepts without enforcing).
bool is_handled(const std::string& k) {
  static const char* const kNames[] = {
      "type",    "properties",       "required",         "additionalProperties", "items",     "minItems",
      "maxItems", "minLength",       "maxLength",        "enum",                 "const",     "minimum",
      "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",           "uniqueItems"};
  for (const char* n : kNames)
    if (k == n) return true;
  return false;
}

}  // namespace

// Compiles one schema document into a JsonSchema's tables. J is
// nlohmann::json or nlohmann::ordered_json.
template <typename J>
class JsonSchemaCompiler {
 public:
  JsonSchemaCompiler(JsonSchema& out, const J& root) : out_(out), root_(root) {
    for (const JsonSchema::Node& n : out_.nodes_) heights_.push_back(height(n));
  }

  // depth: the objects and arrays that enclose this schema.
  Result<uint16_t> compile(const J& s, const std::string& path, int depth) {
    if (stack_.size() >= kMaxNesting)
      return invalid_argument(kPrefix + std::string("the schema at ") + path + " nests subschemas more than " +
                              std::to_string(kMaxNesting) + " deep");
    stack_.push_back(&s);
    Result<uint16_t> r = compile_schema(s, path, depth);
    stack_.pop_back();
    return r;
  }

 private:
  using Kind = JsonSchema::Kind;
  static_assert(kValueStartBytes.size() == JsonSchema::kValueStarts);

  // An alternative of a union, and its position in the schema's list (for errors).
  struct Alt {
    uint16_t node;
    size_t index;
  };

  Result<uint16_t> compile_schema(const J& s, const std::string& path, int depth) {
    if (s.is_boolean()) {
      if (s.template get<bool>()) return JsonSchema::kAnyNode;
      return invalid_argument(kPrefix + std::string("the schema false at ") + path + " matches nothing");
    }
    if (!s.is_object())
      return invalid_argument(kPrefix + std::string("the schema at ") + path + " must be an object or a boolean, got " +
                              s.type_name());
    if (find(s, "$ref")) return compile_ref(s, path, depth);
    if (find(s, "anyOf")) return compile_alternatives(s, "anyOf", path, depth);
    if (find(s, "oneOf")) return compile_alternatives(s, "oneOf", path, depth);
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!is_annotation(it.key()) && !is_handled(it.key())) return unsupported(it.key(), path);
    }
    if (const J* u = find(s, "uniqueItems"); u && !(u->is_boolean() && !u->template get<bool>()))
      return invalid_argument(kPrefix + std::string("'uniqueItems' at ") + path + " is not supported (only false)");

    // The types, each with its position in a list of types (for errors).
    std::vector<std::pair<std::string, size_t>> types;
    if (const J* t = find(s, "type")) {
      static const char* const kTypes[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
      bool known = !t->is_array() || !t->empty();
      const size_t count = t->is_array() ? t->size() : 1;
      for (size_t i = 0; i < count && known; ++i) {
        const J& e = t->is_array() ? (*t)[i] : *t;
        known = false;
        if (!e.is_string()) break;
        std::string type = e.template get<std::string>();
        for (const char* k : kTypes) known = known || type == k;
        bool repeated = false;
        for (const auto& [other, index] : types) repeated = repeated || other == type;
        if (!repeated) types.emplace_back(std::move(type), i);
      }
      if (!known)
        return invalid_argument(kPrefix + std::string("'type' at ") + path + " is " + t->dump() +
                                "; expected one of object, array, string, number, integer, boolean, null, or a "
                                "non-empty list of them");
    }

    if (find(s, "enum") || find(s, "const")) return compile_literals(s, types, path);

    if (types.empty()) {
      if (find(s, "properties") || find(s, "required") || find(s, "additionalProperties"))
        types.emplace_back("object", 0);
      else if (find(s, "items") || find(s, "minItems") || find(s, "maxItems"))
        types.emplace_back("array", 0);
      else if (find(s, "minLength") || find(s, "maxLength"))
        types.emplace_back("string", 0);
      else
        return JsonSchema::kAnyNode;
    }
    if (types.size() == 1) return compile_typed(s, types[0].first, path, depth);
    // A list of types: a union of the schema read as each one.
    std::vector<Alt> alts;
    for (const auto& [type, index] : types) {
      SABLE_ASSIGN_OR_RETURN(uint16_t node, compile_typed(s, type, path, depth));
      alts.push_back({node, index});
    }
    return make_union(std::move(alts), "type", path);
  }

  // The schema read as one type: its keywords for other types do not apply.
  Result<uint16_t> compile_typed(const J& s, const std::string& type, const std::string& path, int depth) {
    if (type == "object") return compile_object(s, path, depth);
    if (type == "array") return compile_array(s, path, depth);
    if (type == "boolean") return add_node({.kind = Kind::kLiteral, .list = JsonSchema::kBooleanList}, path);
    if (type == "null") return add_node({.kind = Kind::kLiteral, .list = JsonSchema::kNullList}, path);
    // minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf: accepted, not enforced.
    if (type == "number") return add_node({.kind = Kind::kNumber}, path);
    if (type == "integer") return add_node({.kind = Kind::kInteger}, path);
    JsonSchema::Node n{.kind = Kind::kString};
    SABLE_RETURN_IF_ERROR(read_count(s, "minLength", path, &n.min));
    SABLE_RETURN_IF_ERROR(read_count(s, "maxLength", path, &n.max));
    if (n.min > n.max)
      return invalid_argument(kPrefix + std::string("'minLength' at ") + path + " exceeds 'maxLength'");
    return add_node(n, path);
  }

  // Only annotations may stand next to $ref, anyOf and oneOf: merging other
  // keywords into the referenced schema or into every alternative is not
  // supported.
  static Status only_annotations_beside(const J& s, const char* keyword, const std::string& path) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() != keyword && !is_annotation(it.key()))
        return invalid_argument(kPrefix + std::string("'") + it.key() + "' next to '" + keyword + "' at " + path +
                                " is not supported; only annotations (title, description, ...) may stand beside '" +
                                keyword + "'");
    }
    return Status::ok();
  }

  // $ref: a JSON pointer into this document, compiled at its first use and
  // shared by the later ones.
  Result<uint16_t> compile_ref(const J& s, const std::string& path, int depth) {
    SABLE_RETURN_IF_ERROR(only_annotations_beside(s, "$ref", path));
    const J& r = *find(s, "$ref");
    if (!r.is_string()) return invalid_argument(kPrefix + std::string("'$ref' at ") + path + " must be a string");
    const std::string ref = r.template get<std::string>();
    const std::string named = kPrefix + std::string("'$ref' ") + ref + " at " + path;
    if (ref != "#" && ref.rfind("#/", 0) != 0)
      return invalid_argument(named +
                              " is not supported: only references into this schema (#/$defs/NAME, "
                              "#/definitions/NAME, a JSON pointer) are");
    const J* target = &root_;
    for (size_t pos = 1; target && pos < ref.size();) {
      const size_t end = std::min(ref.find('/', pos + 1), ref.size());
      std::string token;
      for (size_t i = pos + 1; i < end; ++i) {
        if (ref[i] != '~') {
          token += ref[i];
        } else if (i + 1 < end && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
          token += ref[++i] == '0' ? '~' : '/';
        } else {
          return invalid_argument(named + " is not a valid JSON pointer ('~' not followed by 0 or 1)");
        }
      }
      target = child(*target, token);
      pos = end;
    }
    if (!target) return invalid_argument(named + " does not resolve: no such definition in this schema");
    // A target that encloses this reference would expand forever.
    if (std::find(stack_.begin(), stack_.end(), target) != stack_.end())
      return invalid_argument(kPrefix + std::string("recursive '$ref' ") + ref + " at " + path + " is not supported");
    if (auto it = refs_.find(target); it != refs_.end()) {
      // Compiled at another depth: the containers it nests must still fit here.
      if (depth + heights_[it->second] > JsonSchema::kMaxDepth)
        return invalid_argument(kPrefix + std::string("the schema at ") + path + " (" + ref +
                                ") nests objects and arrays deeper than " + std::to_string(JsonSchema::kMaxDepth) +
                                " levels");
      return it->second;
    }
    SABLE_ASSIGN_OR_RETURN(uint16_t node, compile(*target, path, depth));
    refs_.emplace(target, node);
    return node;
  }

  // The member or array element a JSON pointer token names, if any.
  static const J* child(const J& v, const std::string& token) {
    if (v.is_object()) {
      auto it = v.find(token);
      return it == v.end() ? nullptr : &*it;
    }
    if (!v.is_array() || token.empty() || token.size() > 9 || (token.size() > 1 && token[0] == '0')) return nullptr;
    size_t index = 0;
    for (char c : token) {
      if (!is_digit(uint8_t(c))) return nullptr;
      index = index * 10 + size_t(c - '0');
    }
    return index < v.size() ? &v[index] : nullptr;
  }

  // anyOf / oneOf: a union of alternatives that start with different bytes.
  Result<uint16_t> compile_alternatives(const J& s, const char* keyword, const std::string& path, int depth) {
    SABLE_RETURN_IF_ERROR(only_annotations_beside(s, keyword, path));
    const J& list = *find(s, keyword);
    if (!list.is_array() || list.empty())
      return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path +
                              " must be a non-empty list of schemas");
    std::vector<Alt> alts;
    for (size_t i = 0; i < list.size(); ++i) {
      SABLE_ASSIGN_OR_RETURN(uint16_t node,
                             compile(list[i], path + "." + keyword + "[" + std::to_string(i) + "]", depth));
      alts.push_back({node, i});
    }
    return make_union(std::move(alts), keyword, path);
  }

  // The value-start bytes a node's values can begin with.
  std::bitset<JsonSchema::kValueStarts> first_bytes(uint16_t node) const {
    const JsonSchema::Node& n = out_.nodes_[node];
    std::bitset<JsonSchema::kValueStarts> slots;
    auto add = [&slots](std::string_view bytes) {
      for (char c : bytes) slots.set(kValueStartSlot[uint8_t(c)]);
    };
    switch (n.kind) {
      case Kind::kAny: slots.set(); break;
      case Kind::kObject: add("{"); break;
      case Kind::kArray: add("["); break;
      case Kind::kString: add("\""); break;
      case Kind::kNumber:
      case Kind::kInteger: add("-0123456789"); break;
      case Kind::kLiteral:
        for (const std::string& t : out_.lists_[n.list].texts) add(t.substr(0, 1));  // dump()s: never empty
        break;
      case Kind::kUnion:
        for (int i = 0; i < JsonSchema::kValueStarts; ++i) slots[i] = out_.dispatch_[n.first_prop + i] != JsonSchema::kAnyNode;
        break;
    }
    return slots;
  }

  // The alternatives (flattened, repeats dropped) must start with different
  // bytes, except literals, which are merged into one list; the union node
  // maps each value-start byte to its alternative. One alternative is itself.
  Result<uint16_t> make_union(std::vector<Alt> alts, const char* keyword, const std::string& path) {
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
        return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path + ": alternatives " +
                                std::to_string(std::min(other.index, flat[i].index)) + " and " +
                                std::to_string(std::max(other.index, flat[i].index)) + " can both start with " +
                                quote_byte(uint8_t(kValueStartBytes[slot])) +
                                "; only alternatives of different JSON types are supported");
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
                                    std::to_string(std::max(prev, literal_from[i])) + " both allow " +
                                    literals.texts[i] + "; 'oneOf' alternatives must not overlap");
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

 private:
  static const J* find(const J& s, const char* key) {
    auto it = s.find(key);
    return it == s.end() ? nullptr : &*it;
  }

  static Status unsupported(const std::string& key, const std::string& path) {
    return invalid_argument(kPrefix + std::string("'") + key + "' at " + path + " is not supported");
  }

  // A non-negative integer keyword (an integral float counts); larger than
  // uint32 saturates, which no document reaches anyway.
  static Status read_count(const J& s, const char* key, const std::string& path, uint32_t* out) {
    const J* v = find(s, key);
    if (!v) return Status::ok();
    double d = v->is_number() ? v->template get<double>() : -1;
    if (!v->is_number() || d < 0 || d != std::floor(d))
      return invalid_argument(kPrefix + std::string("'") + key + "' at " + path + " must be a non-negative integer");
    *out = d >= double(UINT32_MAX) ? UINT32_MAX : uint32_t(d);
    return Status::ok();
  }

  Result<uint16_t> add_node(const JsonSchema::Node& n, const std::string& path) {
    if (out_.nodes_.size() > kMaxIndex)
      return invalid_argument(kPrefix + std::string("the schema is too large (at ") + path + ")");
    out_.nodes_.push_back(n);
    heights_.push_back(height(n));
    return uint16_t(out_.nodes_.size() - 1);
  }

  // The objects and arrays a node's values nest (its children are compiled
  // first): where a shared $ref target fits.
  int height(const JsonSchema::Node& n) const {
    int h = 0;
    switch (n.kind) {
      case Kind::kObject:
        if (!n.closed) return 1 + heights_[n.child];
        for (uint32_t i = 0; i < n.num_props; ++i) h = std::max(h, heights_[out_.props_[n.first_prop + i].node]);
        return 1 + h;
      case Kind::kArray:
        return 1 + heights_[n.child];
      case Kind::kUnion:
        for (int i = 0; i < JsonSchema::kValueStarts; ++i) h = std::max(h, heights_[out_.dispatch_[n.first_prop + i]]);
        return h;
      default:
        return 0;
    }
  }

  Result<uint16_t> add_list(JsonSchema::TextList list, const std::string& path) {
    if (out_.lists_.size() > kMaxIndex)
      return invalid_argument(kPrefix + std::string("the schema is too large (at ") + path + ")");
    out_.lists_.push_back(std::move(list));
    return uint16_t(out_.lists_.size() - 1);
  }

  Status check_depth(int depth, const std::string& path) {
    if (depth < JsonSchema::kMaxDepth) return Status::ok();
    return invalid_argument(kPrefix + std::string("the schema at ") + path + " nests objects and arrays deeper than " +
                            std::to_string(JsonSchema::kMaxDepth) + " levels");
  }

  Result<uint16_t> compile_object(const J& s, const std::string& path, int depth) {
    SABLE_RETURN_IF_ERROR(check_depth(depth, path));
    const J* props = find(s, "properties");
    const J* required = find(s, "required");
    const J* additional = find(s, "additionalProperties");
    if (props && !props->is_object())
      return invalid_argument(kPrefix + std::string("'properties' at ") + path + " must be an object");
    std::vector<std::string> required_names;
    if (required) {
      if (!required->is_array())
        return invalid_argument(kPrefix + std::string("'required' at ") + path + " must be a list of strings");
      for (const J& r : *required) {
        if (!r.is_string())
          return invalid_argument(kPrefix + std::string("'required' at ") + path + " must be a list of strings");
        required_names.push_back(r.template get<std::string>());
      }
    }

    JsonSchema::Node n{.kind = JsonSchema::Kind::kObject, .child = JsonSchema::kAnyNode};
    if (!props) {
      // Any keys; the values follow additionalProperties (absent or true: anything).
      if (additional && additional->is_boolean() && !additional->template get<bool>()) {
        n.closed = true;  // nothing but {}
      } else if (additional) {
        SABLE_ASSIGN_OR_RETURN(n.child, compile(*additional, path + ".additionalProperties", depth + 1));
      }
      if (!required_names.empty())
        return invalid_argument(kPrefix + std::string("'required' at ") + path + " names '" + required_names[0] +
                                "', which is not in 'properties'");
      return add_node(n, path);  // closed without properties: no key is ever read, so no key list
    }

    // Extra keys would have to be matched by a schema of their own between
    // ordered properties; only closed objects are supported.
    if (additional && !(additional->is_boolean() && !additional->template get<bool>()))
      return invalid_argument(kPrefix + std::string("'additionalProperties' at ") + path +
                              " is not supported next to 'properties' (only false)");
    n.closed = true;
    std::vector<JsonSchema::Property> local;
    std::vector<bool> is_required;
    JsonSchema::TextList keys;
    for (auto it = props->begin(); it != props->end(); ++it) {
      const std::string& name = it.key();
      for (char c : name) {
        if (c == '"' || c == '\\' || uint8_t(c) < 0x20)
          return invalid_argument(kPrefix + std::string("the property name ") + J(name).dump() + " at " + path +
                                  " has a quote, backslash or control character; not supported");
      }
      if (name.size() + 2 > kMaxIndex)
        return invalid_argument(kPrefix + std::string("a property name at ") + path + " is too long");
      SABLE_ASSIGN_OR_RETURN(uint16_t child, compile(it.value(), path + ".properties." + name, depth + 1));
      local.push_back({.node = child});
      is_required.push_back(std::find(required_names.begin(), required_names.end(), name) != required_names.end());
      keys.texts.push_back('"' + name + '"');
    }
    for (const std::string& r : required_names) {
      if (!props->contains(r))
        return invalid_argument(kPrefix + std::string("'required' at ") + path + " names '" + r +
                                "', which is not in 'properties'");
    }
    if (local.size() > kMaxIndex)
      return invalid_argument(kPrefix + std::string("'properties' at ") + path + " has too many properties");

    // With property i next, keys i..window_end may come (skipping optional
    // ones, never a required one), and '}' only if none is required ahead.
    uint32_t count = uint32_t(local.size());
    uint32_t window_end = count == 0 ? 0 : count - 1;
    bool required_ahead = false;
    for (uint32_t i = count; i-- > 0;) {
      if (is_required[i]) {
        window_end = i;
        required_ahead = true;
      }
      local[i].window_end = window_end;
      local[i].required_ahead = required_ahead;
    }

    // Sort the key texts, remembering each one's property.
    std::vector<uint32_t> order(count);
    for (uint32_t i = 0; i < count; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return keys.texts[a] < keys.texts[b]; });
    JsonSchema::TextList sorted;
    for (uint32_t i : order) {
      sorted.texts.push_back(keys.texts[i]);
      sorted.props.push_back(i);
    }
    SABLE_ASSIGN_OR_RETURN(n.list, add_list(std::move(sorted), path));
    n.first_prop = uint32_t(out_.props_.size());
    n.num_props = count;
    out_.props_.insert(out_.props_.end(), local.begin(), local.end());
    return add_node(n, path);
  }

  Result<uint16_t> compile_array(const J& s, const std::string& path, int depth) {
    SABLE_RETURN_IF_ERROR(check_depth(depth, path));
    JsonSchema::Node n{.kind = JsonSchema::Kind::kArray, .child = JsonSchema::kAnyNode};
    if (const J* items = find(s, "items")) {
      if (items->is_array())
        return invalid_argument(kPrefix + std::string("'items' at ") + path +
                                " as a list (tuple validation) is not supported");
      SABLE_ASSIGN_OR_RETURN(n.child, compile(*items, path + ".items", depth + 1));
    }
    SABLE_RETURN_IF_ERROR(read_count(s, "minItems", path, &n.min));
    SABLE_RETURN_IF_ERROR(read_count(s, "maxItems", path, &n.max));
    if (n.min > n.max) return invalid_argument(kPrefix + std::string("'minItems' at ") + path + " exceeds 'maxItems'");
    return add_node(n, path);
  }

  static bool has_type(const J& v, const std::vector<std::pair<std::string, size_t>>& types) {
    if (types.empty()) return true;
    for (const auto& [type, index] : types)
      if (has_type(v, type)) return true;
    return false;
  }

  static bool has_type(const J& v, const std::string& type) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "number") return v.is_number();
    if (type == "integer") {
      if (v.is_number_integer()) return true;
      if (!v.is_number_float()) return false;
      double d = v.template get<double>();
      return std::isfinite(d) && d == std::floor(d);
    }
    if (type == "boolean") return v.is_boolean();
    return v.is_null();
  }

  // enum / const: the allowed values' compact texts, matched byte for byte.
  Result<uint16_t> compile_literals(const J& s, const std::vector<std::pair<std::string, size_t>>& types,
                                    const std::string& path) {
    const J* en = find(s, "enum");
    const J* cn = find(s, "const");
    const char* keyword = en ? "enum" : "const";
    if (en && (!en->is_array() || en->empty()))
      return invalid_argument(kPrefix + std::string("'enum' at ") + path + " must be a non-empty list");
    std::vector<const J*> values;
    if (cn) {
      if (en && std::find(en->begin(), en->end(), *cn) == en->end())
        return invalid_argument(kPrefix + std::string("'const' at ") + path + " is not one of its 'enum' values");
      values.push_back(cn);
    } else {
      for (const J& v : *en) values.push_back(&v);
    }
    uint32_t min_len = 0, max_len = UINT32_MAX;
    SABLE_RETURN_IF_ERROR(read_count(s, "minLength", path, &min_len));
    SABLE_RETURN_IF_ERROR(read_count(s, "maxLength", path, &max_len));

    JsonSchema::TextList list;
    for (const J* v : values) {
      if (!has_type(*v, types)) continue;
      if (v->is_string()) {
        size_t len = utf8_length(v->template get_ref<const typename J::string_t&>());
        if (len < min_len || len > max_len) continue;
      }
      std::string text = v->dump(-1, ' ', false, J::error_handler_t::replace);
      if (text.size() > kMaxIndex)
        return invalid_argument(kPrefix + std::string("a '") + keyword + "' value at " + path + " is too long");
      list.texts.push_back(std::move(text));
    }
    if (list.texts.empty())
      return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path +
                              " has no value that satisfies 'type', 'minLength' and 'maxLength'");
    std::sort(list.texts.begin(), list.texts.end());
    list.texts.erase(std::unique(list.texts.begin(), list.texts.end()), list.texts.end());
    if (list.texts.size() > kMaxIndex)
      return invalid_argument(kPrefix + std::string("'") + keyword + "' at " + path + " has " +
                              std::to_string(list.texts.size()) + " values; at most " + std::to_string(kMaxIndex) +
                              " are supported");
    SABLE_ASSIGN_OR_RETURN(uint16_t id, add_list(std::move(list), path));
    return add_node({.kind = JsonSchema::Kind::kLiteral, .list = id}, path);
  }

  JsonSchema& out_;
  const J& root_;                         // what a $ref's JSON pointer starts from
  std::vector<int> heights_;              // height() of each node
  std::vector<const J*> stack_;           // the schemas being compiled, outermost first
  std::map<const J*, uint16_t> refs_;     // $ref targets compiled, and their nodes
};

JsonSchema::JsonSchema() {
  nodes_.push_back({.kind = Kind::kAny});                                     // kAnyNode
  nodes_.push_back({.kind = Kind::kObject, .child = kAnyNode});               // kAnyObjectNode
  nodes_.push_back({.kind = Kind::kArray, .child = kAnyNode});                // kAnyArrayNode
  lists_.push_back({.texts = {"false", "null", "true"}});                     // kKeywordList
  lists_.push_back({.texts = {"false", "true"}});                             // kBooleanList
  lists_.push_back({.texts = {"null"}});                                      // kNullList
}

std::shared_ptr<const JsonSchema> JsonSchema::any_object() {
  static const std::shared_ptr<const JsonSchema> schema = [] {
    std::shared_ptr<JsonSchema> s(new JsonSchema());
    s->root_ = kAnyObjectNode;
    return std::shared_ptr<const JsonSchema>(std::move(s));
  }();
  return schema;
}

namespace {

template <typename J>
Result<std::shared_ptr<const JsonSchema>> compile_schema(std::shared_ptr<JsonSchema> out, const J& schema,
                                                         uint16_t* root) {
  JsonSchemaCompiler<J> compiler(*out, schema);
  SABLE_ASSIGN_OR_RETURN(*root, compiler.compile(schema, "$", 0));
  return std::shared_ptr<const JsonSchema>(std::move(out));
}

}  // namespace

Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile(const nlohmann::ordered_json& schema) {
  std::shared_ptr<JsonSchema> out(new JsonSchema());
  JsonSchema* raw = out.get();
  return compile_schema(std::move(out), schema, &raw->root_);
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile(const nlohmann::json& schema) {
  std::shared_ptr<JsonSchema> out(new JsonSchema());
  JsonSchema* raw = out.get();
  return compile_schema(std::move(out), schema, &raw->root_);
}

// ---------------------------------------------------------------------------
// Matching

JsonMatcher::JsonMatcher(const JsonSchema& schema) : schema_(&schema) {
  frames_[0] = {.node = schema.root_, .phase = kRootStart};
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
  return !(n.kind == JsonSchema::Kind::kString && (n.min > 0 || n.max != UINT32_MAX));
}

void JsonMatcher::state_key(std::string& out) const {
  out.clear();
  auto put = [&out](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(schema_);
  put(leaf_.kind), put(leaf_.phase), put(leaf_.utf8_need), put(leaf_.utf8_lo), put(leaf_.utf8_hi);
  put(leaf_.hex_digits), put(leaf_.low_surrogate), put(leaf_.integer), put(leaf_.ref), put(leaf_.hex);
  put(leaf_.lo), put(leaf_.hi), put(leaf_.pos), put(leaf_.count);
  put(depth_);
  for (int i = 0; i <= depth_; ++i) put(frames_[i].node), put(frames_[i].phase), put(frames_[i].count);
}

bool JsonMatcher::complete() const {
  if (depth_ != 0) return false;
  if (frames_[0].phase == kRootDone) return true;
  // A top-level number or literal that could end here.
  if (leaf_.kind == kLeafNumber) {
    return leaf_.phase == kNumZero || leaf_.phase == kNumInt || leaf_.phase == kNumFrac || leaf_.phase == kNumExp;
  }
  return leaf_.kind == kLeafLiteral && literal_exact();
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
      return begin_value(n.closed ? schema_->props_[n.first_prop + f.count - 1].node : n.child, b);
    case kObjAfterValue:
      if (b == '}') return close_object(f);
      if (b != ',' || (n.closed && f.count >= n.num_props)) return false;
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
    case kLeafLiteral:
      if (narrow(b)) return LeafStep::kTaken;
      // Self-delimiting texts (strings, true, ...) end here; a number ends
      // when the next byte cannot continue any value ("1" then ',').
      if (!literal_exact()) return LeafStep::kRejected;
      leaf_.kind = kLeafNone;
      finish_value();
      return LeafStep::kEnded;
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
      if (b == '\\') {
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
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          l.phase = kStrChars;
          return true;
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
      l.hex = uint16_t(l.hex * 16 + d);
      ++l.hex_digits;
      if (l.hex_digits == 2) {
        // The first two digits tell a surrogate: a low one only completes a
        // high one, and a high one must be followed by a low one.
        bool low = l.hex >= 0xDC && l.hex <= 0xDF;
        if (low != l.low_surrogate) return false;
      } else if (l.hex_digits == 4) {
        bool high = !l.low_surrogate && l.hex >= 0xD800 && l.hex <= 0xDBFF;
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
  const uint16_t list = leaf_.kind == kLeafKey ? schema_->nodes_[leaf_.ref].list : leaf_.ref;
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
  const uint16_t list = leaf_.kind == kLeafKey ? schema_->nodes_[leaf_.ref].list : leaf_.ref;
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
    case Kind::kUnion: {
      // The alternatives start with different bytes: this one picks the
      // alternative (never a union), which the value then follows alone.
      const uint8_t slot = kValueStartSlot[b];
      if (slot == kNoSlot) return false;
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
  const bool object = schema_->nodes_[node].kind == JsonSchema::Kind::kObject;
  frames_[++depth_] = {.node = node, .phase = uint8_t(object ? kObjStart : kArrStart)};
  return true;
}

bool JsonMatcher::close_object(const Frame& f) {
  const JsonSchema::Node& n = schema_->nodes_[f.node];
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
