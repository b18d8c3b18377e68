// Activation functions and the softmax family (whose axis semantics changed in opset 13).
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors relu(const OpContext&, const Tensors& in) { return {at::relu(in.at(0))}; }
Tensors sigmoid(const OpContext&, const Tensors& in) { return {at::sigmoid(in.at(0))}; }
Tensors tanh_op(const OpContext&, const Tensors& in) { return {at::tanh(in.at(0))}; }
Tensors softsign(const OpContext&, const Tensors& in) { return {in.at(0) / (in[0].abs() + 1)}; }
Tensors softplus(const OpContext&, const Tensors& in) { return {at::softplus(in.at(0), 1, 1e30)}; }
Tensors hard_swish(const OpContext&, const Tensors& in) { return {at::hardswish(in.at(0))}; }

Tensors leaky_relu(const OpContext& ctx, const Tensors& in) {
  return {at::leaky_relu(in.at(0), ctx.attr_float("alpha", 0.01))};
}
Tensors prelu(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor slope = in.at(1);
  // Before opset 7 a 1-D slope is per channel (axis 1); since then it broadcasts numpy-style.
  if (ctx.opset() < 7 && slope.dim() == 1 && slope.numel() > 1 && x.dim() >= 2) {
    std::vector<int64_t> shape(x.dim() - 1, 1);
    shape[0] = slope.numel();
    slope = slope.reshape(shape);
  }
  return {at::where(x >= 0, x, x * slope)};
}
Tensors elu(const OpContext& ctx, const Tensors& in) { return {at::elu(in.at(0), ctx.attr_float("alpha", 1.0))}; }
Tensors celu(const OpContext& ctx, const Tensors& in) { return {at::celu(in.at(0), ctx.attr_float("alpha", 1.0))}; }
Tensors selu(const OpContext& ctx, const Tensors& in) {
  const double alpha = ctx.attr_float("alpha", 1.67326319217681884765625);
  const double gamma = ctx.attr_float("gamma", 1.05070102214813232421875);
  const at::Tensor& x = in.at(0);
  return {gamma * at::where(x > 0, x, alpha * (x.exp() - 1))};
}
Tensors thresholded_relu(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  return {at::where(x > ctx.attr_float("alpha", 1.0), x, at::zeros_like(x))};
}
Tensors hard_sigmoid(const OpContext& ctx, const Tensors& in) {
  const double a = ctx.attr_float("alpha", 0.2), b = ctx.attr_float("beta", 0.5);
  return {at::clamp(in.at(0) * a + b, 0.0, 1.0)};
}
Tensors shrink(const OpContext& ctx, const Tensors& in) {
  const double lambd = ctx.attr_float("lambd", 0.5), bias = ctx.attr_float("bias", 0.0);
  const at::Tensor& x = in.at(0);
  at::Tensor y = at::where(x < -lambd, x + bias, at::where(x > lambd, x - bias, at::zeros_like(x)));
  return {y.to(x.scalar_type())};
}
Tensors gelu(const OpContext& ctx, const Tensors& in) {
  return {at::gelu(in.at(0), ctx.attr_string("approximate", "none"))};
}

Tensors clip(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  if (ctx.opset() < 11) {
    const double lo = ctx.attr_float("min", -3.4028234663852886e38), hi = ctx.attr_float("max", 3.4028234663852886e38);
    return {at::clamp(x, lo, hi)};
  }
  at::Tensor lo = opt_input(in, 1), hi = opt_input(in, 2);
  // Constant scalar bounds (ReLU6 and friends): one fused clamp pass instead of two broadcast passes.
  auto constant = [](const at::Tensor& t) { return !t.defined() || (t.numel() == 1 && !t.requires_grad()); };
  if (!lo.defined() && !hi.defined()) return {x};
  if (constant(lo) && constant(hi)) {
    c10::optional<at::Scalar> lo_s, hi_s;
    if (lo.defined()) lo_s = lo.reshape({}).item();
    if (hi.defined()) hi_s = hi.reshape({}).item();
    return {at::clamp(x, lo_s, hi_s)};
  }
  at::Tensor y = x;
  if (lo.defined()) y = at::maximum(y, lo.to(x.scalar_type()));
  if (hi.defined()) y = at::minimum(y, hi.to(x.scalar_type()));
  return {y};
}

// Softmax-family helper: opset < 13 flattens to 2-D at `axis` (default 1), opset 13+ works along `axis` (default -1).
template <int Kind>  // 0 softmax, 1 log-softmax, 2 hardmax
Tensors softmax_family(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  auto apply = [](const at::Tensor& t, int64_t dim) {
    if (Kind == 0) return at::softmax(t, dim);
    if (Kind == 1) return at::log_softmax(t, dim);
    at::Tensor idx = t.argmax(dim, true);
    return at::zeros_like(t).scatter_(dim, idx, 1.0);
  };
  if (ctx.opset() >= 13) return {apply(x, normalize_axis(ctx, ctx.attr_int("axis", -1), x.dim()))};
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), x.dim());
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
  return {apply(x.reshape({outer, -1}), 1).reshape(x.sizes())};
}

}  // namespace

void register_activation_ops(OpTable& t) {
  t.add({"Relu", 1, relu});
  t.add({"Sigmoid", 1, sigmoid});
  t.add({"Tanh", 1, tanh_op});
  t.add({"Softsign", 1, softsign});
  t.add({"Softplus", 1, softplus});
  t.add({"HardSwish", 14, hard_swish});
  t.add({"LeakyRelu", 1, leaky_relu});
  t.add({"PRelu", 1, prelu});
  t.add({"Elu", 1, elu});
  t.add({"Celu", 12, celu});
  t.add({"Selu", 1, selu});
  t.add({"ThresholdedRelu", 10, thresholded_relu});
  t.add({"HardSigmoid", 1, hard_sigmoid});
  t.add({"Shrink", 9, shrink});
  t.add({"Gelu", 20, gelu});
  t.add({"Clip", 1, clip});
  t.add({"Softmax", 1, softmax_family<0>});
  t.add({"LogSoftmax", 1, softmax_family<1>});
  t.add({"Hardmax", 1, softmax_family<2>});
}

}  // namespace pare::ops
