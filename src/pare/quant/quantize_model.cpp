#include "pare/quant/quantize_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "pare/blocks/model_data.h"
#include "pare/error.h"
#include "pare/ir/passes/fold_batchnorm.h"
#include "pare/quant/method_registry.h"
#include "pare/quant/observers/bn_statistics.h"
#include "pare/quant/passes/weight_pass.h"
#include "pare/quant/quantize_blocks.h"

namespace pare::quant {

nlohmann::json QuantizeResult::layer_table() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& l : layers) rows.push_back(l.to_json());
  return rows;
}

nlohmann::json QuantizeResult::to_json() const {
  nlohmann::json acts = nlohmann::json::array();
  auto values = [](const at::Tensor& t) {
    const at::Tensor f = t.to(at::kDouble).flatten().contiguous();
    std::vector<double> v(f.data_ptr<double>(), f.data_ptr<double>() + f.numel());
    return t.dim() == 0 ? nlohmann::json(v.at(0)) : nlohmann::json(v);
  };
  for (const auto& a : activations)
    acts.push_back({{"value", a.value},
                    {"grid", a.grid.str()},
                    {"axis", a.axis},
                    {"scale", values(a.scale)},
                    {"zero_point", values(a.zero_point)},
                    {"observed_min", a.observed_min},
                    {"observed_max", a.observed_max}});
  nlohmann::json j{{"method", recipe.method},
                   {"recipe", recipe.to_json()},
                   {"bits_per_weight", bits_per_weight()},
                   {"macs", bops.macs},
                   {"bops", bops.bops},
                   {"relative_bops", bops.relative()},
                   {"cost_factor", cost_factor()},
                   {"model_bytes", static_cast<int64_t>(std::ceil(model_bits / 8))},
                   {"float_model_bytes", static_cast<int64_t>(std::ceil(float_bits / 8))},
                   {"layers", layer_table()},
                   {"activations", acts}};
  if (!bops_note.empty()) j["bops_note"] = bops_note;
  j.update(method_report);
  return j;
}

void check_method_applies(const Recipe& recipe, ModelKind kind, const std::string& source) {
  const Method& m = recipe.entry();
  if (!m.supports(kind)) {
    std::string others;
    for (const auto& o : builtin_methods().methods())
      if (o.supports(kind)) others += (others.empty() ? "" : ", ") + o.name;
    const auto why = m.refusals.find(kind);
    Error e("method " + m.name + " does not apply to " + (kind == ModelKind::Llama ? "Llama" : "ONNX graph") +
            " models");
    if (!source.empty()) e.file(source);
    throw e.got("--method " + m.name)
        .hint((why != m.refusals.end() ? why->second + ". " : std::string()) + "Methods for these models: " + others);
  }
  if (m.check_model) m.check_model(recipe, kind, source);
}

namespace {

// Activation ranges of the planned layers that quantize activations: data-free from the value statistics,
// or calibrated on the data.
void activation_ranges(QuantizeResult& r, const QuantizeOptions& o, const std::map<std::string, ChannelStats>& stats) {
  bool wanted = false;
  for (const auto& p : r.plans) wanted |= p.quantize && p.abits > 0 && p.layer.activation_input >= 0;
  if (!wanted) return;
  if (r.recipe.data_free()) {
    r.activations = data_free_activation_ranges(r.folded, stats, r.plans, 6.0, &r.activation_sources);
    return;
  }
  static const data::Dataset none;
  CalibrationOptions c = o.calibration;
  c.per_channel = r.recipe.activation_granularity == "channel";
  r.activations = calibrate_activations(r.folded, r.plans, o.calib ? *o.calib : none, c, o.calib_progress);
}

// The calibration samples as batches of model inputs, for a method that learns block by block.
std::vector<blocks::Values> calibration_batches(const ir::Graph& g, const QuantizeOptions& o) {
  std::vector<blocks::Values> out;
  const Method& m = o.recipe.entry();
  if (!o.recipe.learns()) return out;
  if (!o.calib || o.calib->size() == 0)
    throw Error(m.block ? "method " + m.name + " learns from calibration data"
                        : "weight_scale imatrix weighs each input channel by calibration activations")
        .hint("pass --calib SPEC (e.g. --calib fmnist:train:512)");
  blocks::check_samples_fit(g, *o.calib, /*need_labels=*/false);
  const int64_t n = o.calib->size(), b = std::max<int64_t>(1, o.calibration.batch_size);
  for (int64_t i = 0; i < n; i += b)
    out.push_back({{g.inputs.at(0).name, o.calib->inputs.narrow(0, i, std::min(b, n - i))}});
  return out;
}

// Sizes, bit operations and per-weight totals of a finished result.
void account(QuantizeResult& r) {
  for (const auto& [name, t] : r.folded.initializers)
    r.float_bits += static_cast<double>(t.numel()) * t.element_size() * 8;
  r.model_bits = model_bits(r.folded, r.layers);
  r.totals = weight_totals(r.layers);
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
}

}  // namespace

QuantizeResult quantize_model(const ir::Graph& g, const QuantizeOptions& o) {
  QuantizeResult r;
  r.recipe = o.recipe;
  const Method& m = r.recipe.entry();
  if (r.recipe.data_free() && o.calib)
    throw Error("method " + m.name + " is data-free: it takes no calibration data")
        .hint("leave --calib out; activation ranges then come from the model itself (or pass --abits 0)");
  check_method_applies(r.recipe, ModelKind::Graph, "");
  r.folded = g.clone();
  // Data-free methods model the values' statistics from the BatchNorm (and LayerNorm) parameters, which
  // folding removes: read them first (bn_statistics.h). The input is modelled within o.input_range.
  std::map<std::string, ChannelStats> stats;
  if (r.recipe.data_free()) {
    StatsOptions so;
    so.input_range = o.input_range;
    stats = bn_value_statistics(g, so);
  }
  ir::fold_batchnorm(r.folded);
  GraphStage stage{r.recipe, r.folded, stats, nullptr, nullptr, nullptr, r.method_report, r.notes, {}};
  if (m.after_fold) m.after_fold(stage);
  r.plans = plan_layers(r.folded, r.recipe);
  // Activation ranges are observed on the float (folded) model, before any weight changes.
  activation_ranges(r, o, stats);
  std::map<std::string, at::Tensor> floats;  // float weights a method changed (AWQ's folded scales)
  r.layers = quantize_weights(r.folded, r.plans, o.weight_progress, r.recipe, calibration_batches(r.folded, o), &floats,
                              &r.activations);
  for (auto& [name, value] : floats) {
    at::Tensor& t = r.folded.initializers.at(name);
    t = value.to(t.scalar_type()).reshape(t.sizes());
  }
  r.qdq = r.folded.clone();
  insert_activation_qdq(r.qdq, r.activations, r.plans);
  stage.qdq = &r.qdq;
  stage.layers = &r.layers;
  stage.activations = &r.activations;
  if (m.after_weights) m.after_weights(stage);
  r.biases = quantize_biases(r.qdq, r.folded, r.layers, r.activations);
  r.fake = r.qdq.clone();
  substitute_dequantized(r.fake, r.layers);
  account(r);
  return r;
}

}  // namespace pare::quant
