// Tensors built from shapes and indices: EyeLike, OneHot, Trilu.
#include "pare/ir/dtype.h"
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors eye_like(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  if (x.dim() != 2) ctx.fail("input must be 2-D, got " + ir::shape_string(x.sizes()));
  const at::ScalarType type =
      ctx.has_attr("dtype") ? ir::to_scalar_type(static_cast<ir::DType>(ctx.attr_int("dtype"))) : x.scalar_type();
  const int64_t k = ctx.attr_int("k", 0);
  at::Tensor r = at::arange(x.size(0), at::kLong).unsqueeze(1);
  at::Tensor c = at::arange(x.size(1), at::kLong).unsqueeze(0);
  return {(c - r).eq(k).to(type)};
}

Tensors one_hot(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& indices = in.at(0);
  const at::Tensor& values = in.at(2);  // [off, on]
  const int64_t depth = static_cast<int64_t>(in.at(1).to(at::kDouble).reshape(-1)[0].item<double>());
  if (depth < 1) ctx.fail("depth must be positive, got " + std::to_string(depth));
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), indices.dim() + 1);
  at::Tensor idx = indices.to(at::kDouble).floor().to(at::kLong);  // float indices are allowed
  idx = at::where(idx < 0, idx + depth, idx).unsqueeze(axis);
  std::vector<int64_t> shape(indices.dim() + 1, 1);
  shape[axis] = depth;
  at::Tensor hot = idx.eq(at::arange(depth, at::kLong).reshape(shape));
  at::Tensor v = values.reshape(-1);
  return {at::where(hot, v[1], v[0])};
}

Tensors trilu(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t k = has_input(in, 1) ? in[1].reshape(-1)[0].item<int64_t>() : 0;
  if (x.dim() < 2) ctx.fail("input must have rank >= 2");
  return {ctx.attr_int("upper", 1) ? at::triu(x, k) : at::tril(x, k)};
}

}  // namespace

void register_generate_ops(OpTable& t) {
  t.add({"EyeLike", 9, eye_like});
  t.add({"OneHot", 9, one_hot});
  t.add({"Trilu", 14, trilu});
}

}  // namespace pare::ops
