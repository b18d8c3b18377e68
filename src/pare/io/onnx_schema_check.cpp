// Attribute kinds and required attributes from onnx::OpSchemaRegistry, resolved at the model's opset.
// Lenient where pare's ops are: an int where a float is expected is accepted (OpContext::attr_float reads it).
#include "pare/io/onnx_schema_check.h"

#include <onnx/defs/schema.h>

#include <optional>

namespace pare::io {
namespace {

using K = ir::Attribute::Kind;

std::optional<K> kind_of(onnx::AttributeProto::AttributeType t) {
  switch (t) {
    case onnx::AttributeProto::INT:
      return K::Int;
    case onnx::AttributeProto::FLOAT:
      return K::Float;
    case onnx::AttributeProto::STRING:
      return K::String;
    case onnx::AttributeProto::TENSOR:
      return K::Tensor;
    case onnx::AttributeProto::GRAPH:
      return K::Graph;
    case onnx::AttributeProto::INTS:
      return K::Ints;
    case onnx::AttributeProto::FLOATS:
      return K::Floats;
    case onnx::AttributeProto::STRINGS:
      return K::Strings;
    default:
      return std::nullopt;  // sparse tensors, type protos, lists of graphs/tensors: pare does not import them
  }
}

}  // namespace

std::string AttributeProblem::text() const {
  const std::string where = "node '" + node + "' (" + op_type + "): ";
  if (got == "missing") return where + "required attribute '" + attribute + "' (" + expected + ") is missing";
  return where + "attribute '" + attribute + "' is of kind " + got + ", expected " + expected;
}

std::vector<AttributeProblem> attribute_problems(const ir::Graph& graph) {
  std::vector<AttributeProblem> out;
  for (const auto& n : graph.nodes) {
    const std::string domain = n.domain.empty() ? std::string(onnx::ONNX_DOMAIN) : n.domain;
    const int64_t opset = graph.opset(n.domain);
    if (opset < 1 || opset > INT32_MAX) continue;
    const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(n.op_type, static_cast<int>(opset), domain);
    if (!schema) continue;
    for (const auto& [name, spec] : schema->attributes()) {
      const std::optional<K> want = kind_of(spec.type);
      const ir::Attribute* a = n.attr(name);
      if (!a && spec.required)
        out.push_back({n.name, n.op_type, name, want ? ir::attribute_kind_name(*want) : "a value", "missing"});
      if (!a || !want || *want == a->kind) continue;
      if (*want == K::Float && a->kind == K::Int) continue;
      out.push_back({n.name, n.op_type, name, ir::attribute_kind_name(*want), ir::attribute_kind_name(a->kind)});
    }
  }
  return out;
}

}  // namespace pare::io
