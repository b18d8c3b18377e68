// GraphBuilder implementation: unique naming and output renaming.
#include "pare/ir/graph_builder.h"

#include "pare/error.h"

namespace pare::ir {

GraphBuilder::GraphBuilder(std::string graph_name, int64_t opset) {
  g_.name = std::move(graph_name);
  g_.opsets = {{"", opset}};
}

std::string GraphBuilder::fresh(const std::string& prefix) {
  // Counter-based names are unique as long as users do not pick names of the form prefix_<n>.
  return prefix + "_" + std::to_string(counter_++);
}

std::string GraphBuilder::input(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  std::vector<Dim> dims;
  bool first_dynamic = true;
  for (int64_t d : shape) {
    if (d >= 0) {
      dims.push_back({d, ""});
    } else {
      dims.push_back({-1, first_dynamic ? "N" : ""});
      first_dynamic = false;
    }
  }
  g_.inputs.push_back({name, dtype, dims, ""});
  return name;
}

std::string GraphBuilder::initializer(const std::string& name, at::Tensor value) {
  PARE_ASSERT(!g_.initializers.count(name), "initializer name used twice");
  g_.initializers[name] = std::move(value);
  return name;
}

std::string GraphBuilder::constant(at::Tensor value, const std::string& hint) {
  // A Constant node, not an initializer: ONNX's way to say "not a parameter", so training leaves it alone.
  return add1("Constant", {}, {{"value", Attribute(std::move(value))}}, fresh(hint));
}

std::string GraphBuilder::constant_ints(const std::vector<int64_t>& values, const std::string& hint) {
  return constant(at::tensor(values, at::kLong), hint);
}

std::vector<std::string> GraphBuilder::add(const std::string& op_type, const std::vector<std::string>& inputs,
                                           const Attributes& attrs, int n_outputs, const std::string& name) {
  Node n;
  n.name = name.empty() ? fresh(op_type) : name;
  n.op_type = op_type;
  n.inputs = inputs;
  n.attrs = attrs;
  for (int k = 0; k < n_outputs; ++k)
    n.outputs.push_back(n.name + (n_outputs == 1 ? ":out" : ":out" + std::to_string(k)));
  g_.nodes.push_back(n);
  return n.outputs;
}

std::string GraphBuilder::add1(const std::string& op_type, const std::vector<std::string>& inputs,
                               const Attributes& attrs, const std::string& name) {
  return add(op_type, inputs, attrs, 1, name)[0];
}

void GraphBuilder::output(const std::string& value, const std::string& as, DType dtype) {
  std::string final_name = value;
  if (!as.empty() && as != value) {
    auto p = g_.producer(value);
    if (!p) throw Error("builder: cannot rename '" + value + "': it is not produced by a node").tensor(value);
    for (auto& o : g_.nodes[*p].outputs)
      if (o == value) o = as;
    for (auto& n : g_.nodes)
      for (auto& in : n.inputs)
        if (in == value) in = as;
    final_name = as;
  }
  g_.outputs.push_back({final_name, dtype, std::nullopt, ""});
}

Graph GraphBuilder::finish() {
  g_.toposort();
  Graph out = std::move(g_);
  g_ = Graph{};
  return out;
}

}  // namespace pare::ir
