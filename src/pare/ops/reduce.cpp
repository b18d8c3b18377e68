// Reductions (ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare) and ArgMax/ArgMin.
// `axes` is an attribute before opset 18, except ReduceSum where it became an input at opset 13.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

enum class Reduce { Mean, Sum, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

template <Reduce R>
Tensors reduce(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const bool axes_input = (R == Reduce::Sum && ctx.opset() >= 13) || ctx.opset() >= 18;
  std::vector<int64_t> axes =
      axes_input ? (has_input(in, 1) ? to_int_vector(in[1]) : std::vector<int64_t>{}) : ctx.attr_ints("axes", {});
  const bool keep = ctx.attr_int("keepdims", 1) != 0;
  if (axes.empty()) {
    if (axes_input && ctx.attr_int("noop_with_empty_axes", 0)) return {x};
    for (int64_t i = 0; i < x.dim(); ++i) axes.push_back(i);
  }
  for (auto& a : axes) a = normalize_axis(ctx, a, x.dim());
  std::sort(axes.begin(), axes.end());
  auto over = [&](auto fn) {  // applies a single-axis reduction over every axis, last first
    at::Tensor y = x;
    for (auto it = axes.rbegin(); it != axes.rend(); ++it) y = fn(y, *it);
    return y;
  };
  if (x.numel() == 0 && (R == Reduce::Max || R == Reduce::Min)) ctx.fail("cannot reduce an empty tensor");
  switch (R) {
    case Reduce::Mean:
      return {x.mean(axes, keep)};
    case Reduce::Sum:
      return {x.sum(axes, keep, x.scalar_type())};
    case Reduce::Max:
      return {over([&](const at::Tensor& t, int64_t a) { return std::get<0>(t.max(a, keep)); })};
    case Reduce::Min:
      return {over([&](const at::Tensor& t, int64_t a) { return std::get<0>(t.min(a, keep)); })};
    case Reduce::Prod:
      return {over([&](const at::Tensor& t, int64_t a) { return t.prod(a, keep, x.scalar_type()); })};
    case Reduce::L1:
      return {x.abs().sum(axes, keep, x.scalar_type())};
    case Reduce::L2:
      return {(x * x).sum(axes, keep).sqrt().to(x.scalar_type())};
    case Reduce::LogSum:
      return {x.sum(axes, keep).log()};
    case Reduce::LogSumExp:
      return {at::logsumexp(x, axes, keep)};
    case Reduce::SumSquare:
      return {(x * x).sum(axes, keep, x.scalar_type())};
  }
  return {};
}

template <bool Max>
Tensors arg_reduce(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.dim());
  const bool keep = ctx.attr_int("keepdims", 1) != 0;
  if (ctx.attr_int("select_last_index", 0)) {
    // Flip, take the first extreme, map back.
    at::Tensor f = x.flip(axis);
    at::Tensor i = Max ? f.argmax(axis, keep) : f.argmin(axis, keep);
    return {x.size(axis) - 1 - i};
  }
  return {Max ? x.argmax(axis, keep) : x.argmin(axis, keep)};
}

}  // namespace

void register_reduce_ops(OpTable& t) {
  t.add({"ReduceMean", 1, reduce<Reduce::Mean>});
  t.add({"ReduceSum", 1, reduce<Reduce::Sum>});
  t.add({"ReduceMax", 1, reduce<Reduce::Max>});
  t.add({"ReduceMin", 1, reduce<Reduce::Min>});
  t.add({"ReduceProd", 1, reduce<Reduce::Prod>});
  t.add({"ReduceL1", 1, reduce<Reduce::L1>});
  t.add({"ReduceL2", 1, reduce<Reduce::L2>});
  t.add({"ReduceLogSum", 1, reduce<Reduce::LogSum>});
  t.add({"ReduceLogSumExp", 1, reduce<Reduce::LogSumExp>});
  t.add({"ReduceSumSquare", 1, reduce<Reduce::SumSquare>});
  t.add({"ArgMax", 1, arg_reduce<true>});
  t.add({"ArgMin", 1, arg_reduce<false>});
}

}  // namespace pare::ops
