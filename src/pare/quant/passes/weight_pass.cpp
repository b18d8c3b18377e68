#include "pare/quant/passes/weight_pass.h"

#include <map>
#include <set>

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"

namespace pare::quant {

void substitute_dequantized(ir::Graph& g, const std::vector<QuantizedLayer>& layers) {
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    const at::ScalarType dtype = g.initializers.at(l.plan.layer.weight).scalar_type();
    g.initializers[g.own_initializer(l.plan.layer.node, l.plan.layer.weight_input)] = l.weight.dequantize().to(dtype);
  }
}

void install_fake_quant(exec::Executor& ex, const std::vector<QuantizedLayer>& layers,
                        const std::map<std::string, at::Tensor>& scales) {
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    const QuantizedTensor q = l.weight.main;
    auto it = scales.find(l.plan.layer.node);
    const at::Tensor scale = it != scales.end() ? it->second : q.scales;
    ex.set_weight_override(
        l.plan.layer.node,
        [q, scale](const at::Tensor& w) {
          const at::Tensor m = to_matrix(w, q.out_axis);
          const at::Tensor rows = to_rows(m, q.granularity);
          const at::Tensor zp = q.zero_points.defined() ? q.zero_points.reshape({-1, 1}) : at::Tensor();
          const at::Tensor d = fake_quantize_rows(rows, q.grid, scale.reshape({-1, 1}), zp);
          return from_matrix(from_rows(d, m.size(0), m.size(1), q.granularity), w.sizes(), q.out_axis);
        },
        l.plan.layer.weight_input);
  }
}

double model_bits(const ir::Graph& g, const std::vector<QuantizedLayer>& layers) {
  std::set<std::string> quantized;
  double bits = 0;
  for (const auto& l : layers)
    if (l.plan.quantize && quantized.insert(l.plan.layer.weight).second) bits += l.weight.storage_bits();
  for (const auto& [name, t] : g.initializers)
    if (!quantized.count(name)) bits += static_cast<double>(t.numel()) * t.element_size() * 8;
  return bits;
}

}  // namespace pare::quant
