// Data-dependent selection: NonZero, Compress, CumSum, ReverseSequence.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors non_zero(const OpContext&, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  if (x.dim() == 0) return {at::nonzero(x.reshape({1})).t()};
  return {at::nonzero(x).t().contiguous()};
}

Tensors compress(const OpContext& ctx, const Tensors& in) {
  at::Tensor x = in.at(0);
  at::Tensor cond = in.at(1).to(at::kBool).reshape(-1);
  int64_t axis = 0;
  if (ctx.has_attr("axis"))
    axis = normalize_axis(ctx, ctx.attr_int("axis"), x.dim());
  else
    x = x.reshape(-1);
  const int64_t len = std::min(cond.size(0), x.size(axis));  // a shorter condition keeps only its length
  at::Tensor keep = at::nonzero(cond.narrow(0, 0, len)).reshape(-1);
  return {x.index_select(axis, keep)};
}

Tensors cum_sum(const OpContext& ctx, const Tensors& in) {
  at::Tensor x = in.at(0);
  const int64_t axis = normalize_axis(ctx, in.at(1).reshape(-1)[0].item<int64_t>(), x.dim());
  const bool reverse = ctx.attr_int("reverse", 0) != 0, exclusive = ctx.attr_int("exclusive", 0) != 0;
  if (reverse) x = x.flip(axis);
  at::Tensor y = at::cumsum(x, axis, x.scalar_type());
  if (exclusive && x.size(axis) > 0) {  // shift by one, starting from 0
    std::vector<int64_t> pad(2 * x.dim(), 0);
    pad[2 * (x.dim() - 1 - axis)] = 1;
    y = at::constant_pad_nd(y.narrow(axis, 0, x.size(axis) - 1), pad, 0);
  }
  return {reverse ? y.flip(axis) : y};
}

Tensors reverse_sequence(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t time_axis = ctx.attr_int("time_axis", 0), batch_axis = ctx.attr_int("batch_axis", 1);
  if (x.dim() < 2 || (time_axis != 0 && time_axis != 1) || batch_axis != 1 - time_axis)
    ctx.fail("time_axis and batch_axis must be 0 and 1 (either way round) of an input of rank >= 2");
  const int64_t steps = x.size(time_axis);
  at::Tensor lens = in.at(1).to(at::kLong).reshape({1, -1});
  at::Tensor t = at::arange(steps, at::kLong).unsqueeze(1);
  at::Tensor idx = at::where(t < lens, lens - 1 - t, t);  // [T, B]
  if (time_axis == 1) idx = idx.t();
  std::vector<int64_t> shape(idx.sizes().begin(), idx.sizes().end());
  shape.resize(x.dim(), 1);
  return {x.gather(time_axis, idx.reshape(shape).expand(x.sizes()))};
}

}  // namespace

void register_select_ops(OpTable& t) {
  t.add({"NonZero", 9, non_zero});
  t.add({"Compress", 9, compress});
  t.add({"CumSum", 11, cum_sum});
  t.add({"ReverseSequence", 10, reverse_sequence});
}

}  // namespace pare::ops
