// BatchNormalization (inference and training mode), LayerNormalization, InstanceNormalization, LRN.
// In training mode the executor's BatchNorm uses batch statistics and updates the running ones in place.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors batch_norm(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const at::Tensor &scale = in.at(1), &bias = in.at(2);
  at::Tensor mean = in.at(3), var = in.at(4);
  const double eps = ctx.attr_float("epsilon", 1e-5);
  // ONNX momentum weighs the old running value; torch's weighs the new batch value.
  const double momentum = ctx.attr_float("momentum", 0.9);
  const bool training = ctx.training() || ctx.attr_int("training_mode", 0) != 0;
  if (x.dim() < 2) ctx.fail("input must have rank >= 2", "got " + ir::shape_string(x.sizes()));
  if (x.size(1) != scale.numel())
    ctx.fail("input has " + std::to_string(x.size(1)) + " channels but scale has " + std::to_string(scale.numel()));
  if (!training) return {at::batch_norm(x, scale, bias, mean, var, false, 0.0, eps, false)};
  if (ctx.training()) {
    // Executor training: update the graph's running statistics in place (they are the initializers).
    at::Tensor y = at::batch_norm(x, scale, bias, mean, var, true, 1.0 - momentum, eps, false);
    return {y};
  }
  // training_mode=1 inside an inference run: outputs the updated statistics, leaves inputs intact.
  std::vector<int64_t> dims{0};
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  at::Tensor bmean = x.mean(dims);
  at::Tensor bvar = x.var(dims, /*unbiased=*/false);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = x.size(1);
  at::Tensor y =
      (x - bmean.reshape(shape)) / (bvar.reshape(shape) + eps).sqrt() * scale.reshape(shape) + bias.reshape(shape);
  at::Tensor rmean = mean * momentum + bmean * (1 - momentum);
  at::Tensor rvar = var * momentum + bvar * (1 - momentum);
  return {y, rmean, rvar};
}

Tensors layer_norm(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.dim());
  const double eps = ctx.attr_float("epsilon", 1e-5);
  const bool want_stats = ctx.node().outputs.size() > 1;
  at::Tensor scale = in.at(1), bias = opt_input(in, 2);
  std::vector<int64_t> norm_shape(x.sizes().begin() + axis, x.sizes().end());
  if (!want_stats && scale.sizes() == at::IntArrayRef(norm_shape) && (!bias.defined() || bias.sizes() == scale.sizes()))
    return {at::layer_norm(x, norm_shape, scale, bias, eps)};
  std::vector<int64_t> dims;
  for (int64_t i = axis; i < x.dim(); ++i) dims.push_back(i);
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor mean = xf.mean(dims, true);
  at::Tensor inv_std = (xf.var(dims, false, true) + eps).rsqrt();
  at::Tensor y = ((xf - mean) * inv_std).to(x.scalar_type()) * scale;
  if (bias.defined()) y = y + bias;
  return {y, mean, inv_std};
}

Tensors instance_norm(const OpContext& ctx, const Tensors& in) {
  const double eps = ctx.attr_float("epsilon", 1e-5);
  return {at::instance_norm(in.at(0), in.at(1), in.at(2), {}, {}, true, 0.0, eps, false)};
}

Tensors lrn(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const double alpha = ctx.attr_float("alpha", 1e-4), beta = ctx.attr_float("beta", 0.75),
               bias = ctx.attr_float("bias", 1.0);
  const int64_t size = ctx.attr_int("size");
  // square_sum[c] = sum over c' in [c - floor((size-1)/2), c + ceil((size-1)/2)] of x[c']^2
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  at::Tensor sq = (x * x).unsqueeze(1);  // [N, 1, C, ...]
  std::vector<int64_t> pad(2 * (x.dim() - 1), 0);
  pad[pad.size() - 2] = lo;
  pad[pad.size() - 1] = hi;
  at::Tensor padded = at::constant_pad_nd(sq, pad, 0.0).squeeze(1);
  at::Tensor sum = at::zeros_like(x);
  for (int64_t k = 0; k < size; ++k) sum = sum + padded.narrow(1, k, x.size(1));
  return {x / (bias + alpha / static_cast<double>(size) * sum).pow(beta)};
}

// MeanVarianceNormalization: (x - mean) / (std + 1e-9) over `axes`, as the ONNX function body computes it.
Tensors mean_variance_norm(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> axes = ctx.attr_ints("axes", {0, 2, 3});
  for (auto& a : axes) a = normalize_axis(ctx, a, x.dim());
  at::Tensor mean = x.mean(axes, true);
  at::Tensor var = (x * x).mean(axes, true) - mean * mean;
  return {(x - mean) / (at::sqrt(var) + 1e-9)};
}

}  // namespace

void register_normalization_ops(OpTable& t) {
  t.add({"BatchNormalization", 1, batch_norm});
  t.add({"LayerNormalization", 17, layer_norm});
  t.add({"InstanceNormalization", 1, instance_norm});
  t.add({"LRN", 1, lrn});
  t.add({"MeanVarianceNormalization", 9, mean_variance_norm});
}

}  // namespace pare::ops
