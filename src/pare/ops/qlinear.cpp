// Integer-arithmetic quantized ops: ConvInteger, QLinearConv, QLinearMatMul. Accumulation is exact
// (double holds every int32 sum); requantization rounds half to even and saturates, as ONNX specifies.
#include "pare/ops/op_table.h"
#include "pare/ops/padding.h"

namespace pare::ops {
namespace {

// (q - zero_point) in double; a per-channel zero point runs along `axis`.
at::Tensor centered(const at::Tensor& q, const at::Tensor& zp, int64_t axis) {
  at::Tensor x = q.to(at::kDouble);
  if (!zp.defined() || zp.numel() == 0) return x;
  at::Tensor z = zp.to(at::kDouble);
  if (z.numel() > 1 && q.dim() > 0) {
    std::vector<int64_t> shape(q.dim(), 1);
    shape[axis] = z.numel();
    z = z.reshape(shape);
  } else {
    z = z.reshape({});
  }
  return x - z;
}

// Convolution of already centered double tensors with the node's Conv attributes.
at::Tensor conv_exact(const OpContext& ctx, const at::Tensor& x, const at::Tensor& w) {
  const int64_t nsp = x.dim() - 2;
  if (nsp < 1 || w.dim() != x.dim()) ctx.fail("input and weight must have the same rank >= 3");
  std::vector<int64_t> kernel =
      ctx.attr_ints("kernel_shape", std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> dil = ctx.attr_ints("dilations", std::vector<int64_t>(nsp, 1));
  const int64_t groups = ctx.attr_int("group", 1);
  Padding p = resolve_padding(ctx, x.sizes().slice(2), kernel, strides, dil);
  // Padding is applied to the centered input, i.e. it stands for the zero point, as ONNX defines.
  at::Tensor xin = pad_spatial(x, p);
  return at::convolution(xin, w, {}, strides, std::vector<int64_t>(nsp, 0), dil, false, std::vector<int64_t>(nsp, 0),
                         groups);
}

// round_half_even(acc * scale / y_scale) + y_zp, saturated to y_zp's type (uint8 by default).
at::Tensor requantize(const at::Tensor& acc, const at::Tensor& scale, const at::Tensor& y_scale,
                      const at::Tensor& y_zp) {
  const at::ScalarType type = y_zp.defined() ? y_zp.scalar_type() : at::kByte;
  const double lo = type == at::kByte ? 0 : -128, hi = type == at::kByte ? 255 : 127;
  at::Tensor y = at::round(acc * (scale / y_scale.to(at::kDouble)));
  if (y_zp.defined()) y = y + y_zp.to(at::kDouble);
  return y.clamp(lo, hi).to(type);
}

Tensors conv_integer(const OpContext& ctx, const Tensors& in) {
  at::Tensor x = centered(in.at(0), opt_input(in, 2), 1);
  at::Tensor w = centered(in.at(1), opt_input(in, 3), 0);
  return {conv_exact(ctx, x, w).to(at::kInt)};
}

Tensors qlinear_conv(const OpContext& ctx, const Tensors& in) {
  at::Tensor x = centered(in.at(0), in.at(2), 1);
  at::Tensor w = centered(in.at(3), in.at(5), 0);
  at::Tensor acc = conv_exact(ctx, x, w);
  std::vector<int64_t> per_channel(acc.dim(), 1);
  per_channel[1] = -1;
  if (has_input(in, 8)) acc = acc + in[8].to(at::kDouble).reshape(per_channel);
  at::Tensor scale = in.at(1).to(at::kDouble).reshape({}) * in.at(4).to(at::kDouble);  // per tensor or per M
  scale = scale.numel() > 1 ? scale.reshape(per_channel) : scale.reshape({});
  return {requantize(acc, scale, in.at(6), in.at(7))};
}

Tensors qlinear_matmul(const OpContext&, const Tensors& in) {
  // a: [..., M, K] with a per-tensor or per-row (M) scale/zero point; b: [..., K, N], per-column (N).
  const at::Tensor& a = in.at(0);
  auto rows = [&](const at::Tensor& p) {
    return p.numel() > 1 ? p.to(at::kDouble).reshape({-1, 1}) : p.to(at::kDouble).reshape({});
  };
  at::Tensor ac = a.to(at::kDouble) - rows(in.at(2));
  at::Tensor bc = in.at(3).to(at::kDouble) - in.at(5).to(at::kDouble).reshape(in.at(5).numel() > 1 ? -1 : 1).squeeze();
  at::Tensor acc = at::matmul(ac, bc);
  at::Tensor scale = rows(in.at(1)) * in.at(4).to(at::kDouble).reshape(in.at(4).numel() > 1 ? -1 : 1).squeeze();
  return {requantize(acc, scale, in.at(6), in.at(7))};
}

}  // namespace

void register_qlinear_ops(OpTable& t) {
  t.add({"ConvInteger", 10, conv_integer});
  t.add({"QLinearConv", 10, qlinear_conv});
  t.add({"QLinearMatMul", 10, qlinear_matmul});
}

}  // namespace pare::ops
