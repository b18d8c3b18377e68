#include "pare/quant/quantizable.h"

namespace pare::quant {

namespace {

bool float_initializer(const ir::Graph& g, const std::string& name, int64_t min_dim, int64_t max_dim) {
  auto it = g.initializers.find(name);
  if (it == g.initializers.end()) return false;
  const at::Tensor& t = it->second;
  return t.is_floating_point() && t.dim() >= min_dim && t.dim() <= max_dim;
}

int64_t int_attr(const ir::Node& n, const std::string& key, int64_t fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->i : fallback;
}

}  // namespace

std::vector<QuantizableLayer> find_quantizable(const ir::Graph& g, bool embeddings) {
  std::vector<QuantizableLayer> out;
  for (const ir::Node& n : g.nodes) {
    if (!n.domain.empty()) continue;
    const auto in = [&](size_t i) { return i < n.inputs.size() ? n.inputs[i] : std::string(); };
    QuantizableLayer l;
    l.node = n.name;
    l.op_type = n.op_type;
    if ((n.op_type == "Conv" || n.op_type == "ConvTranspose") && float_initializer(g, in(1), 3, 5)) {
      l.weight = in(1);
      l.out_axis = n.op_type == "Conv" ? 0 : 1;
      const int64_t group = int_attr(n, "group", 1);
      l.depthwise = n.op_type == "Conv" && group > 1 && g.initializers.at(in(1)).size(1) == 1;
    } else if (n.op_type == "Gemm" && float_initializer(g, in(1), 2, 2)) {
      l.weight = in(1);
      l.out_axis = int_attr(n, "transB", 0) ? 0 : 1;
      l.activation_axis = int_attr(n, "transA", 0) ? 0 : 1;
    } else if (n.op_type == "MatMul" && float_initializer(g, in(1), 2, 2) && !g.is_initializer(in(0))) {
      l.weight = in(1);
      l.out_axis = 1;
      l.activation_axis = -1;
    } else if (n.op_type == "MatMul" && float_initializer(g, in(0), 2, 2) && !g.is_initializer(in(1))) {
      // W @ X: the rows of W are the outputs.
      l.weight = in(0);
      l.weight_input = 0;
      l.out_axis = 0;
      l.activation_input = 1;
      l.activation_axis = -2;
    } else if (embeddings && n.op_type == "Gather" && int_attr(n, "axis", 0) == 0 &&
               float_initializer(g, in(0), 2, 2)) {
      l.weight = in(0);
      l.weight_input = 0;
      l.out_axis = 0;
      l.activation_input = -1;
    } else {
      continue;
    }
    out.push_back(l);
  }
  return out;
}

}  // namespace pare::quant
