#include "pare/quant/pipe_ensemble.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "pare/error.h"

namespace pare::quant {

namespace {

// Ops after the split that distribute over a sum of members (exactly, or as σ(a + b) ≈ σ(a) + σ(b)).
bool distributes(const std::string& op) {
  static const std::set<std::string> ok{"Conv",
                                        "ConvTranspose",
                                        "Gemm",
                                        "MatMul",
                                        "Relu",
                                        "Clip",
                                        "LeakyRelu",
                                        "Add",
                                        "MaxPool",
                                        "AveragePool",
                                        "GlobalAveragePool",
                                        "GlobalMaxPool",
                                        "Flatten",
                                        "Reshape",
                                        "Squeeze",
                                        "Unsqueeze",
                                        "Transpose",
                                        "Identity",
                                        "Dropout",
                                        "Concat"};
  return ok.count(op) > 0;
}

// `q` with only its first `orders` orders.
QuantizedTensor truncated(const QuantizedTensor& q, size_t orders) {
  QuantizedTensor t = q;
  t.terms.resize(std::min(t.terms.size(), orders - 1));
  return t;
}

// Orders [from, to) of `q` (1-based, order 1 being q itself) as one tensor: the first of them over all rows
// (rows it does not expand get code 0 and scale 0), the rest as its terms.
QuantizedTensor orders_of(const QuantizedTensor& q, size_t from, size_t to) {
  QuantizedTensor head = q.terms.at(from - 2);
  if (head.rows.defined() && head.granularity.kind == Granularity::Kind::Tensor)
    throw Error("a PIPE member cannot start with a sparse term of per-tensor scale")
        .hint("use --granularity channel (or group:G), or --sparsity 1");
  if (head.rows.defined()) {
    QuantizedTensor dense = head;
    dense.codes =
        at::zeros({q.out_channels(), q.reduction()}, head.codes.options()).index_copy_(0, head.rows, head.codes);
    dense.scales = at::zeros({q.out_channels(), head.scales.size(1)}, head.scales.options())
                       .index_copy_(0, head.rows, head.scales);
    if (head.zero_points.defined())
      dense.zero_points = at::zeros({q.out_channels(), head.zero_points.size(1)}, head.zero_points.options())
                              .index_copy_(0, head.rows, head.zero_points);
    dense.rows = at::Tensor();
    head = dense;
  }
  head.shape = q.shape;
  head.out_axis = q.out_axis;
  head.terms.clear();
  for (size_t k = from + 1; k < to; ++k) head.terms.push_back(q.terms.at(k - 2));
  return head;
}

}  // namespace

PipeEnsemble build_pipe_ensemble(const ir::Graph& g, const std::vector<QuantizedLayer>& layers, const Recipe& r) {
  const int m = r.ensemble;
  if (m < 2) throw Error("a PIPE ensemble needs at least 2 members").got(std::to_string(m));
  PipeEnsemble e;
  e.graph = g.clone();
  e.layers = layers;
  // The split: the first quantized layer in graph order.
  std::map<std::string, size_t> layer_of;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].plan.quantize) layer_of[layers[i].plan.layer.node] = i;
  const ir::Node* split = nullptr;
  for (const auto& n : g.nodes)
    if (layer_of.count(n.name)) {
      split = &n;
      break;
    }
  if (!split) {
    e.note = "no quantized layer to split";
    return e;
  }
  const QuantizedLayer& first = layers[layer_of[split->name]];
  const size_t orders = first.weight.terms.size() + 1;
  if (orders < static_cast<size_t>(m))
    throw Error(fmt::format("a PIPE ensemble of {} members needs at least {} expansion orders", m, m))
        .node(split->name)
        .got(std::to_string(orders));
  // Everything downstream of the split, in graph order.
  std::set<std::string> down_values(split->outputs.begin(), split->outputs.end());
  std::vector<size_t> down{static_cast<size_t>(split - g.nodes.data())};
  for (size_t i = down.front() + 1; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    bool reads = false;
    for (const auto& in : n.inputs) reads |= down_values.count(in) > 0;
    if (!reads) continue;
    if (!distributes(n.op_type)) {
      e.note = fmt::format(
          "PIPE does not apply: {} '{}' after the split does not distribute over a sum of members; "
          "kept the per-layer summed expansion",
          n.op_type, n.name);
      return e;
    }
    down.push_back(i);
    down_values.insert(n.outputs.begin(), n.outputs.end());
  }
  for (const auto& o : g.outputs)
    if (!down_values.count(o.name)) {
      e.note = "PIPE does not apply: output '" + o.name + "' does not depend on the first layer";
      return e;
    }

  // Member 1: the original nodes, with the first order only at the split ("first") or everywhere.
  for (auto& l : e.layers) {
    if (!l.plan.quantize) continue;
    if (l.plan.layer.node == split->name || r.pipe_split == "first") l.weight = truncated(l.weight, 1);
  }
  const std::vector<QuantizedLayer> member1 = e.layers;
  // Orders 2..K of the split layer in M - 1 contiguous groups.
  const size_t residual = orders - 1, groups = static_cast<size_t>(m - 1);
  std::map<std::string, std::vector<std::string>> summands;  // graph output -> member values
  for (const auto& o : g.outputs) summands[o.name].push_back(o.name + "__pipe1");
  size_t from = 2;
  for (size_t k = 2; k <= static_cast<size_t>(m); ++k) {
    const size_t count = residual / groups + (k - 2 < residual % groups ? 1 : 0);
    const size_t to = from + count;
    const std::string suffix = "__pipe" + std::to_string(k);
    auto rename = [&](const std::string& v) { return down_values.count(v) ? v + suffix : v; };
    for (size_t idx : down) {
      ir::Node n = g.nodes[idx];
      n.name += suffix;
      for (auto& in : n.inputs) in = rename(in);
      for (auto& out : n.outputs) out = rename(out);
      // No bias in members after the first.
      if ((n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "ConvTranspose") && n.inputs.size() > 2)
        n.inputs.resize(2);
      if (n.op_type == "Add" && n.inputs.size() == 2 &&
          (g.is_initializer(n.inputs[0]) || g.is_initializer(n.inputs[1]))) {
        n.op_type = "Identity";
        n.inputs = {g.is_initializer(n.inputs[0]) ? n.inputs[1] : n.inputs[0]};
      }
      auto it = layer_of.find(g.nodes[idx].name);
      if (it != layer_of.end()) {
        QuantizedLayer l = member1[it->second];
        l.plan.layer.node = n.name;
        l.expands = layers[it->second].plan.layer.weight;
        if (idx == down.front()) {
          // The split layer of this member: its own weight, holding orders [from, to).
          l.weight = orders_of(layers[it->second].weight, from, to);
          l.plan.layer.weight += suffix;
          n.inputs[l.plan.layer.weight_input] = l.plan.layer.weight;
          e.graph.initializers[l.plan.layer.weight] = g.initializers.at(layers[it->second].plan.layer.weight).clone();
        }
        e.layers.push_back(l);
      }
      e.graph.nodes.push_back(n);
    }
    for (const auto& o : g.outputs) summands[o.name].push_back(o.name + suffix);
    from = to;
  }
  // Member 1's outputs get their own names; a Sum of all members takes the graph outputs' names.
  for (auto& n : e.graph.nodes) {
    if (n.name.find("__pipe") != std::string::npos) continue;
    for (auto& in : n.inputs)
      if (summands.count(in)) in += "__pipe1";
    for (auto& out : n.outputs)
      if (summands.count(out)) out += "__pipe1";
  }
  for (const auto& [out, values] : summands) {
    ir::Node sum;
    sum.name = "pipe_sum_" + out;
    sum.op_type = "Sum";
    sum.inputs = values;
    sum.outputs = {out};
    e.graph.nodes.push_back(sum);
  }
  e.graph.toposort();
  e.applied = true;
  e.members = m;
  return e;
}

}  // namespace pare::quant
