#include "pare/quant/methods/gptq.h"

#include <map>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/quant/layer_inputs.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/rtn.h"

namespace pare::quant {
namespace {

struct Hessian {
  at::Tensor sum;
  int64_t rows = 0;
};

}  // namespace

void gptq_layers(BlockJob& job, const GptqOptions& o) {
  const BlockInputs in = block_inputs(job.visit.block().graph, job.layers);
  std::map<std::string, Hessian> hessians;  // by input key: a shared input (q, k, v) is summed once
  in.scan(job.visit, [&](const std::string& key, const at::Tensor& x) {
    Hessian& h = hessians[key];
    if (!h.sum.defined()) h.sum = at::zeros({x.size(1), x.size(1)}, at::kFloat);
    h.sum.addmm_(x.t(), x);
    h.rows += x.size(0);
  });
  for (auto& l : job.layers) {
    if (!l.plan.quantize) continue;
    const at::Tensor w = job.source.weight(l.plan.layer.weight).to(at::kFloat);
    const LayerInput* h = in.find(l.plan.layer.weight);
    if (!h || h->value.empty()) {
      l.weight = quantize_weight(w, l.plan.layer.out_axis, rtn_options(l.plan), l.plan.layer.weight);
      l.note = !h ? "not in a block GPTQ sees: RTN" : "GPTQ handles Linear/MatMul and ungrouped 2-D Conv layers: RTN";
      continue;
    }
    const Hessian& hs = hessians.at(h->key());
    const at::Tensor hessian = hs.sum / static_cast<double>(hs.rows);
    WeightQuantOptions base = rtn_options(l.plan);
    base.scale.importance = hessian.diagonal().clone();  // imatrix scales: the inputs' mean squares
    QuantizedTensor q = gptq_quantize(to_matrix(w, l.plan.layer.out_axis), hessian, base, o, l.plan.layer.weight);
    q.shape = w.sizes().vec();
    q.out_axis = l.plan.layer.out_axis;
    l.weight = std::move(q);
  }
}

GptqOptions gptq_options(const Recipe& r) {
  GptqOptions o;
  o.damp = r.option("damp").get<double>();
  o.block_size = r.option("block_size").get<int64_t>();
  o.act_order = r.option("act_order").get<bool>();
  o.static_groups = r.option("static_groups").get<bool>();
  return o;
}

Method gptq_method() {
  Method m;
  m.name = "gptq";
  m.summary = "GPTQ: column-by-column rounding with OBS error feedback from the layer's input Hessian";
  m.doc = "docs/methods/gptq.md";
  m.data = DataNeed::Calibration;
  m.data_required = true;
  m.options = {real_option("damp", 0.01, "dampening added to the Hessian diagonal, as a share of its mean", 0, 10),
               int_option("block_size", 128, "columns per lazy batch (speed only; the result is the same)", 1),
               bool_option("act_order", false, "quantize columns by decreasing input energy (Hessian diagonal)"),
               bool_option("static_groups", true,
                           "group scales from the float weight instead of the updated one (always with act_order)")};
  m.block = [](BlockJob& job) { gptq_layers(job, gptq_options(job.recipe)); };
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "outside any block: RTN", nullptr}; };
  return m;
}

}  // namespace pare::quant
