// Object unions in structured output: anyOf/oneOf alternatives that are
// several closed objects (Pydantic's Union[A, B] of models, discriminated by
// a const/enum property or not), which all start with '{' and so cannot be
// told apart by a value's first byte like the other unions (json_schema.h).
//
// The matcher follows every alternative at once: each keeps its own position
// in its property order, and an alternative drops out when a key it cannot
// take next arrives, or when a property's const/enum value is not one it
// allows. So a document is accepted exactly when some alternative accepts it
// (oneOf's "exactly one" is not checked: a document two alternatives accept
// passes, as with anyOf). Limits, each refused with an error naming the
// union: at most 32 objects; a property the alternatives share must follow the
// same schema in each, or differ only in its const/enum values (the
// discriminator), or come after a required const/enum property that tells
// apart the alternatives whose schemas for it differ (a tagged union:
// {"name": "a", "parameters": A} | {"name": "b", "parameters": B}, what
// tool_choice "required" asks for); object unions nest at most 4 deep.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/json_schema.h"

namespace sable {

// Adds an object union of `objects` (closed kObject nodes or kObjectUnion
// nodes, which are flattened) to the schema's tables and returns its node.
// Nodes and lists are added through the callbacks (the compiler keeps
// per-node data beside them); union_height(node) is the object-union nesting
// of a node's values. `where` starts every error ("json_schema: 'anyOf' at $").
struct ObjectUnionBuilder {
  static Result<uint16_t> build(JsonSchema& s, const std::vector<uint16_t>& objects, const std::string& where,
                                const std::function<Result<uint16_t>(const JsonSchema::Node&)>& add_node,
                                const std::function<Result<uint16_t>(JsonSchema::TextList)>& add_list,
                                const std::function<int(uint16_t)>& union_height);
  // Whether two nodes match the same values: a schema written out twice
  // compiles to two nodes (a $ref compiles once and shares its node).
  static bool same(const JsonSchema& s, uint16_t x, uint16_t y, int depth = 0);
  // Whether no document reaches property pa of object a and property pb of
  // object b with both alternatives live (a required const/enum property
  // before both, with no value in common).
  static bool told_apart(const JsonSchema& s, uint16_t a, uint16_t b, uint8_t pa, uint8_t pb);
};

}  // namespace sable
