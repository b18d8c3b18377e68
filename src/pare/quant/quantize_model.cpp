#include "pare/quant/quantize_model.h"

#include <algorithm>
#include <set>

#include "pare/error.h"
#include "pare/ir/passes/fold_batchnorm.h"
#include "pare/quant/dfq.h"
#include "pare/quant/pipe_ensemble.h"
#include "pare/quant/weight_stats.h"

namespace pare::quant {

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
      r["cost_factor"] = l.weight.cost_factor();
      r["kurtosis"] = excess_kurtosis(folded.initializers.at(l.expands.empty() ? l.plan.layer.weight : l.expands));
      if (!l.expands.empty()) r["expands"] = l.expands;
      if (dfq_applied)
        for (const auto& d : dfq.layers)
          if (d.node == l.plan.layer.node) {
            r["dfq_equalized"] = d.equalized;
            r["dfq_bias_corrected"] = d.bias_corrected;
            if (!d.note.empty()) r["dfq_note"] = d.note;
          }
      if (!l.weight.terms.empty()) r["terms"] = l.weight.terms.size() + 1;
      if (l.exponent > 0) r["exponent"] = l.exponent;
      if (!l.note.empty()) r["note"] = r.contains("note") ? r["note"].get<std::string>() + "; " + l.note : l.note;
    } else {
      const at::Tensor& w = folded.initializers.at(l.plan.layer.weight);
      r["bytes"] = w.numel() * w.element_size();
    }
    rows.push_back(r);
  }
  return rows;
}

double QuantizeResult::cost_factor() const {
  double n = 0, c = 0;
  std::set<std::string> seen;
  for (const auto& l : layers)
    if (l.plan.quantize && seen.insert(l.plan.layer.weight).second) {
      if (l.expands.empty()) n += static_cast<double>(l.weight.numel());
      c += static_cast<double>(l.weight.numel()) * l.weight.cost_factor();
    }
  return n > 0 ? c / n : 1;
}

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& o) {
  if (is_data_free(o.recipe.method) && o.calib)
    throw Error("method " + o.recipe.method + " is data-free: it takes no calibration data")
        .hint("leave --calib out; activation ranges then come from the model itself (or pass --abits 0)");
  QuantizeResult r;
  r.folded = g.clone();
  // Data-free methods model the values' statistics from the BatchNorm (and LayerNorm) parameters, which
  // folding removes: read them first (bn_statistics.h). The input is modelled within o.input_range.
  std::map<std::string, ChannelStats> stats;
  const bool data_free = is_data_free(o.recipe.method);
  if (data_free) {
    StatsOptions so;
    so.input_range = o.input_range;
    stats = bn_value_statistics(g, so);
  }
  ir::fold_batchnorm(r.folded);
  if (o.recipe.method == "dfq") {
    r.dfq = cross_layer_equalize(r.folded, stats);
    r.dfq_applied = true;
  }
  r.plans = plan_layers(r.folded, o.recipe);
  // Activation ranges are observed on the float (folded) model, before any weight changes.
  bool wants_activations = false;
  for (const auto& p : r.plans) wants_activations |= p.quantize && p.abits > 0 && p.layer.activation_input >= 0;
  if (wants_activations && data_free) {
    r.activations = data_free_activation_ranges(r.folded, stats, r.plans, 6.0, &r.activation_sources);
  } else if (wants_activations) {
    static const data::Dataset none;
    CalibrationOptions c = o.calibration;
    c.per_channel = o.recipe.activation_granularity == "channel";
    r.activations = calibrate_activations(r.folded, r.plans, o.calib ? *o.calib : none, c, o.calib_progress);
  }
  r.layers = quantize_weights(r.folded, r.plans, o.weight_progress, o.recipe);
  r.qdq = r.folded.clone();
  insert_activation_qdq(r.qdq, r.activations, r.plans);
  if (o.recipe.method == "dfq") correct_biases(r.qdq, r.folded, r.layers, stats, r.dfq);
  if (o.recipe.ensemble > 1) {
    if (!r.activations.empty())
      throw Error("a PIPE ensemble with quantized activations is not supported")
          .hint("members after the first carry small residual signals that need their own ranges: pass --abits 0");
    PipeEnsemble e = build_pipe_ensemble(r.qdq, r.layers, o.recipe);
    r.pipe_note = e.note;
    if (e.applied) {
      r.pipe_members = e.members;
      r.qdq = std::move(e.graph);
      r.layers = std::move(e.layers);
    }
  }
  r.biases = quantize_biases(r.qdq, r.folded, r.layers, r.activations);
  r.fake = r.qdq.clone();
  substitute_dequantized(r.fake, r.layers);

  std::set<std::string> seen;
  for (const auto& [name, t] : r.folded.initializers)
    r.float_bits += static_cast<double>(t.numel()) * t.element_size() * 8;
  r.model_bits = model_bits(r.folded, r.layers);
  for (const auto& l : r.layers)
    if (l.plan.quantize && seen.insert(l.plan.layer.weight).second) {
      // A PIPE member's split layer holds further orders of a weight already counted.
      if (l.expands.empty()) r.quantized_weights += static_cast<double>(l.weight.numel());
      r.quantized_weight_bits += l.weight.storage_bits();
    }
  std::vector<LayerPlan> plans;
  for (const auto& l : r.layers) plans.push_back(l.plan);
  // BOPs are a report: a graph that cannot run on a zero input of batch 1 (an undeclared input shape, a
  // sequence length that must not be 1) still quantizes, without them.
  try {
    r.bops = bit_operations(r.layers, layer_macs(r.qdq, plans));
  } catch (const std::exception& e) {
    r.bops = BitOperations{};
    r.bops_note = std::string("MACs not counted: ") + e.what();
  }
  return r;
}

}  // namespace pare::quant
