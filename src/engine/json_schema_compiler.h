// The JSON Schema compiler behind JsonSchema::compile (json_schema.h): the
// schema keywords here, anyOf / oneOf and the union nodes they make in
// json_schema_union.cpp. Internal to the engine (json_schema.cpp and
// json_schema_union.cpp include it); the class is instantiated once, in
// json_schema_union.cpp, for nlohmann::json and nlohmann::ordered_json.
#pragma once

#include <algorithm>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/json_schema.h"
#include "engine/json_schema_formats.h"
#include "engine/regex_dfa.h"

namespace sable {

namespace json_schema_internal {

inline constexpr const char* kPrefix = "json_schema: ";
inline constexpr size_t kMaxIndex = std::numeric_limits<uint16_t>::max();
// Subschemas ($ref, anyOf/oneOf alternatives, properties, items) nested in
// one another: bounds the compiler's recursion, which containers alone (at
// most kMaxDepth) no longer do.
inline constexpr size_t kMaxNesting = 128;

inline bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

// Code points of valid UTF-8 (continuation bytes do not start one).
inline size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (uint8_t(c) & 0xC0) != 0x80;
  return n;
}

inline bool is_annotation(const std::string& k) {
  static const char* const kNames[] = {"title",     "description",     "default",          "examples",   "$schema",
                                       "$id",       "$comment",        "$anchor",          "deprecated", "readOnly",
                                       "writeOnly", "contentEncoding", "contentMediaType", "$defs",      "definitions",
                                       "format",    "discriminator"};
  for (const char* n : kNames)
    if (k == n) return true;
  return false;
}

// A byte for an error message.
inline std::string quote_byte(uint8_t b) {
  if (b >= 0x20 && b < 0x7F) return std::string("'") + char(b) + "'";
  static const char* const kHex = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[b >> 4] + kHex[b & 15];
}

// Keywords this compiler reads (or accepts without enforcing).
inline bool is_handled(const std::string& k) {
  // clang-format off
  static const char* const kNames[] = {
      "type",    "properties",       "required",         "additionalProperties", "items",     "minItems",
      "maxItems", "minLength",       "maxLength",        "enum",                 "const",     "minimum",
      "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",           "uniqueItems", "pattern"};
  // clang-format on
  for (const char* n : kNames)
    if (k == n) return true;
  return false;
}

// Compiles one schema document into a JsonSchema's tables. J is
// nlohmann::json or nlohmann::ordered_json.
template <typename J>
class JsonSchemaCompiler {
 public:
  JsonSchemaCompiler(JsonSchema& out, const J& root) : out_(out), root_(root) {
    for (const JsonSchema::Node& n : out_.nodes_) {
      heights_.push_back(height(n));
      union_heights_.push_back(union_height(n));
    }
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
    // format: the enforced ones (json_schema_formats.h) become a pattern.
    const char* format_regex = nullptr;
    if (const J* f = find(s, "format"); f && f->is_string())
      format_regex = json_schema_format_regex(f->template get<std::string>());
    const J* p = find(s, "pattern");
    if (p && format_regex)
      return invalid_argument(kPrefix + std::string("'pattern' next to 'format' at ") + path +
                              " is not supported; give one of them");
    if (p || format_regex) {
      // The whole string (its decoded characters) matches, as xgrammar and
      // outlines read it; JSON Schema's unanchored search would let the
      // model pad the text around the match.
      if (p && !p->is_string())
        return invalid_argument(kPrefix + std::string("'pattern' at ") + path + " must be a string");
      auto dfa = RegexDfa::compile(p ? p->template get<std::string>() : std::string(format_regex));
      if (!dfa.is_ok())
        return invalid_argument(kPrefix + std::string(p ? "'pattern'" : "'format'") + " at " + path + ": " +
                                dfa.status().message());
      if (out_.patterns_.size() >= kMaxIndex)
        return invalid_argument(kPrefix + std::string("too many patterns (at ") + path + ")");
      out_.patterns_.push_back(std::make_shared<const RegexDfa>(std::move(*dfa)));
      n.list = uint16_t(out_.patterns_.size());
    }
    return add_node(n, path);
  }

  // Only annotations may stand next to $ref: merging other keywords into the
  // referenced schema is not supported.
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

  // anyOf / oneOf and the unions they make: json_schema_union.cpp.
  // A union of alternatives; keywords beside it apply to each.
  Result<uint16_t> compile_alternatives(const J& s, const char* keyword, const std::string& path, int depth);
  // The value-start bytes a node's values can begin with.
  std::bitset<JsonSchema::kValueStarts> first_bytes(uint16_t node) const;
  // Closed objects among the alternatives merged into one object union.
  Status merge_objects(std::vector<Alt>& flat, const char* keyword, const std::string& path);
  // The union node of the alternatives (one alternative: itself).
  Result<uint16_t> make_union(std::vector<Alt> alts, const char* keyword, const std::string& path);

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
    union_heights_.push_back(union_height(n));
    return uint16_t(out_.nodes_.size() - 1);
  }

  // Object unions nested in a node's values (each keeps a matcher state).
  int union_height(const JsonSchema::Node& n) const {
    int h = 0;
    switch (n.kind) {
      case Kind::kObject:
        if (!n.closed) return union_heights_[n.child];
        for (uint32_t i = 0; i < n.num_props; ++i) h = std::max(h, union_heights_[out_.props_[n.first_prop + i].node]);
        return h;
      case Kind::kArray:
        return union_heights_[n.child];
      case Kind::kUnion:
        for (int i = 0; i < JsonSchema::kValueStarts; ++i)
          h = std::max(h, union_heights_[out_.dispatch_[n.first_prop + i]]);
        return h;
      case Kind::kObjectUnion:
        for (uint32_t i = 0; i < n.num_props; ++i) h = std::max(h, union_heights_[out_.union_alts_[n.first_prop + i]]);
        return 1 + h;
      default:
        return 0;
    }
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
      case Kind::kObjectUnion:
        for (uint32_t i = 0; i < n.num_props; ++i) h = std::max(h, heights_[out_.union_alts_[n.first_prop + i]]);
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
  const J& root_;                      // what a $ref's JSON pointer starts from
  std::vector<int> heights_;           // height() of each node
  std::vector<int> union_heights_;     // union_height() of each node
  std::vector<const J*> stack_;        // the schemas being compiled, outermost first
  std::map<const J*, uint16_t> refs_;  // $ref targets compiled, and their nodes
};

extern template class JsonSchemaCompiler<nlohmann::json>;
extern template class JsonSchemaCompiler<nlohmann::ordered_json>;

}  // namespace json_schema_internal
}  // namespace sable
