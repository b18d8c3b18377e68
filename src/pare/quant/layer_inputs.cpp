#include "pare/quant/layer_inputs.h"

#include "pare/blocks/block_driver.h"

namespace pare::quant {
namespace {

std::vector<int64_t> ints(const ir::Node& n, const std::string& key, std::vector<int64_t> fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->ints : fallback;
}

}  // namespace

LayerInput layer_input(const ir::Graph& g, const QuantizableLayer& l) {
  const ir::Node& n = g.nodes[*g.find_node(l.node)];
  LayerInput r;
  r.node = n.name;
  const std::string x = l.activation_input >= 0 ? n.inputs[static_cast<size_t>(l.activation_input)] : "";
  if (n.op_type == "MatMul" && l.weight_input == 1) {
    r.value = x;
  } else if (n.op_type == "Gemm" && !(n.attr("transA") && n.attr("transA")->i)) {
    r.value = x;
  } else if (n.op_type == "Conv" && (!n.attr("group") || n.attr("group")->i == 1) &&
             g.initializers.at(l.weight).dim() == 4 && (!n.attr("auto_pad") || n.attr("auto_pad")->s == "NOTSET")) {
    r.value = x, r.conv = &n;
  } else {
    r.why_not = "only Linear/MatMul and ungrouped 2-D Conv layers have input rows";
  }
  return r;
}

at::Tensor layer_rows(const at::Tensor& x, const LayerInput& r, const at::Tensor& weight) {
  if (!r.conv) return x.reshape({-1, x.size(-1)}).to(at::kFloat);
  const std::vector<int64_t> pads = ints(*r.conv, "pads", {0, 0, 0, 0}), strides = ints(*r.conv, "strides", {1, 1}),
                             dil = ints(*r.conv, "dilations", {1, 1});
  const at::Tensor padded = at::constant_pad_nd(x.to(at::kFloat), {pads[1], pads[3], pads[0], pads[2]});
  const at::Tensor cols = at::im2col(padded, {weight.size(2), weight.size(3)}, dil, {0, 0}, strides);
  return cols.transpose(1, 2).reshape({-1, cols.size(1)});  // [N * L, C * kh * kw]
}

const LayerInput* BlockInputs::find(const std::string& weight) const {
  const auto it = by_weight.find(weight);
  return it == by_weight.end() ? nullptr : &it->second;
}

void BlockInputs::scan(blocks::BlockVisit& v,
                       const std::function<void(const std::string& key, const at::Tensor& rows)>& fn) const {
  std::vector<std::string> watch;
  for (const auto& [k, w] : first) watch.push_back(by_weight.at(w).value);
  if (watch.empty()) return;
  for (int64_t b = 0; b < v.batches(); ++b) {
    const blocks::Values seen = v.capture(v.quantized_inputs(b), watch);
    for (const auto& [k, w] : first) {
      const LayerInput& in = by_weight.at(w);
      fn(k, layer_rows(seen.at(in.value), in, graph->initializers.at(w)));
    }
  }
}

BlockInputs block_inputs(const ir::Graph& g, const std::vector<QuantizedLayer>& layers) {
  BlockInputs r;
  r.graph = &g;
  std::map<std::string, QuantizableLayer> in_block;
  for (const auto& l : find_quantizable(g)) in_block[l.weight] = l;
  for (const auto& l : layers) {
    const auto it = in_block.find(l.plan.layer.weight);
    if (!l.plan.quantize || it == in_block.end()) continue;
    const LayerInput in = layer_input(g, it->second);
    r.by_weight[l.plan.layer.weight] = in;
    if (!in.value.empty()) r.first.emplace(in.key(), l.plan.layer.weight);
  }
  return r;
}

}  // namespace pare::quant
