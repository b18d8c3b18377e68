// Checks a freshly imported graph's node attributes against the ONNX operator schemas (libonnx), so that a
// malformed model fails at load time naming the node, not later inside an op.
#pragma once
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::io {

struct AttributeProblem {
  std::string node;  // the node's name
  std::string op_type;
  std::string attribute;
  std::string expected;  // the schema's kind, e.g. "int"
  std::string got;       // the node's kind, or "missing" for an absent required attribute
  // "node 'sm0' (Softmax): attribute 'axis' is of kind string, expected int"
  std::string text() const;
};

// Every attribute whose kind differs from its schema, and every required attribute that is missing.
// Nodes of ops without a schema (custom domains, unknown ops) are skipped; the executor reports those.
std::vector<AttributeProblem> attribute_problems(const ir::Graph& graph);

}  // namespace pare::io
