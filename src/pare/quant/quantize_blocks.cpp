#include "pare/quant/quantize_blocks.h"

#include <set>

#include "pare/blocks/block_driver.h"
#include "pare/blocks/graph_blocks.h"
#include "pare/error.h"
#include "pare/quant/importance_block.h"
#include "pare/quant/method.h"
#include "pare/quant/output_fisher.h"
#include "pare/quant/weight_stats.h"

namespace pare::quant {

namespace {

// A layer of `plan` over float weight `w`, before quantization.
QuantizedLayer planned_layer(const at::Tensor& w, const LayerPlan& plan) {
  QuantizedLayer l;
  l.plan = plan;
  l.numel = w.numel();
  l.float_bytes = static_cast<double>(w.numel() * w.element_size());
  return l;
}

// The error measure and weight statistics of a quantized layer against its float weight `x` (float32).
void measure(QuantizedLayer& l, const at::Tensor& x) {
  const double norm = x.pow(2).sum().item<double>();
  const double err = (l.weight.dequantize() - x).pow(2).sum().item<double>();
  l.relative_error = norm > 0 ? err / norm : 0.0;
  l.kurtosis = excess_kurtosis(x);
}

// A method that learns, on one block: it sets the planned layers' weights from the block's inputs (and may
// change float weights); the changed floats and the dequantized weights then go into the block, for the
// quantized path of the blocks after it.
std::vector<QuantizedLayer> learn_block(blocks::BlockVisit& v, const blocks::BlockSource& source,
                                        const std::vector<const LayerPlan*>& plans, const Recipe& recipe,
                                        const BlockWeightsOptions& o, std::map<std::string, at::Tensor>& floats) {
  std::vector<QuantizedLayer> layers;
  for (const LayerPlan* p : plans) layers.push_back(planned_layer(source.weight(p->layer.weight), *p));
  BlockJob job{v, source, layers, recipe, o.activations, o.output_fisher};
  block_hook(recipe)(job);
  for (const auto& [name, value] : job.floats) source.set_weight(v.block(), name, value);
  for (auto& l : layers) {
    if (!l.plan.quantize) continue;
    PARE_ASSERT(l.weight.main.codes.defined(), "a block method left a planned layer unquantized");
    const auto changed = job.floats.find(l.plan.layer.weight);
    measure(l, changed != job.floats.end() ? changed->second.to(at::kFloat)
                                           : source.weight(l.plan.layer.weight).to(at::kFloat));
    source.set_weight(v.block(), l.plan.layer.weight, l.weight.dequantize());
  }
  floats = std::move(job.floats);
  return layers;
}

}  // namespace

std::function<void(BlockJob&)> block_hook(const Recipe& recipe) {
  const Method& m = recipe.entry();
  if (m.block) return m.block;
  if (recipe.learns()) return importance_block;
  return {};
}

QuantizedLayer quantize_layer(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                              const nlohmann::json& prepared, const at::Tensor& importance) {
  QuantizedLayer l = planned_layer(w, plan);
  if (!plan.quantize) return l;
  const Method& m = recipe.entry();
  if (!m.weight)
    throw Error("method " + m.name + " quantizes whole blocks from calibration data, not single weights")
        .node(plan.layer.node);
  const at::Tensor x = w.to(at::kFloat);
  try {
    LayerWeight lw = m.weight(WeightJob{x, plan, recipe, prepared, importance});
    l.weight = std::move(lw.weight);
    l.note = std::move(lw.note);
    l.fields = std::move(lw.fields);
  } catch (Error& e) {
    throw e.node(plan.layer.node);
  }
  measure(l, x);
  return l;
}

void quantize_blocks(const blocks::BlockSource& source, const std::vector<LayerPlan>& plans, const Recipe& recipe,
                     const BlockWeightsOptions& o) {
  const Method& m = recipe.entry();
  const bool learns = recipe.learns();
  blocks::DriveOptions d;
  if (learns) {
    if (o.batches.empty())
      throw Error(m.block ? "method " + m.name + " learns from calibration data"
                          : "weight_scale imatrix weighs each input channel by its calibration activations")
          .hint("pass --calib SPEC");
    d.streams = blocks::Streams::FloatAndQuantized;
    d.batches = o.batches;
  } else {
    d.skip = o.skip;  // weights-only work can resume; a data stream cannot skip a block
  }
  d.progress = o.progress;
  d.visit = [&](blocks::BlockVisit& v) {
    const std::vector<std::string> names = source.weights(v.index());
    const std::set<std::string> held(names.begin(), names.end());
    std::vector<const LayerPlan*> planned;
    for (const auto& p : plans)
      if (held.count(p.layer.weight)) planned.push_back(&p);
    std::vector<QuantizedLayer> layers;
    std::map<std::string, at::Tensor> floats;
    if (learns) {
      layers = learn_block(v, source, planned, recipe, o, floats);
    } else {
      for (const LayerPlan* p : planned)
        layers.push_back(quantize_layer(source.weight(p->layer.weight), *p, recipe, o.prepared));
    }
    if (o.sink) o.sink(v.index(), std::move(layers), std::move(floats));
  };
  blocks::drive(source, std::move(d));
}

std::vector<QuantizedLayer> quantize_weights(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                             const std::function<void(size_t, size_t)>& progress, const Recipe& recipe,
                                             const std::vector<blocks::Values>& batches,
                                             std::map<std::string, at::Tensor>* floats,
                                             std::vector<ActivationQuant>* activations) {
  const Method& m = recipe.entry();
  BlockWeightsOptions o;
  o.batches = batches;
  o.activations = activations;
  if (const auto& prepare = recipe.entry().prepare) {
    std::vector<std::pair<const at::Tensor*, const LayerPlan*>> all;
    for (const auto& p : plans) all.emplace_back(&g.initializers.at(p.layer.weight), &p);
    o.prepared = prepare(all, recipe);
  }
  std::set<std::string> nodes;
  for (const auto& p : plans) nodes.insert(p.layer.node);
  // A method that learns sees the graph's residual blocks (or layers) one at a time; the others need no blocks.
  const blocks::Partition partition = !recipe.learns()                     ? blocks::Partition::Whole
                                      : m.layerwise && m.layerwise(recipe) ? blocks::Partition::Layers
                                                                           : blocks::Partition::Blocks;
  const blocks::GraphBlocks source(g, partition, nodes);
  std::map<std::string, std::vector<at::Tensor>> fisher;
  if (m.block && m.output_fisher && m.output_fisher(recipe) && !batches.empty()) {
    std::set<std::string> outs;
    for (int64_t k = 0; k < source.size(); ++k)
      for (const auto& name : source.build(k).outputs) outs.insert(name);
    fisher = output_fisher(g, {outs.begin(), outs.end()}, batches);
    o.output_fisher = &fisher;
  }
  std::vector<QuantizedLayer> out;
  o.sink = [&](int64_t, std::vector<QuantizedLayer>&& layers, std::map<std::string, at::Tensor>&& changed) {
    if (floats)
      for (auto& [name, value] : changed) (*floats)[name] = std::move(value);
    for (auto& l : layers) {
      out.push_back(std::move(l));
      if (progress) progress(out.size(), plans.size());
    }
  };
  quantize_blocks(source, plans, recipe, o);
  return out;
}

}  // namespace pare::quant
