#include "pare/quant/weight_method.h"

#include "pare/error.h"
#include "pare/quant/power_search.h"
#include "pare/quant/residual_expansion.h"
#include "pare/quant/ternary_operator.h"

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

}  // namespace

LayerWeight quantize_layer_weight(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                                  std::optional<double> exponent) {
  const std::string& name = plan.layer.weight;
  WeightQuantOptions rtn;
  rtn.grid = plan.weight_grid;
  rtn.granularity = plan.granularity;
  rtn.scale = plan.weight_scale;
  const int bits = plan.weight_grid.bits;
  LayerWeight r;
  const std::string& m = recipe.method;
  if (is_ternary_method(m)) {
    if (bits != 2) {
      r.note = "ternary method on a " + std::to_string(bits) + "-bit layer: RTN";
      r.weight = quantize_weight(w, plan.layer.out_axis, rtn, name);
      return r;
    }
    TernaryOptions t;
    t.op = parse_ternary_op(m);
    t.scale_bits = plan.weight_scale.scale_bits;
    r.weight = ternarize_weight(w, plan.layer.out_axis, plan.granularity, t, name);
    return r;
  }
  if (m == "powerquant") {
    if (bits == 2) {
      r.note = "power grid at 2 bits is ternary: RTN";
      r.weight = quantize_weight(w, plan.layer.out_axis, rtn, name);
      return r;
    }
    const double a = exponent ? *exponent
                              : search_power_exponent({search_sample(w, plan.layer.out_axis)}, {plan.layer.out_axis},
                                                      plan.granularity, bits)
                                    .exponent;
    r.exponent = a;
    r.weight =
        power_quantize_weight(w, plan.layer.out_axis, plan.granularity, bits, a, plan.weight_scale.scale_bits, name);
    return r;
  }
  if (m == "rex") {
    ExpansionOptions e;
    e.order = recipe.expansion_order();
    e.sparsity = recipe.sparsity;
    r.weight = expand_residuals(
        w, plan.layer.out_axis, e,
        [&](const at::Tensor& x, int64_t axis) { return quantize_weight(x, axis, rtn, name); }, name);
    return r;
  }
  if (m != "rtn" && m != "dfq") {
    throw Error("unknown quantization method '" + m + "'").tensor(name).expected(quantization_method_list());
  }
  r.weight = quantize_weight(w, plan.layer.out_axis, rtn, name);  // dfq changes the graph, not the rounding
  return r;
}

}  // namespace pare::quant
