#include "pare/quant/methods/gptq.h"

#include <map>

#include "pare/blocks/block_driver.h"
#include "pare/error.h"
#include "pare/quant/methods/all_methods.h"
#include "pare/quant/methods/rtn.h"
#include "pare/quant/quantizable.h"

namespace pare::quant {
namespace {

std::vector<int64_t> ints(const ir::Node& n, const std::string& key, std::vector<int64_t> fallback) {
  const ir::Attribute* a = n.attr(key);
  return a ? a->ints : fallback;
}

// How a layer's input rows are read: the value it reads and, for a convolution, its unfolding; empty `value`
// when GPTQ does not handle the layer.
struct InputRows {
  std::string value, why_not;
  const ir::Node* conv = nullptr;
};

InputRows input_rows(const ir::Graph& g, const QuantizableLayer& l) {
  const ir::Node& n = g.nodes[*g.find_node(l.node)];
  InputRows r;
  const std::string x = l.activation_input >= 0 ? n.inputs[static_cast<size_t>(l.activation_input)] : "";
  if (n.op_type == "MatMul" && l.weight_input == 1) {
    r.value = x;
  } else if (n.op_type == "Gemm" && !(n.attr("transA") && n.attr("transA")->i)) {
    r.value = x;
  } else if (n.op_type == "Conv" && (!n.attr("group") || n.attr("group")->i == 1) &&
             g.initializers.at(l.weight).dim() == 4 && (!n.attr("auto_pad") || n.attr("auto_pad")->s == "NOTSET")) {
    r.value = x, r.conv = &n;
  } else {
    r.why_not = "GPTQ handles Linear/MatMul and ungrouped 2-D Conv layers: RTN";
  }
  return r;
}

// A batch of a layer's inputs as [rows, R] in the reduction order of the weight's matrix view.
at::Tensor rows_of(const at::Tensor& x, const InputRows& r, const at::Tensor& weight) {
  if (!r.conv) return x.reshape({-1, x.size(-1)}).to(at::kFloat);
  const std::vector<int64_t> pads = ints(*r.conv, "pads", {0, 0, 0, 0}), strides = ints(*r.conv, "strides", {1, 1}),
                             dil = ints(*r.conv, "dilations", {1, 1});
  const at::Tensor padded = at::constant_pad_nd(x.to(at::kFloat), {pads[1], pads[3], pads[0], pads[2]});
  const at::Tensor cols = at::im2col(padded, {weight.size(2), weight.size(3)}, dil, {0, 0}, strides);
  return cols.transpose(1, 2).reshape({-1, cols.size(1)});  // [N * L, C * kh * kw]
}

struct Hessian {
  at::Tensor sum;
  int64_t rows = 0;
};

// The block hook: Hessians from one pass over the quantized-prefix inputs, then the solver per layer.
void gptq_block(BlockJob& job) {
  blocks::BlockVisit& v = job.visit;
  const ir::Graph& g = v.block().graph;
  std::map<std::string, QuantizableLayer> in_block;
  for (const auto& l : find_quantizable(g)) in_block[l.weight] = l;
  std::map<std::string, InputRows> how;     // by weight
  std::map<std::string, Hessian> hessians;  // by input key: a shared input (q, k, v) is summed once
  auto key = [&](const std::string& w) { return how[w].conv ? how[w].conv->name : how[w].value; };
  std::vector<std::string> watch;
  for (auto& l : job.layers) {
    const auto it = in_block.find(l.plan.layer.weight);
    if (!l.plan.quantize || it == in_block.end()) continue;
    how[l.plan.layer.weight] = input_rows(g, it->second);
    if (!how[l.plan.layer.weight].value.empty()) watch.push_back(how[l.plan.layer.weight].value);
  }
  std::map<std::string, std::string> first;  // input key -> one weight that reads it
  for (const auto& [w, r] : how)
    if (!r.value.empty()) first.emplace(key(w), w);
  for (int64_t b = 0; b < v.batches(); ++b) {
    const blocks::Values seen = v.capture(v.quantized_inputs(b), watch);
    for (const auto& [k, w] : first) {
      const at::Tensor x = rows_of(seen.at(how[w].value), how[w], g.initializers.at(w));
      Hessian& h = hessians[k];
      if (!h.sum.defined()) h.sum = at::zeros({x.size(1), x.size(1)}, at::kFloat);
      h.sum.addmm_(x.t(), x);
      h.rows += x.size(0);
    }
  }
  const GptqOptions o = gptq_options(job.recipe);
  for (auto& l : job.layers) {
    if (!l.plan.quantize) continue;
    const at::Tensor w = job.source.weight(l.plan.layer.weight).to(at::kFloat);
    const auto h = how.find(l.plan.layer.weight);
    if (h == how.end() || h->second.value.empty()) {
      l.weight = quantize_weight(w, l.plan.layer.out_axis, rtn_options(l.plan), l.plan.layer.weight);
      l.note = h == how.end() ? "not in a block GPTQ sees: RTN" : h->second.why_not;
      continue;
    }
    const Hessian& hs = hessians.at(key(l.plan.layer.weight));
    QuantizedTensor q = gptq_quantize(to_matrix(w, l.plan.layer.out_axis), hs.sum / static_cast<double>(hs.rows),
                                      rtn_options(l.plan), o, l.plan.layer.weight);
    q.shape = w.sizes().vec();
    q.out_axis = l.plan.layer.out_axis;
    l.weight = std::move(q);
  }
}

}  // namespace

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
  m.block = gptq_block;
  m.weight = [](const WeightJob& job) { return LayerWeight{rtn_weight(job), "outside any block: RTN", nullptr}; };
  return m;
}

}  // namespace pare::quant
