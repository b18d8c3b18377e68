#include "pare/quant/export/qdq_export.h"

#include <set>

#include "pare/error.h"
#include "pare/quant/method.h"

namespace pare::quant {

bool qdq_expressible(const QuantizedLayer& l, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (!l.plan.quantize) return true;
  if (!l.weight.terms.empty()) return no("residual expansion terms (rex) are not one QDQ weight");
  const QuantizedTensor& q = l.weight.main;
  if (q.grid.kind != GridKind::Uniform) return no(q.grid.str() + " values are not a uniform integer grid");
  if (q.granularity.kind == Granularity::Kind::Group && q.scales.size(1) > 1)
    return no("group scales (" + q.granularity.str() + ") need blocked DequantizeLinear (opset 21)");
  return true;
}

void check_qdq_export(const ir::Graph& g, const Recipe& recipe) {
  const std::string method = recipe.entry().qdq_refusal_for(recipe);
  if (!method.empty())
    throw Error("the quantized model cannot be written as QDQ ONNX: " + method)
        .hint("write a .pare package (--out FILE.pare); pare eval, info and run read it");
  for (const LayerPlan& p : plan_layers(g, recipe)) {
    if (!p.quantize || p.granularity.kind != Granularity::Kind::Group) continue;
    const at::Tensor& w = g.initializers.at(p.layer.weight);
    const int64_t per_channel = w.numel() / std::max<int64_t>(1, w.size(p.layer.out_axis));
    if (per_channel > p.granularity.group_size)
      throw Error("the quantized model cannot be written as QDQ ONNX: group scales (" + p.granularity.str() +
                  ") need blocked DequantizeLinear (opset 21)")
          .node(p.layer.node)
          .hint("write a .pare package (--out FILE.pare), or use --granularity channel for ONNX");
  }
}

ir::Graph to_qdq_graph(const ir::Graph& g, const std::vector<QuantizedLayer>& layers,
                       const std::vector<QuantizedBias>& biases) {
  for (const auto& l : layers) {
    std::string why;
    if (!qdq_expressible(l, &why))
      throw Error("the quantized model cannot be written as QDQ ONNX: " + why)
          .node(l.plan.layer.node)
          .hint("write a .pare package (--out FILE.pare)");
  }
  ir::Graph out = g.clone();
  std::set<std::string> done;
  for (const auto& l : layers) {
    if (!l.plan.quantize) continue;
    const QuantizedTensor& q = l.weight.main;
    auto id = out.find_node(l.plan.layer.node);
    PARE_ASSERT(id.has_value(), "quantized node missing from the graph");
    const std::string weight = out.nodes[*id].inputs[l.plan.layer.weight_input];
    const std::string codes = weight + "_quantized", scale = weight + "_scale", zp = weight + "_zero_point";
    const std::string deq = weight + "_dequantized";
    out.nodes[*id].inputs[l.plan.layer.weight_input] = deq;
    if (!done.insert(weight).second) continue;  // a weight shared by several layers: one DequantizeLinear
    const bool per_tensor = q.scales.numel() == 1;
    const at::ScalarType code_type = q.grid.is_signed ? at::kChar : at::kByte;
    out.initializers[codes] = from_matrix(q.codes, q.shape, q.out_axis).to(code_type);
    out.initializers[scale] = per_tensor ? q.scales.reshape({}) : q.scales.flatten().clone();
    at::Tensor z = q.zero_points.defined() ? q.zero_points : at::zeros_like(q.scales, at::kShort);
    out.initializers[zp] = (per_tensor ? z.reshape({}) : z.flatten()).to(code_type);
    ir::Node dq;
    dq.name = weight + "_DequantizeLinear";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {codes, scale, zp};
    dq.outputs = {deq};
    if (!per_tensor) dq.attrs["axis"] = ir::Attribute(q.out_axis);
    out.nodes.insert(out.nodes.begin(), dq);
    // The float weight stays only if something else still reads it.
    if (out.consumers(weight).empty() && !out.is_output(weight)) out.initializers.erase(weight);
  }
  for (const auto& b : biases) {
    auto id = out.find_node(b.node);
    PARE_ASSERT(id.has_value(), "node of a quantized bias missing from the graph");
    PARE_ASSERT(out.nodes[*id].inputs.size() > 2 && out.nodes[*id].inputs[2] == b.bias, "bias input moved");
    const std::string codes = b.bias + "_int32", scale = b.bias + "_scale", deq = b.bias + "_dequantized";
    out.initializers[codes] = b.codes;
    out.initializers[scale] = b.scale;
    ir::Node dq;
    dq.name = b.bias + "_DequantizeLinear";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {codes, scale};  // int32 codes: the zero point is 0 and may be omitted
    dq.outputs = {deq};
    dq.attrs["axis"] = ir::Attribute(int64_t{0});
    out.nodes[*id].inputs[2] = deq;
    out.nodes.insert(out.nodes.begin(), dq);
    if (out.consumers(b.bias).empty() && !out.is_output(b.bias)) out.initializers.erase(b.bias);
  }
  out.toposort();
  return out;
}

}  // namespace pare::quant
