#include "pare/quant/methods/pipe_ensemble.h"

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
QuantizedWeight truncated(const QuantizedWeight& q, size_t orders) {
  QuantizedWeight t = q;
  t.terms.resize(std::min(t.terms.size(), orders - 1));
  return t;
}

// Orders [from, to) of `q` (1-based, order 1 being q itself) as one tensor: the first of them over all rows
// (rows it does not expand get code 0 and scale 0), the rest as its terms.
QuantizedWeight orders_of(const QuantizedWeight& q, size_t from, size_t to) {
  const ResidualTerm& first = q.terms.at(from - 2);
  QuantizedTensor head = first.q;
  if (first.rows.defined() && head.granularity.kind == Granularity::Kind::Tensor)
    throw Error("a PIPE member cannot start with a sparse term of per-tensor scale")
        .hint("use --granularity channel (or group:G), or --sparsity 1");
  if (first.rows.defined()) {
    const int64_t o = q.out_channels();
    head.codes = at::zeros({o, q.main.reduction()}, head.codes.options()).index_copy_(0, first.rows, head.codes);
    head.scales = at::zeros({o, head.scales.size(1)}, head.scales.options()).index_copy_(0, first.rows, head.scales);
    if (head.zero_points.defined())
      head.zero_points = at::zeros({o, head.zero_points.size(1)}, head.zero_points.options())
                             .index_copy_(0, first.rows, head.zero_points);
  }
  head.shape = q.main.shape;
  head.out_axis = q.main.out_axis;
  QuantizedWeight out(head);
  for (size_t k = from + 1; k < to; ++k) out.terms.push_back(q.terms.at(k - 2));
  return out;
}

// What every member is built from.
struct Split {
  const ir::Graph& g;
  const std::vector<QuantizedLayer>& layers;
  std::map<std::string, size_t> layer_of{};  // quantized node -> index into `layers`
  const ir::Node* node = nullptr;            // the split: the first quantized layer in graph order
  std::vector<size_t> down{};                // the split and every node downstream of it, in graph order
  std::set<std::string> down_values{};       // the values those nodes compute
};

Split find_split(const ir::Graph& g, const std::vector<QuantizedLayer>& layers) {
  Split sp{g, layers};
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].plan.quantize) sp.layer_of[layers[i].plan.layer.node] = i;
  for (const auto& n : g.nodes)
    if (sp.layer_of.count(n.name)) {
      sp.node = &n;
      break;
    }
  return sp;
}

// Fills sp.down and sp.down_values; returns why PIPE does not apply, or "" when it does.
std::string collect_downstream(Split& sp) {
  const ir::Graph& g = sp.g;
  sp.down_values.insert(sp.node->outputs.begin(), sp.node->outputs.end());
  sp.down = {static_cast<size_t>(sp.node - g.nodes.data())};
  for (size_t i = sp.down.front() + 1; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    bool reads = false;
    for (const auto& in : n.inputs) reads |= sp.down_values.count(in) > 0;
    if (!reads) continue;
    if (!distributes(n.op_type))
      return fmt::format(
          "PIPE does not apply: {} '{}' after the split does not distribute over a sum of members; "
          "kept the per-layer summed expansion",
          n.op_type, n.name);
    sp.down.push_back(i);
    sp.down_values.insert(n.outputs.begin(), n.outputs.end());
  }
  for (const auto& o : g.outputs)
    if (!sp.down_values.count(o.name))
      return "PIPE does not apply: output '" + o.name + "' does not depend on the first layer";
  return "";
}

// Node `idx` of the float graph as the member named by `suffix` runs it.
ir::Node member_node(const Split& sp, size_t idx, const std::string& suffix) {
  const ir::Graph& g = sp.g;
  auto rename = [&](const std::string& v) { return sp.down_values.count(v) ? v + suffix : v; };
  ir::Node n = g.nodes[idx];
  n.name += suffix;
  for (auto& in : n.inputs) in = rename(in);
  for (auto& out : n.outputs) out = rename(out);
  // No bias in members after the first.
  if ((n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "ConvTranspose") && n.inputs.size() > 2)
    n.inputs.resize(2);
  if (n.op_type == "Add" && n.inputs.size() == 2 && (g.is_initializer(n.inputs[0]) || g.is_initializer(n.inputs[1]))) {
    n.op_type = "Identity";
    n.inputs = {g.is_initializer(n.inputs[0]) ? n.inputs[1] : n.inputs[0]};
  }
  return n;
}

// Adds the member named by `suffix` to `e`: its copy of the downstream nodes, with member 1's layers except at
// the split, which holds orders [from, to).
void add_member(PipeEnsemble& e, const Split& sp, const std::vector<QuantizedLayer>& member1, const std::string& suffix,
                size_t from, size_t to) {
  for (size_t idx : sp.down) {
    ir::Node n = member_node(sp, idx, suffix);
    auto it = sp.layer_of.find(sp.g.nodes[idx].name);
    if (it != sp.layer_of.end()) {
      QuantizedLayer l = member1[it->second];
      l.plan.layer.node = n.name;
      l.expands = sp.layers[it->second].plan.layer.weight;
      if (idx == sp.down.front()) {
        // The split layer of this member: its own weight, holding orders [from, to).
        l.weight = orders_of(sp.layers[it->second].weight, from, to);
        l.plan.layer.weight += suffix;
        n.inputs[l.plan.layer.weight_input] = l.plan.layer.weight;
        e.graph.initializers[l.plan.layer.weight] =
            sp.g.initializers.at(sp.layers[it->second].plan.layer.weight).clone();
      }
      e.layers.push_back(l);
    }
    e.graph.nodes.push_back(n);
  }
}

// Member 1's outputs get their own names; a Sum of all members takes the graph outputs' names.
void sum_members(ir::Graph& graph, const std::map<std::string, std::vector<std::string>>& summands) {
  for (auto& n : graph.nodes) {
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
    graph.nodes.push_back(sum);
  }
}

}  // namespace

PipeEnsemble build_pipe_ensemble(const ir::Graph& g, const std::vector<QuantizedLayer>& layers, int members,
                                 const std::string& split) {
  const int m = members;
  if (m < 2) throw Error("a PIPE ensemble needs at least 2 members").got(std::to_string(m));
  PipeEnsemble e;
  e.graph = g.clone();
  e.layers = layers;
  Split sp = find_split(g, layers);
  if (!sp.node) {
    e.note = "no quantized layer to split";
    return e;
  }
  const QuantizedLayer& first = layers[sp.layer_of.at(sp.node->name)];
  const size_t orders = first.weight.terms.size() + 1;
  if (orders < static_cast<size_t>(m))
    throw Error(fmt::format("a PIPE ensemble of {} members needs at least {} expansion orders", m, m))
        .node(sp.node->name)
        .got(std::to_string(orders));
  e.note = collect_downstream(sp);
  if (!e.note.empty()) return e;

  // Member 1: the original nodes, with the first order only at the split ("first") or everywhere.
  for (auto& l : e.layers) {
    if (!l.plan.quantize) continue;
    if (l.plan.layer.node == sp.node->name || split == "first") l.weight = truncated(l.weight, 1);
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
    add_member(e, sp, member1, suffix, from, to);
    for (const auto& o : g.outputs) summands[o.name].push_back(o.name + suffix);
    from = to;
  }
  sum_members(e.graph, summands);
  e.graph.toposort();
  e.applied = true;
  e.members = m;
  return e;
}

}  // namespace pare::quant
