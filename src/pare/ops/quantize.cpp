// QuantizeLinear / DequantizeLinear (per-tensor and per-axis, int8/uint8) and DynamicQuantizeLinear.
// Rounding is half-to-even and saturating, as ONNX specifies.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

// Reshapes a 1-D per-axis parameter so it broadcasts along `axis` of a rank-`rank` tensor.
at::Tensor along_axis(const at::Tensor& p, int64_t axis, int64_t rank) {
  if (p.dim() == 0 || p.numel() == 1) return p.reshape({});
  std::vector<int64_t> shape(rank, 1);
  shape[axis] = p.numel();
  return p.reshape(shape);
}

// The axis a per-axis scale runs along; per-tensor (scalar) scales ignore 'axis', so any rank works.
int64_t per_axis_dim(const OpContext& ctx, const at::Tensor& x, const at::Tensor& scale) {
  if (scale.dim() == 0 || scale.numel() == 1) return 0;
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), x.dim());
  if (scale.dim() != 1 || scale.numel() != x.size(axis))
    ctx.fail("per-axis scale has " + std::to_string(scale.numel()) + " values for axis " + std::to_string(axis) +
                 " of size " + std::to_string(x.size(axis)),
             "the scale must be a scalar or 1-D of the axis' size");
  return axis;
}

Tensors quantize_linear(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor scale = in.at(1);
  at::Tensor zp = opt_input(in, 2);
  const at::ScalarType out_type = zp.defined() ? zp.scalar_type() : at::kByte;
  if (out_type != at::kByte && out_type != at::kChar) ctx.fail("only int8 and uint8 outputs are supported");
  const int64_t axis = per_axis_dim(ctx, x, scale);
  scale = along_axis(scale, axis, x.dim());
  at::Tensor z = zp.defined() ? along_axis(zp, axis, x.dim()).to(at::kFloat) : at::zeros({}, at::kFloat);
  const double lo = out_type == at::kByte ? 0 : -128, hi = out_type == at::kByte ? 255 : 127;
  at::Tensor q = at::round(x.to(at::kFloat) / scale.to(at::kFloat)) + z;  // at::round is half-to-even
  return {q.clamp(lo, hi).to(out_type)};
}

Tensors dequantize_linear(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor scale = in.at(1);
  at::Tensor zp = opt_input(in, 2);
  const int64_t axis = per_axis_dim(ctx, x, scale);
  scale = along_axis(scale, axis, x.dim());
  at::Tensor xf = x.to(at::kFloat);
  if (zp.defined()) xf = xf - along_axis(zp, axis, x.dim()).to(at::kFloat);
  return {(xf * scale).to(scale.scalar_type())};
}

Tensors dynamic_quantize_linear(const OpContext&, const Tensors& in) {
  const at::Tensor x = in.at(0).to(at::kFloat);
  // Range always includes 0 so that 0 is exactly representable.
  const double lo = std::min(0.0, x.min().item<double>()), hi = std::max(0.0, x.max().item<double>());
  double scale = (hi - lo) / 255.0;
  at::Tensor s = at::scalar_tensor(scale, at::kFloat);
  float zp_f = scale == 0 ? 0.f : static_cast<float>(std::nearbyint(std::clamp(-lo / scale, 0.0, 255.0)));
  at::Tensor q = scale == 0 ? at::zeros_like(x) : at::round(x / s) + zp_f;
  return {q.clamp(0, 255).to(at::kByte), s, at::scalar_tensor(zp_f, at::kFloat).to(at::kByte)};
}

}  // namespace

void register_quantize_ops(OpTable& t) {
  t.add({"QuantizeLinear", 10, quantize_linear});
  t.add({"DequantizeLinear", 10, dequantize_linear});
  t.add({"DynamicQuantizeLinear", 11, dynamic_quantize_linear});
}

}  // namespace pare::ops
