// Order-based ops: TopK (ties keep the lower index, as ONNX requires) and Unique.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors topk(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t k = ctx.opset() < 10 ? ctx.attr_int("k") : in.at(1).reshape(-1)[0].item<int64_t>();
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.dim());
  const bool largest = ctx.opset() < 11 || ctx.attr_int("largest", 1) != 0;
  if (k < 0 || k > x.size(axis))
    ctx.fail("k = " + std::to_string(k) + " is out of range for an axis of size " + std::to_string(x.size(axis)));
  // A stable sort keeps equal values in index order, so ties resolve to the lower index.
  auto [values, indices] = at::sort(x, true, axis, largest);
  return {values.narrow(axis, 0, k), indices.narrow(axis, 0, k)};
}

Tensors unique(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const bool sorted = ctx.attr_int("sorted", 1) != 0;
  const bool has_axis = ctx.has_attr("axis");
  at::Tensor y, inverse, counts;
  int64_t axis = 0;
  at::Tensor src = x;
  if (has_axis) {
    axis = normalize_axis(ctx, ctx.attr_int("axis"), x.dim());
    std::tie(y, inverse, counts) = at::unique_dim(x, axis, true, true, true);
  } else {
    src = x.reshape(-1);
    std::tie(y, inverse, counts) = at::_unique2(src, true, true, true);
  }
  const int64_t n = src.size(axis), u = y.size(axis);
  inverse = inverse.reshape(-1);
  // First occurrence of each unique value: a stable sort of the inverse map puts it first in its group.
  auto [grouped, order] = at::sort(inverse, true, 0, false);
  at::Tensor starts = at::ones({n}, at::kBool);
  if (n > 1) starts.narrow(0, 1, n - 1).copy_(grouped.narrow(0, 1, n - 1).ne(grouped.narrow(0, 0, n - 1)));
  at::Tensor first = order.masked_select(starts);
  if (!sorted) {  // order by first occurrence instead of by value
    at::Tensor perm = at::argsort(first);
    y = y.index_select(axis, perm);
    counts = counts.index_select(0, perm);
    first = first.index_select(0, perm);
    at::Tensor rank = at::empty_like(perm).index_put_({perm}, at::arange(u, at::kLong));
    inverse = rank.index_select(0, inverse);
  }
  return {y, first, inverse, counts};
}

}  // namespace

void register_sort_ops(OpTable& t) {
  t.add({"TopK", 1, topk});
  t.add({"Unique", 11, unique});
}

}  // namespace pare::ops
