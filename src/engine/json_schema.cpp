#include "engine/json_schema.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

namespace sable {

namespace {

constexpr const char* kPrefix = "json_schema: ";
constexpr size_t kMaxIndex = std::numeric_limits<uint16_t>::max();

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
  explicit JsonSchemaCompiler(JsonSchema& out) : out_(out) {}

  // depth: the objects and arrays that enclose this schema.
  Result<uint16_t> compile(const J& s, const std::string& path, int depth) {
    using Kind = JsonSchema::Kind;
    if (s.is_boolean()) {
      if (s.template get<bool>()) return JsonSchema::kAnyNode;
      return invalid_argument(kPrefix + std::string("the schema false at ") + path + " matches nothing");
    }
    if (!s.is_object())
      return invalid_argument(kPrefix + std::string("the schema at ") + path + " must be an object or a boolean, got " +
                              s.type_name());
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!is_annotation(it.key()) && !is_handled(it.key())) return unsupported(it.key(), path);
    }
    if (const J* u = find(s, "uniqueItems"); u && !(u->is_boolean() && !u->template get<bool>()))
      return invalid_argument(kPrefix + std::string("'uniqueItems' at ") + path + " is not supported (only false)");

    std::string type;
    if (const J* t = find(s, "type")) {
      if (t->is_array())
        return invalid_argument(kPrefix + std::string("'type' at ") + path +
                                ": a list of types is not supported; give one type");
      static const char* const kTypes[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
      bool known = false;
      if (t->is_string()) {
        type = t->template get<std::string>();
        for (const char* k : kTypes) known = known || type == k;
      }
      if (!known)
        return invalid_argument(kPrefix + std::string("'type' at ") + path + " is " + t->dump() +
                                "; expected one of object, array, string, number, integer, boolean, null");
    }

    if (find(s, "enum") || find(s, "const")) return compile_literals(s, type, path);

    if (type.empty()) {
      if (find(s, "properties") || find(s, "required") || find(s, "additionalProperties"))
        type = "object";
      else if (find(s, "items") || find(s, "minItems") || find(s, "maxItems"))
        type = "array";
      else if (find(s, "minLength") || find(s, "maxLength"))
        type = "string";
      else
        return JsonSchema::kAnyNode;
    }
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
    return uint16_t(out_.nodes_.size() - 1);
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

  static bool has_type(const J& v, const std::string& type) {
    if (type.empty()) return true;
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
  Result<uint16_t> compile_literals(const J& s, const std::string& type, const std::string& path) {
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
      if (!has_type(*v, type)) continue;
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
  JsonSchemaCompiler<J> compiler(*out);
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
