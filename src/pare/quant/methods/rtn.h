// Round to nearest on the plan's uniform grid (docs/methods/rtn.md): the base operator other methods build
// on and fall back to.
#pragma once
#include "pare/quant/method.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {

// The plan's grid, granularity and scale choice as options of quantize_weight.
WeightQuantOptions rtn_options(const LayerPlan& plan);
// RTN of the job's weight under its plan.
QuantizedTensor rtn_weight(const WeightJob& job);

}  // namespace pare::quant
