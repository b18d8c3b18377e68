// GraphBuilder: writes IR graphs from C++ (model zoo, Llama blocks, tests). Names are generated
// unless given; every add() returns the names of the node's outputs so calls can be chained.
#pragma once
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::ir {

class GraphBuilder {
 public:
  explicit GraphBuilder(std::string graph_name, int64_t opset = 17);

  // A runtime input; -1 in `shape` is a dynamic dimension (named "N" for the first one).
  std::string input(const std::string& name, DType dtype, const std::vector<int64_t>& shape);
  // A named initializer (weights, constants).
  std::string initializer(const std::string& name, at::Tensor value);
  // An anonymous constant (a Constant node, so never trained), e.g. a shape for Reshape or a Clip bound.
  std::string constant(at::Tensor value, const std::string& hint = "const");
  std::string constant_ints(const std::vector<int64_t>& values, const std::string& hint = "shape");

  // Adds a node; returns its output names. `name` empty: generated from op_type.
  std::vector<std::string> add(const std::string& op_type, const std::vector<std::string>& inputs,
                               const Attributes& attrs = {}, int n_outputs = 1, const std::string& name = "");
  // Single-output shorthand.
  std::string add1(const std::string& op_type, const std::vector<std::string>& inputs, const Attributes& attrs = {},
                   const std::string& name = "");

  // Marks `value` as a graph output, renaming it to `as` when given (the producer writes `as`).
  void output(const std::string& value, const std::string& as = "", DType dtype = DType::Float);

  Graph& graph() { return g_; }
  // Topologically sorted graph; the builder is left empty.
  Graph finish();

 private:
  std::string fresh(const std::string& prefix);
  Graph g_;
  int64_t counter_ = 0;
};

}  // namespace pare::ir
