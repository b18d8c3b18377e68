// ir::Graph: nodes over named values, initializers as at::Tensor. Values are referred to by name (as in
// ONNX); producers and consumers are derived, never stored, so a pass cannot leave them stale.
#pragma once
#include <ATen/ATen.h>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pare/ir/attribute.h"
#include "pare/ir/dtype.h"
#include "pare/tensor_text.h"

namespace pare::ir {

// One dimension of a declared shape: a known size, or a symbol ("N") / unknown (-1, empty).
struct Dim {
  int64_t value = -1;
  std::string param;
  bool known() const { return value >= 0; }
};

// Declared type of a graph input, output or intermediate value.
struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::optional<std::vector<Dim>> shape;  // nullopt: rank unknown
  std::string doc;
};

std::string shape_string(const std::optional<std::vector<Dim>>& shape);  // "[N, 3, 224, 224]"
using pare::shape_string;                                                // "[1, 3, 224, 224]"

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                // "" is the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  Attributes attrs;
  std::string doc;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  const Attribute* attr(const std::string& key) const;
};

using NodeId = size_t;  // index into Graph::nodes; invalidated by any pass that adds or removes nodes

class Graph {
 public:
  std::string name;
  std::vector<ValueInfo> inputs;  // runtime inputs only (initializers are not listed here)
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;  // optional types of intermediate values
  std::vector<Node> nodes;            // topological order (toposort() restores it)
  std::map<std::string, at::Tensor> initializers;
  std::map<std::string, int64_t> opsets{{"", 17}};  // domain -> opset version
  int64_t ir_version = 8;
  std::string producer_name = "pare";
  std::string producer_version;
  std::string doc;
  std::map<std::string, std::string> metadata;

  // Queries (linear scans: graphs are small next to the tensors they hold).
  std::optional<NodeId> producer(const std::string& value) const;
  std::vector<NodeId> consumers(const std::string& value) const;
  bool is_initializer(const std::string& value) const { return initializers.count(value) != 0; }
  bool is_input(const std::string& value) const;
  bool is_output(const std::string& value) const;
  const ValueInfo* find_value_info(const std::string& value) const;  // inputs, outputs, value_info
  std::optional<NodeId> find_node(const std::string& node_name) const;
  int64_t opset(const std::string& domain = "") const;

  // Every value name a node reads that nothing defines (no input, initializer or producer).
  std::vector<std::string> undefined_values() const;

  // Orders nodes so that every producer precedes its consumers; throws Error on a cycle.
  void toposort();
  // Deep copy: initializers and tensor attributes are cloned, so the copy can be edited freely.
  Graph clone() const;
  // Replaces node `id` by `replacement` (possibly empty), then restores topological order.
  void replace_node(NodeId id, std::vector<Node> replacement);
  // Removes nodes whose outputs nobody reads and initializers nobody uses.
  void remove_dead();
  // A fresh value or node name starting with `prefix` that the graph does not use yet.
  std::string unique_name(const std::string& prefix) const;
  // The initializer node `node_name` reads at input `input`, made its own first: when other nodes or the graph
  // outputs read it too (a tied embedding), the node is rewired to a copy named "<weight>__<node>", so that
  // replacing the returned initializer changes what this node reads and nothing else.
  std::string own_initializer(const std::string& node_name, int input);

  // The sub-graph computing `outputs` from `inputs`: every node on a path from the given inputs
  // (or from initializers/constants) to the outputs. Throws Error if an output needs a graph input
  // that is not among `inputs`. Used for block-wise reconstruction.
  Graph extract(const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) const;

  int64_t parameter_count() const;  // elements over all floating-point initializers
  int64_t parameter_bytes() const;  // bytes over all initializers
};

}  // namespace pare::ir
