#include "pare/quant/passes/bias_pass.h"

#include <limits>

#include "pare/error.h"
#include "pare/quant/export/qdq_export.h"

namespace pare::quant {

std::vector<QuantizedBias> quantize_biases(ir::Graph& g, const ir::Graph& folded,
                                           const std::vector<QuantizedLayer>& layers,
                                           const std::vector<ActivationQuant>& acts) {
  std::vector<QuantizedBias> out;
  for (const auto& l : layers) {
    const QuantizableLayer& q = l.plan.layer;
    if (!l.plan.quantize || l.plan.abits == 0 || q.activation_input < 0 || !qdq_expressible(l)) continue;
    if (q.op_type != "Conv" && q.op_type != "Gemm") continue;
    auto fid = folded.find_node(q.node);
    auto id = g.find_node(q.node);
    if (!fid || !id) continue;
    const ir::Node& fn = folded.nodes[*fid];
    ir::Node& n = g.nodes[*id];
    if (n.inputs.size() < 3 || n.inputs[2].empty() || !g.is_initializer(n.inputs[2])) continue;
    const std::string act = fn.inputs[static_cast<size_t>(q.activation_input)];
    const ActivationQuant* a = nullptr;
    for (const auto& x : acts)
      if (x.value == act) a = &x;
    if (!a || a->axis >= 0) continue;  // integer kernels take one input scale
    const int64_t O = l.weight.main.shape.at(static_cast<size_t>(l.weight.main.out_axis));
    const at::Tensor bias = g.initializers.at(n.inputs[2]).to(at::kFloat).flatten();
    if (bias.numel() != O) continue;  // a broadcast Gemm bias: leave it
    const at::Tensor sw = l.weight.main.scales.numel() == 1 ? l.weight.main.scales.reshape({1}).expand({O})
                                                            : l.weight.main.scales.flatten();
    if (!(sw > 0).all().item<bool>()) continue;
    // Float32 product and quotient, as ONNX Runtime computes them; round half to even.
    const at::Tensor scale = (a->scale.to(at::kFloat).reshape({}) * sw.to(at::kFloat)).contiguous();
    const at::Tensor r = at::round(bias / scale);
    if ((r.abs() > static_cast<double>(std::numeric_limits<int32_t>::max())).any().item<bool>()) continue;
    QuantizedBias b{q.node, n.inputs[2], r.to(at::kInt), scale};
    // A bias that other nodes read too gets a private copy for this layer.
    if (g.consumers(b.bias).size() > 1 || g.is_output(b.bias)) {
      b.bias = g.unique_name(b.bias + "__" + q.node);
      n.inputs[2] = b.bias;
    }
    g.initializers[b.bias] =
        b.values().reshape(g.initializers.count(b.bias) ? g.initializers.at(b.bias).sizes() : at::IntArrayRef{O});
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace pare::quant
