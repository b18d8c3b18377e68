// Elementwise unary math ops (no attributes): one line each over the matching ATen function.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

#define PARE_UNARY(NAME, EXPR)                        \
  Tensors NAME(const OpContext&, const Tensors& in) { \
    const at::Tensor& x = in.at(0);                   \
    return {EXPR};                                    \
  }

PARE_UNARY(abs_op, x.abs())
PARE_UNARY(neg_op, x.neg())
PARE_UNARY(exp_op, x.exp())
PARE_UNARY(log_op, x.log())
PARE_UNARY(sqrt_op, x.sqrt())
PARE_UNARY(reciprocal_op, x.reciprocal())
PARE_UNARY(floor_op, x.floor())
PARE_UNARY(ceil_op, x.ceil())
PARE_UNARY(round_op, x.round())  // round half to even, as ONNX specifies
PARE_UNARY(sign_op, x.sign())
PARE_UNARY(sin_op, x.sin())
PARE_UNARY(cos_op, x.cos())
PARE_UNARY(tan_op, x.tan())
PARE_UNARY(asin_op, x.asin())
PARE_UNARY(acos_op, x.acos())
PARE_UNARY(atan_op, x.atan())
PARE_UNARY(sinh_op, x.sinh())
PARE_UNARY(cosh_op, x.cosh())
PARE_UNARY(asinh_op, x.asinh())
PARE_UNARY(acosh_op, x.acosh())
PARE_UNARY(atanh_op, x.atanh())
PARE_UNARY(erf_op, x.erf())
PARE_UNARY(isnan_op, x.isnan())
PARE_UNARY(identity_op, x)
PARE_UNARY(bitwise_not_op, x.bitwise_not())
#undef PARE_UNARY

Tensors isinf_op(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const bool pos = ctx.attr_int("detect_positive", 1) != 0, neg = ctx.attr_int("detect_negative", 1) != 0;
  if (pos && neg) return {x.isinf()};
  if (pos) return {x.isposinf()};
  if (neg) return {x.isneginf()};
  return {at::zeros_like(x, x.options().dtype(at::kBool))};
}

}  // namespace

void register_unary_ops(OpTable& t) {
  t.add({"Abs", 1, abs_op});
  t.add({"Neg", 1, neg_op});
  t.add({"Exp", 1, exp_op});
  t.add({"Log", 1, log_op});
  t.add({"Sqrt", 1, sqrt_op});
  t.add({"Reciprocal", 1, reciprocal_op});
  t.add({"Floor", 1, floor_op});
  t.add({"Ceil", 1, ceil_op});
  t.add({"Round", 11, round_op});
  t.add({"Sign", 9, sign_op});
  t.add({"Sin", 7, sin_op});
  t.add({"Cos", 7, cos_op});
  t.add({"Tan", 7, tan_op});
  t.add({"Asin", 7, asin_op});
  t.add({"Acos", 7, acos_op});
  t.add({"Atan", 7, atan_op});
  t.add({"Sinh", 9, sinh_op});
  t.add({"Cosh", 9, cosh_op});
  t.add({"Asinh", 9, asinh_op});
  t.add({"Acosh", 9, acosh_op});
  t.add({"Atanh", 9, atanh_op});
  t.add({"Erf", 9, erf_op});
  t.add({"IsNaN", 9, isnan_op});
  t.add({"IsInf", 10, isinf_op});
  t.add({"Identity", 1, identity_op});
  t.add({"BitwiseNot", 18, bitwise_not_op});
}

}  // namespace pare::ops
