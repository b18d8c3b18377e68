#include "pare/quant/layer_result.h"

#include <cmath>
#include <set>

namespace pare::quant {

nlohmann::json QuantizedLayer::to_json() const {
  nlohmann::json r{{"node", plan.layer.node},
                   {"op", plan.layer.op_type},
                   {"weight", plan.layer.weight},
                   {"quantized", plan.quantize},
                   {"numel", numel}};
  std::string why = plan.reason;
  if (plan.quantize && !note.empty()) why += (why.empty() ? "" : "; ") + note;
  if (!why.empty()) r["note"] = why;
  if (!plan.quantize) {
    r["bytes"] = static_cast<int64_t>(std::ceil(float_bytes));
    return r;
  }
  r["wbits"] = weight.main.grid.bits;
  r["abits"] = plan.abits;
  r["grid"] = weight.main.grid.str();
  r["granularity"] = weight.main.granularity.str();
  r["scales"] = weight.main.scales.numel();
  r["relative_error"] = relative_error;
  r["bits_per_weight"] = weight.bits_per_weight();
  r["bytes"] = static_cast<int64_t>(std::ceil(weight.storage_bits() / 8));
  r["cost_factor"] = weight.cost_factor();
  r["kurtosis"] = kurtosis;
  if (!expands.empty()) r["expands"] = expands;
  if (!weight.terms.empty()) r["terms"] = weight.terms.size() + 1;
  if (fields.is_object()) r.update(fields);
  return r;
}

WeightTotals weight_totals(const std::vector<QuantizedLayer>& layers) {
  WeightTotals t;
  std::set<std::string> seen;
  for (const auto& l : layers) {
    if (!l.plan.quantize || !seen.insert(l.plan.layer.weight).second) continue;
    const double n = static_cast<double>(l.weight.numel()), c = l.weight.cost_factor();
    if (l.expands.empty()) t.weights += n;
    t.bits += l.weight.storage_bits();
    t.cost += n * c;
    t.wbit_cost += n * l.weight.main.grid.bits * c;
  }
  return t;
}

}  // namespace pare::quant
