#include "pare/quant/methods/rtn.h"

#include "pare/quant/methods/all_methods.h"

namespace pare::quant {

WeightQuantOptions rtn_options(const LayerPlan& plan) {
  WeightQuantOptions o;
  o.grid = plan.weight_grid;
  o.granularity = plan.granularity;
  o.scale = plan.weight_scale;
  return o;
}

QuantizedTensor rtn_weight(const WeightJob& job) {
  WeightQuantOptions o = rtn_options(job.plan);
  o.scale.importance = job.importance;
  return quantize_weight(job.w, job.plan.layer.out_axis, o, job.plan.layer.weight);
}

Method rtn_method() {
  Method m;
  m.name = "rtn";
  m.summary = "round to nearest on a uniform grid; activation ranges calibrated on data when --abits > 0";
  m.doc = "docs/methods/rtn.md";
  m.data = DataNeed::Calibration;  // only for activation ranges: weights-only RTN takes none
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "", nullptr}; };
  return m;
}

}  // namespace pare::quant
