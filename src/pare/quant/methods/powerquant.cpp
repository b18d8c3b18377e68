// PowerQuant as a registry entry (docs/methods/powerquant.md): a power grid per layer whose exponent
// minimizes the layer's weight error, or one "global" exponent per bit width over the whole model.
#include <map>

#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/power_search.h"
#include "pare/quant/methods/rtn.h"

namespace pare::quant {

namespace {

// The exponent is one number per layer: searching it on evenly spaced output rows (at most kSearchRows) gives
// the same a* as the whole tensor to about the search tolerance, at a fraction of the time on LLM-sized
// layers (a 4096 x 11008 projection: minutes for every row, seconds for 256).
constexpr int64_t kSearchRows = 256;

at::Tensor search_sample(const at::Tensor& w, int64_t out_axis) {
  if (w.dim() < 2 || w.size(out_axis) <= kSearchRows) return w;
  const at::Tensor rows = at::linspace(0, static_cast<double>(w.size(out_axis) - 1), kSearchRows).round().to(at::kLong);
  return w.index_select(out_axis, rows);
}

// The global option: one exponent for all layers of a bit width, minimizing their summed error. Returns
// {"<bits>": a, ...}; null for the per-layer option.
nlohmann::json global_exponents(const std::vector<std::pair<const at::Tensor*, const LayerPlan*>>& weights,
                                const Recipe& r) {
  if (r.option("exponent").get<std::string>() != "global" || weights.empty()) return nullptr;
  std::map<int, std::vector<at::Tensor>> ws;
  std::map<int, std::vector<int64_t>> axes;
  for (const auto& [w, p] : weights)
    if (p->quantize && p->weight_grid.bits > 2) {
      ws[p->weight_grid.bits].push_back(*w);
      axes[p->weight_grid.bits].push_back(p->layer.out_axis);
    }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [bits, list] : ws)
    out[std::to_string(bits)] =
        search_power_exponent(list, axes[bits], weights.front().second->granularity, bits).exponent;
  return out;
}

LayerWeight powerquant_weight(const WeightJob& job) {
  const int bits = job.plan.weight_grid.bits;
  LayerWeight r;
  if (bits == 2) {
    r.note = "power grid at 2 bits is ternary: RTN";
    r.weight = rtn_weight(job);
    return r;
  }
  const std::string key = std::to_string(bits);
  const int64_t axis = job.plan.layer.out_axis;
  const double a =
      job.prepared.is_object() && job.prepared.contains(key)
          ? job.prepared.at(key).get<double>()
          : search_power_exponent({search_sample(job.w, axis)}, {axis}, job.plan.granularity, bits).exponent;
  r.fields = {{"exponent", a}};
  r.weight = power_quantize_weight(job.w, axis, job.plan.granularity, bits, a, job.plan.weight_scale.scale_bits,
                                   job.plan.layer.weight);
  return r;
}

}  // namespace

Method powerquant_method() {
  Method m;
  m.name = "powerquant";
  m.summary = "power grid sign(q)(|q|/n)^(1/a) with the exponent a that minimizes each layer's weight error";
  m.doc = "docs/methods/powerquant.md";
  m.grids = {GridKind::Power};
  m.options = {choice_option("exponent", "layer", {"layer", "global"},
                             "one exponent per layer (layer) or one for the model (global)")};
  m.check_model = [](const Recipe& r, ModelKind kind, const std::string& source) {
    if (kind == ModelKind::Llama && r.option("exponent").get<std::string>() == "global")
      throw Error("a global PowerQuant exponent needs every weight at once; Llamas are quantized block by block")
          .file(source)
          .hint("leave --exponent out (one exponent per weight)");
  };
  m.prepare = global_exponents;
  m.weight = powerquant_weight;
  return m;
}

}  // namespace pare::quant
