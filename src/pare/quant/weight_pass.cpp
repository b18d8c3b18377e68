#include "pare/quant/weight_pass.h"

#include <map>
#include <optional>
#include <set>

#include "pare/error.h"
#include "pare/quant/power_search.h"
#include "pare/quant/row_quantizer.h"
#include "pare/quant/weight_method.h"

namespace pare::quant {

std::vector<QuantizedLayer> quantize_weights(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                             const std::function<void(size_t, size_t)>& progress,
                                             const Recipe& recipe) {
  // PowerQuant's global option: one exponent for all layers of a bit width, minimizing their summed error.
  std::map<int, double> global_exponent;
  if (recipe.method == "powerquant" && recipe.exponent == "global") {
    std::map<int, std::vector<at::Tensor>> ws;
    std::map<int, std::vector<int64_t>> axes;
    for (const auto& p : plans)
      if (p.quantize && p.weight_grid.bits > 2) {
        ws[p.weight_grid.bits].push_back(g.initializers.at(p.layer.weight));
        axes[p.weight_grid.bits].push_back(p.layer.out_axis);
      }
    for (const auto& [bits, list] : ws)
      global_exponent[bits] = search_power_exponent(list, axes[bits], plans.front().granularity, bits).exponent;
  }
  std::vector<QuantizedLayer> out;
  out.reserve(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    QuantizedLayer l;
    l.plan = plans[i];
    if (l.plan.quantize) {
      const at::Tensor& w = g.initializers.at(l.plan.layer.weight);
      std::optional<double> exponent;
      if (auto it = global_exponent.find(l.plan.weight_grid.bits); it != global_exponent.end()) exponent = it->second;
      try {
        LayerWeight lw = quantize_layer_weight(w, l.plan, recipe, exponent);
        l.weight = std::move(lw.weight);
        l.note = std::move(lw.note);
        l.exponent = lw.exponent;
      } catch (Error& e) {
        throw e.node(l.plan.layer.node);
      }
      const double norm = w.to(at::kFloat).pow(2).sum().item<double>();
      const double err = (l.weight.dequantize() - w.to(at::kFloat)).pow(2).sum().item<double>();
      l.relative_error = norm > 0 ? err / norm : 0.0;
    }
    out.push_back(std::move(l));
    if (progress) progress(i + 1, plans.size());
  }
  return out;
}

namespace {

// The name of a private copy of `weight` for node `node` when anything else reads it too.
std::string own_weight(ir::Graph& g, const QuantizedLayer& l) {
  const std::string& w = l.plan.layer.weight;
  if (g.consumers(w).size() <= 1 && !g.is_output(w)) return w;
  const std::string copy = w + "__" + l.plan.layer.node;
  auto id = g.find_node(l.plan.layer.node);
  PARE_ASSERT(id.has_value(), "quantized node vanished from the graph");
  g.nodes[*id].inputs[l.plan.layer.weight_input] = copy;
  return copy;
}

}  // namespace

void substitute_dequantized(ir::Graph& g, const std::vector<QuantizedLayer>& layers) {
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    const at::Tensor& original = g.initializers.at(l.plan.layer.weight);
    g.initializers[own_weight(g, l)] = l.weight.dequantize().to(original.scalar_type());
  }
}

void install_fake_quant(exec::Executor& ex, const std::vector<QuantizedLayer>& layers,
                        const std::map<std::string, at::Tensor>& scales) {
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    const QuantizedTensor q = l.weight;
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
