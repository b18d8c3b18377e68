#include "pare/quant/quantize_model.h"

#include <algorithm>
#include <set>

#include "pare/error.h"
#include "pare/ir/passes/fold_batchnorm.h"

namespace pare::quant {

std::vector<std::string> quantization_methods() { return {"rtn"}; }

nlohmann::json QuantizeResult::layer_table() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& l : layers) {
    nlohmann::json r{{"node", l.plan.layer.node},
                     {"op", l.plan.layer.op_type},
                     {"weight", l.plan.layer.weight},
                     {"quantized", l.plan.quantize}};
    if (!l.plan.reason.empty()) r["note"] = l.plan.reason;
    if (l.plan.quantize) {
      r["wbits"] = l.weight.grid.bits;
      r["abits"] = l.plan.abits;
      r["grid"] = l.weight.grid.str();
      r["granularity"] = l.weight.granularity.str();
      r["scales"] = l.weight.scales.numel();
      r["relative_error"] = l.relative_error;
      r["bits_per_weight"] = l.weight.bits_per_weight();
      r["bytes"] = l.weight.storage_bits() / 8;
    } else {
      const at::Tensor& w = folded.initializers.at(l.plan.layer.weight);
      r["bytes"] = w.numel() * w.element_size();
    }
    rows.push_back(r);
  }
  return rows;
}

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& o) {
  const auto methods = quantization_methods();
  if (std::find(methods.begin(), methods.end(), o.recipe.method) == methods.end()) {
    std::string list;
    for (const auto& m : methods) list += (list.empty() ? "" : ", ") + m;
    throw Error("unknown quantization method '" + o.recipe.method + "'").expected(list);
  }
  QuantizeResult r;
  r.folded = g.clone();
  ir::fold_batchnorm(r.folded);
  r.plans = plan_layers(r.folded, o.recipe);
  // Activation ranges are observed on the float (folded) model, before any weight changes.
  bool wants_activations = false;
  for (const auto& p : r.plans) wants_activations |= p.quantize && p.abits > 0 && p.layer.activation_input >= 0;
  if (wants_activations) {
    static const data::Dataset none;
    CalibrationOptions c = o.calibration;
    c.per_channel = o.recipe.activation_granularity == "channel";
    r.activations = calibrate_activations(r.folded, r.plans, o.calib ? *o.calib : none, c, o.calib_progress);
  }
  r.layers = quantize_weights(r.folded, r.plans, o.weight_progress);
  r.qdq = r.folded.clone();
  insert_activation_qdq(r.qdq, r.activations, r.plans);
  r.biases = quantize_biases(r.qdq, r.folded, r.layers, r.activations);
  r.fake = r.qdq.clone();
  substitute_dequantized(r.fake, r.layers);

  std::set<std::string> seen;
  for (const auto& [name, t] : r.folded.initializers)
    r.float_bits += static_cast<double>(t.numel()) * t.element_size() * 8;
  r.model_bits = model_bits(r.folded, r.layers);
  for (const auto& l : r.layers)
    if (l.plan.quantize && seen.insert(l.plan.layer.weight).second) {
      r.quantized_weights += static_cast<double>(l.weight.numel());
      r.quantized_weight_bits += l.weight.storage_bits();
    }
  return r;
}

}  // namespace pare::quant
