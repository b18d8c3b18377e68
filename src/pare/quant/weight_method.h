// The weight operator of each method, for one layer: what `pare quantize --method` does to a weight once the
// plan has fixed its bits and granularity. Data-free by construction: it sees the weight and the recipe only.
//
//   rtn, dfq      round to nearest on the plan's uniform grid (dfq changes the graph around it: dfq.h)
//   rex           residual expansion of order K, sparsity γ (residual_expansion.h) of RTN terms
//   powerquant    power grid with the exponent that minimizes the layer's weight error (power_search.h)
//   tquant, mquant, ternary-rtn   ternary operators (ternary_operator.h)
//
// PowerQuant searches the exponent on at most 256 evenly spaced output rows of a layer (weight_method.cpp).
//
// Where a method cannot apply, the layer falls back to a documented default and says so in `note`:
//   - a ternary method on a layer whose plan is not 2 bits (a first_last or per-layer rule): RTN at those bits;
//   - powerquant at 2 bits: the power grid {-1, 0, 1} has no exponent to choose, so RTN (= ternary rounding).
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "pare/quant/quantized_tensor.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

struct LayerWeight {
  QuantizedTensor weight;
  std::string note;     // the fallback taken, if any
  double exponent = 0;  // powerquant: the exponent used
};

// Quantizes weight `w` of `plan` with `recipe.method`. `exponent`: powerquant's exponent when fixed (the
// global option); searched per layer when absent.
LayerWeight quantize_layer_weight(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                                  std::optional<double> exponent = std::nullopt);

}  // namespace pare::quant
