#include "pare/quant/importance_block.h"

#include <map>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/quant/layer_inputs.h"

namespace pare::quant {

void importance_block(BlockJob& job) {
  const BlockInputs in = block_inputs(job.visit.block().graph, job.layers);
  std::map<std::string, std::pair<at::Tensor, int64_t>> squares;  // by input key: sum of x^2, rows
  in.scan(job.visit, [&](const std::string& key, const at::Tensor& x) {
    auto& [sum, rows] = squares[key];
    const at::Tensor s = x.pow(2).sum(0);
    sum = sum.defined() ? sum + s : s;
    rows += x.size(0);
  });
  const Method& m = job.recipe.entry();
  PARE_ASSERT(static_cast<bool>(m.weight), "imatrix scales need a weight operator");
  for (auto& l : job.layers) {
    if (!l.plan.quantize) continue;
    const at::Tensor w = job.source.weight(l.plan.layer.weight).to(at::kFloat);
    const LayerInput* li = in.find(l.plan.layer.weight);
    at::Tensor importance;
    if (li && !li->value.empty()) {
      const auto& [sum, rows] = squares.at(li->key());
      importance = sum / static_cast<double>(std::max<int64_t>(rows, 1));
    }
    try {
      LayerWeight lw = m.weight(WeightJob{w, l.plan, job.recipe, nullptr, importance});
      l.weight = std::move(lw.weight);
      l.note = std::move(lw.note);
      l.fields = std::move(lw.fields);
    } catch (Error& e) {
      throw e.node(l.plan.layer.node);
    }
    if (!importance.defined())
      l.note += std::string(l.note.empty() ? "" : "; ") + "no input rows for imatrix: mse scales";
  }
}

}  // namespace pare::quant
