// Linear algebra beyond MatMul/Gemm: Einsum (on at::einsum) and Det.
#include <algorithm>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors einsum(const OpContext& ctx, const Tensors& in) {
  std::string eq = ctx.attr_string("equation", "");
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  if (eq.empty()) ctx.fail("'equation' is missing or empty");
  return {at::einsum(eq, in)};
}

Tensors det(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  if (x.dim() < 2 || x.size(-1) != x.size(-2))
    ctx.fail("input must be square matrices, got " + ir::shape_string(x.sizes()));
  return {at::linalg_det(x)};
}

}  // namespace

void register_linalg_ops(OpTable& t) {
  t.add({"Einsum", 12, einsum});
  t.add({"Det", 11, det});
}

}  // namespace pare::ops
