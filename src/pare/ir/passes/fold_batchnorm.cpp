// Conv+BN folding. Declines (silently, counted) whenever the rewrite would not be exact or would
// change a value that someone else reads.
#include "pare/ir/passes/fold_batchnorm.h"

#include <optional>

namespace pare::ir {
namespace {

struct Match {
  NodeId producer, bn;
  int out_axis;  // axis of the producer's weight that indexes output channels
};

const at::Tensor* init(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
  auto it = g.initializers.find(n.inputs[i]);
  return it == g.initializers.end() ? nullptr : &it->second;
}

std::optional<Match> match(const Graph& g, NodeId bn_id) {
  const Node& bn = g.nodes[bn_id];
  if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.outputs.size() != 1) return std::nullopt;
  if (bn.has_attr("training_mode") && bn.attr("training_mode")->i != 0) return std::nullopt;
  for (size_t i = 1; i < 5; ++i) {
    const at::Tensor* t = init(g, bn, i);
    if (!t || !at::isFloatingType(t->scalar_type()) || t->dim() != 1) return std::nullopt;
  }
  auto p = g.producer(bn.inputs[0]);
  if (!p) return std::nullopt;
  const Node& prod = g.nodes[*p];
  if (prod.outputs.size() != 1 || g.consumers(prod.outputs[0]).size() != 1 || g.is_output(prod.outputs[0]))
    return std::nullopt;
  const at::Tensor* w = init(g, prod, 1);
  if (!w || !at::isFloatingType(w->scalar_type())) return std::nullopt;
  if (prod.inputs.size() > 2 && !prod.inputs[2].empty() && !init(g, prod, 2)) return std::nullopt;
  const int64_t channels = init(g, bn, 1)->numel();
  if (prod.op_type == "Conv") {
    if (w->size(0) != channels) return std::nullopt;
    return Match{*p, bn_id, 0};
  }
  if (prod.op_type == "ConvTranspose") {
    const Attribute* group = prod.attr("group");
    if ((group && group->i != 1) || w->size(1) != channels) return std::nullopt;
    return Match{*p, bn_id, 1};
  }
  if (prod.op_type == "Gemm") {
    // BN over Gemm output [N, C] normalizes the columns; the weight is [K, C] or, with transB, [C, K].
    const Attribute* ta = prod.attr("transA");
    const Attribute* alpha = prod.attr("alpha");
    const Attribute* beta = prod.attr("beta");
    if ((alpha && alpha->f != 1.0) || (beta && beta->f != 1.0) || (ta && ta->i != 0)) return std::nullopt;
    const Attribute* tb = prod.attr("transB");
    const int axis = (tb && tb->i) ? 0 : 1;
    if (w->dim() != 2 || w->size(axis) != channels) return std::nullopt;
    if (const at::Tensor* b = init(g, prod, 2); b && b->numel() != channels) return std::nullopt;
    return Match{*p, bn_id, axis};
  }
  return std::nullopt;
}

void rewrite(Graph& g, const Match& m) {
  Node& prod = g.nodes[m.producer];
  const Node bn = g.nodes[m.bn];
  const double eps = bn.has_attr("epsilon") ? bn.attr("epsilon")->f : 1e-5;
  at::Tensor w = g.initializers.at(prod.inputs[1]);
  const auto type = w.scalar_type();
  // Fold in float64, then round once to the weight's type.
  at::Tensor scale = g.initializers.at(bn.inputs[1]).to(at::kDouble);
  at::Tensor shift = g.initializers.at(bn.inputs[2]).to(at::kDouble);
  at::Tensor mean = g.initializers.at(bn.inputs[3]).to(at::kDouble);
  at::Tensor var = g.initializers.at(bn.inputs[4]).to(at::kDouble);
  at::Tensor factor = scale / (var + eps).sqrt();
  std::vector<int64_t> shape(w.dim(), 1);
  shape[m.out_axis] = factor.numel();
  at::Tensor new_w = (w.to(at::kDouble) * factor.reshape(shape)).to(type);
  at::Tensor old_b = prod.inputs.size() > 2 && !prod.inputs[2].empty()
                         ? g.initializers.at(prod.inputs[2]).to(at::kDouble)
                         : at::zeros_like(mean);
  at::Tensor new_b = ((old_b - mean) * factor + shift).to(type);

  // Fresh names, so that a weight shared with another node keeps its value there.
  const std::string w_name = g.unique_name(prod.inputs[1] + "_bnfold");
  g.initializers[w_name] = new_w;
  prod.inputs[1] = w_name;
  const std::string b_name = g.unique_name(bn.name + "_bias_bnfold");
  g.initializers[b_name] = new_b;
  if (prod.inputs.size() < 3) prod.inputs.resize(3);
  prod.inputs[2] = b_name;
  prod.outputs[0] = bn.outputs[0];
  g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(m.bn));
}

}  // namespace

FoldReport fold_batchnorm(Graph& g) {
  FoldReport report;
  for (NodeId i = 0; i < g.nodes.size();) {
    if (g.nodes[i].op_type != "BatchNormalization") {
      ++i;
      continue;
    }
    if (auto m = match(g, i)) {
      rewrite(g, *m);  // removes node i; the next node now sits at i
      ++report.folded;
    } else {
      ++report.declined;
      ++i;
    }
  }
  g.remove_dead();  // original weights and BN parameters nobody reads any more
  return report;
}

}  // namespace pare::ir
