#include "pare/quant/quantize_blocks.h"

#include <set>

#include "pare/blocks/block_driver.h"
#include "pare/blocks/graph_blocks.h"
#include "pare/error.h"
#include "pare/quant/method.h"
#include "pare/quant/weight_stats.h"

namespace pare::quant {

QuantizedLayer quantize_layer(const at::Tensor& w, const LayerPlan& plan, const Recipe& recipe,
                              const nlohmann::json& prepared) {
  QuantizedLayer l;
  l.plan = plan;
  l.numel = w.numel();
  l.float_bytes = static_cast<double>(w.numel() * w.element_size());
  if (!plan.quantize) return l;
  const at::Tensor x = w.to(at::kFloat);
  try {
    LayerWeight lw = recipe.entry().weight(WeightJob{x, plan, recipe, prepared});
    l.weight = std::move(lw.weight);
    l.note = std::move(lw.note);
    l.fields = std::move(lw.fields);
  } catch (Error& e) {
    throw e.node(plan.layer.node);
  }
  const double norm = x.pow(2).sum().item<double>();
  const double err = (l.weight.dequantize() - x).pow(2).sum().item<double>();
  l.relative_error = norm > 0 ? err / norm : 0.0;
  l.kurtosis = excess_kurtosis(x);
  return l;
}

void quantize_blocks(const blocks::BlockSource& source, const std::vector<LayerPlan>& plans, const Recipe& recipe,
                     const BlockWeightsOptions& o) {
  blocks::DriveOptions d;
  d.skip = o.skip;
  d.progress = o.progress;
  d.visit = [&](blocks::BlockVisit& v) {
    const std::vector<std::string> names = source.weights(v.index());
    const std::set<std::string> held(names.begin(), names.end());
    std::vector<QuantizedLayer> layers;
    for (const auto& p : plans)
      if (held.count(p.layer.weight))
        layers.push_back(quantize_layer(source.weight(p.layer.weight), p, recipe, o.prepared));
    if (o.sink) o.sink(v.index(), std::move(layers));
  };
  blocks::drive(source, std::move(d));
}

std::vector<QuantizedLayer> quantize_weights(const ir::Graph& g, const std::vector<LayerPlan>& plans,
                                             const std::function<void(size_t, size_t)>& progress,
                                             const Recipe& recipe) {
  BlockWeightsOptions o;
  if (const auto& prepare = recipe.entry().prepare) {
    std::vector<std::pair<const at::Tensor*, const LayerPlan*>> all;
    for (const auto& p : plans) all.emplace_back(&g.initializers.at(p.layer.weight), &p);
    o.prepared = prepare(all, recipe);
  }
  std::set<std::string> nodes;
  for (const auto& p : plans) nodes.insert(p.layer.node);
  const blocks::GraphBlocks source(g, blocks::Partition::Whole, nodes);
  std::vector<QuantizedLayer> out;
  o.sink = [&](int64_t, std::vector<QuantizedLayer>&& layers) {
    for (auto& l : layers) {
      out.push_back(std::move(l));
      if (progress) progress(out.size(), plans.size());
    }
  };
  quantize_blocks(source, plans, recipe, o);
  return out;
}

}  // namespace pare::quant
