// Binary, variadic and comparison/logic elementwise ops with NumPy broadcasting (opset 7+), and the
// legacy axis/broadcast attributes of opset < 7 where a model still uses them.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

// Opset < 7 limited broadcast: `broadcast=1` aligns B with A starting at `axis`.
at::Tensor legacy_broadcast(const OpContext& ctx, const at::Tensor& a, at::Tensor b) {
  if (ctx.opset() >= 7 || ctx.attr_int("broadcast", 0) == 0 || !ctx.has_attr("axis")) return b;
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis"), a.dim());
  while (b.dim() < a.dim() - axis) b = b.unsqueeze(-1);
  return b;
}

bool is_int(const at::Tensor& t) { return at::isIntegralType(t.scalar_type(), /*includeBool=*/false); }

Tensors add(const OpContext& ctx, const Tensors& in) { return {in.at(0) + legacy_broadcast(ctx, in[0], in.at(1))}; }
Tensors sub(const OpContext& ctx, const Tensors& in) { return {in.at(0) - legacy_broadcast(ctx, in[0], in.at(1))}; }
Tensors mul(const OpContext& ctx, const Tensors& in) { return {in.at(0) * legacy_broadcast(ctx, in[0], in.at(1))}; }
Tensors div(const OpContext& ctx, const Tensors& in) {
  at::Tensor b = legacy_broadcast(ctx, in[0], in.at(1));
  if (is_int(in[0])) return {at::div(in[0], b, "trunc")};  // integer division truncates (C semantics)
  return {in[0] / b};
}

Tensors pow(const OpContext&, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor y = in.at(1);
  if (at::isFloatingType(x.scalar_type()) && y.scalar_type() != x.scalar_type()) y = y.to(x.scalar_type());
  at::Tensor r = at::pow(x, y);
  return {r.to(x.scalar_type())};  // ONNX: the result has the type of the base
}

Tensors mod(const OpContext& ctx, const Tensors& in) {
  if (ctx.attr_int("fmod", 0)) return {at::fmod(in.at(0), in.at(1))};
  if (!is_int(in[0])) ctx.fail("fmod=0 requires integer inputs", "set fmod=1 for floating-point inputs");
  return {at::remainder(in[0], in.at(1))};  // sign follows the divisor, like Python's %
}

template <at::Tensor (*Fn)(const at::Tensor&, const at::Tensor&)>
Tensors variadic(const OpContext& ctx, const Tensors& in) {
  if (in.empty()) ctx.fail("needs at least one input");
  at::Tensor acc = in[0];
  for (size_t i = 1; i < in.size(); ++i) acc = Fn(acc, in[i]);
  return {acc};
}
at::Tensor max2(const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }
at::Tensor min2(const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }
at::Tensor sum2(const at::Tensor& a, const at::Tensor& b) { return a + b; }

Tensors mean(const OpContext& ctx, const Tensors& in) {
  at::Tensor s = variadic<sum2>(ctx, in)[0];
  return {s / static_cast<double>(in.size())};
}

Tensors equal(const OpContext&, const Tensors& in) { return {at::eq(in.at(0), in.at(1))}; }
Tensors less(const OpContext&, const Tensors& in) { return {at::lt(in.at(0), in.at(1))}; }
Tensors less_equal(const OpContext&, const Tensors& in) { return {at::le(in.at(0), in.at(1))}; }
Tensors greater(const OpContext&, const Tensors& in) { return {at::gt(in.at(0), in.at(1))}; }
Tensors greater_equal(const OpContext&, const Tensors& in) { return {at::ge(in.at(0), in.at(1))}; }
Tensors logical_and(const OpContext&, const Tensors& in) { return {at::logical_and(in.at(0), in.at(1))}; }
Tensors logical_or(const OpContext&, const Tensors& in) { return {at::logical_or(in.at(0), in.at(1))}; }
Tensors logical_xor(const OpContext&, const Tensors& in) { return {at::logical_xor(in.at(0), in.at(1))}; }
Tensors logical_not(const OpContext&, const Tensors& in) { return {at::logical_not(in.at(0))}; }
Tensors where(const OpContext&, const Tensors& in) { return {at::where(in.at(0), in.at(1), in.at(2))}; }

Tensors bit_shift(const OpContext& ctx, const Tensors& in) {
  const std::string dir = ctx.attr_string("direction", "");
  if (dir == "LEFT") return {at::bitwise_left_shift(in.at(0), in.at(1))};
  if (dir == "RIGHT") return {at::bitwise_right_shift(in.at(0), in.at(1))};
  ctx.fail("'direction' must be LEFT or RIGHT");
}

}  // namespace

void register_elementwise_ops(OpTable& t) {
  for (int v : {1, 7}) {
    t.add({"Add", v, add});
    t.add({"Sub", v, sub});
    t.add({"Mul", v, mul});
    t.add({"Div", v, div});
  }
  t.add({"Pow", 1, pow});
  t.add({"Mod", 10, mod});
  t.add({"Max", 1, variadic<max2>});
  t.add({"Min", 1, variadic<min2>});
  t.add({"Sum", 1, variadic<sum2>});
  t.add({"Mean", 1, mean});
  t.add({"Equal", 1, equal});
  t.add({"Less", 1, less});
  t.add({"LessOrEqual", 12, less_equal});
  t.add({"Greater", 1, greater});
  t.add({"GreaterOrEqual", 12, greater_equal});
  t.add({"And", 1, logical_and});
  t.add({"Or", 1, logical_or});
  t.add({"Xor", 1, logical_xor});
  t.add({"Not", 1, logical_not});
  t.add({"Where", 9, where});
  t.add({"BitShift", 11, bit_shift});
}

}  // namespace pare::ops
