// Gemm (with transA/transB, alpha, beta, broadcast C), MatMul and MatMulInteger.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

bool is_half(const at::Tensor& t);
Tensors gemm_float(const OpContext& ctx, const Tensors& in);

Tensors gemm(const OpContext& ctx, const Tensors& in) {
  if (!is_half(in.at(0))) return gemm_float(ctx, in);
  Tensors up;
  for (const auto& t : in) up.push_back(t.defined() ? t.to(at::kFloat) : t);
  return {gemm_float(ctx, up)[0].to(at::kHalf)};
}

Tensors gemm_float(const OpContext& ctx, const Tensors& in) {
  at::Tensor a = in.at(0), b = in.at(1);
  at::Tensor c = opt_input(in, 2);
  if (a.dim() != 2 || b.dim() != 2)
    ctx.fail("A and B must be matrices", "got A " + ir::shape_string(a.sizes()) + ", B " + ir::shape_string(b.sizes()));
  if (ctx.attr_int("transA", 0)) a = a.t();
  if (ctx.attr_int("transB", 0)) b = b.t();
  const double alpha = ctx.attr_float("alpha", 1.0), beta = ctx.attr_float("beta", 1.0);
  if (a.size(1) != b.size(0))
    ctx.fail("inner dimensions differ: " + ir::shape_string(a.sizes()) + " x " + ir::shape_string(b.sizes()),
             "check the input's feature count (flatten before a fully connected layer?)");
  if (c.defined() && beta != 0.0) {
    if (alpha == 1.0 && beta == 1.0 && c.dim() <= 2) return {at::addmm(c, a, b)};
    return {at::addmm(c, a, b, beta, alpha)};
  }
  at::Tensor y = at::mm(a, b);
  return {alpha == 1.0 ? y : y * alpha};
}

// CPU libtorch 1.13 has no float16 matmul: compute half-precision products in float32, round once.
bool is_half(const at::Tensor& t) { return t.scalar_type() == at::kHalf; }

Tensors matmul(const OpContext&, const Tensors& in) {
  const at::Tensor &a = in.at(0), &b = in.at(1);
  if (is_half(a) || is_half(b)) return {at::matmul(a.to(at::kFloat), b.to(at::kFloat)).to(a.scalar_type())};
  return {at::matmul(a, b)};
}

Tensors matmul_integer(const OpContext&, const Tensors& in) {
  at::Tensor a = in.at(0).to(at::kInt), b = in.at(1).to(at::kInt);
  if (has_input(in, 2)) {
    at::Tensor az = in[2].to(at::kInt);
    a = a - (az.dim() == 1 && az.numel() > 1 ? az.unsqueeze(-1) : az);  // per-row zero point of A
  }
  if (has_input(in, 3)) b = b - in[3].to(at::kInt);  // per-column zero point of B broadcasts over rows
  // Exact int32 result via float64 (libtorch has no integer matmul on CPU for all shapes).
  return {at::matmul(a.to(at::kDouble), b.to(at::kDouble)).round().to(at::kInt)};
}

}  // namespace

void register_matmul_ops(OpTable& t) {
  t.add({"Gemm", 1, gemm});
  t.add({"MatMul", 1, matmul});
  t.add({"MatMulInteger", 10, matmul_integer});
}

}  // namespace pare::ops
