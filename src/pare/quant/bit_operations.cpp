#include "pare/quant/bit_operations.h"

#include "pare/error.h"
#include "pare/exec/executor.h"
#include "pare/ir/dtype.h"

namespace pare::quant {

std::map<std::string, double> layer_macs(const ir::Graph& g, const std::vector<LayerPlan>& plans) {
  ir::Graph copy = g.clone();
  exec::Executor ex(copy);
  std::map<std::string, std::string> node_of_output;  // output value -> node
  std::map<std::string, double> reduction;            // node -> weight elements per output channel
  for (const auto& p : plans) {
    auto id = copy.find_node(p.layer.node);
    if (!id) continue;
    node_of_output[copy.nodes[*id].outputs.at(0)] = p.layer.node;
    const at::Tensor& w = copy.initializers.at(p.layer.weight);
    const int64_t o = w.dim() > 1 ? w.size(p.layer.out_axis) : w.numel();
    reduction[p.layer.node] = static_cast<double>(w.numel()) / static_cast<double>(std::max<int64_t>(1, o));
  }
  std::map<std::string, double> macs;
  ex.add_hook("*", [&](const std::string& name, const at::Tensor& v) {
    auto it = node_of_output.find(name);
    if (it != node_of_output.end()) macs[it->second] = static_cast<double>(v.numel()) * reduction[it->second];
  });
  std::vector<at::Tensor> feeds;
  for (const auto& in : copy.inputs) {
    if (!in.shape) throw Error("cannot count MACs: graph input has no declared shape").tensor(in.name);
    std::vector<int64_t> dims;
    for (const auto& d : *in.shape) dims.push_back(d.known() ? d.value : 1);
    feeds.push_back(at::zeros(dims, at::TensorOptions().dtype(ir::to_scalar_type(in.dtype))));
  }
  ex.run(feeds);
  return macs;
}

BitOperations bit_operations(const std::vector<QuantizedLayer>& layers, const std::map<std::string, double>& macs) {
  BitOperations b;
  for (const auto& l : layers) {
    auto it = macs.find(l.plan.layer.node);
    if (it == macs.end()) continue;
    const double m = it->second, abits = l.plan.abits > 0 ? l.plan.abits : 32;
    if (l.expands.empty()) {  // the model as it was, before PIPE copied layers into members
      b.macs += m;
      b.int8_bops += m * 8 * abits;
    }
    b.bops += l.plan.quantize ? m * l.weight.main.grid.bits * abits * l.weight.cost_factor() : m * 32 * abits;
  }
  return b;
}

}  // namespace pare::quant
