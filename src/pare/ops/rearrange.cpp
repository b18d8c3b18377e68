// Moving data between channels and space: DepthToSpace (DCR and CRD) and SpaceToDepth.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors depth_to_space(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t b = ctx.attr_int("blocksize");
  if (x.dim() != 4 || b < 1 || x.size(1) % (b * b) != 0)
    ctx.fail("input must be NCHW with C divisible by blocksize^2, got " + ir::shape_string(x.sizes()));
  const int64_t n = x.size(0), c = x.size(1) / (b * b), h = x.size(2), w = x.size(3);
  const std::string mode = ctx.opset() >= 11 ? ctx.attr_string("mode", "DCR") : "DCR";
  at::Tensor y;
  if (mode == "DCR")
    y = x.reshape({n, b, b, c, h, w}).permute({0, 3, 4, 1, 5, 2});
  else if (mode == "CRD")
    y = x.reshape({n, c, b, b, h, w}).permute({0, 1, 4, 2, 5, 3});
  else
    ctx.fail("unknown mode '" + mode + "'", "use DCR or CRD");
  return {y.reshape({n, c, h * b, w * b})};
}

Tensors space_to_depth(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t b = ctx.attr_int("blocksize");
  if (x.dim() != 4 || b < 1 || x.size(2) % b != 0 || x.size(3) % b != 0)
    ctx.fail("input must be NCHW with H and W divisible by blocksize, got " + ir::shape_string(x.sizes()));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2) / b, w = x.size(3) / b;
  return {x.reshape({n, c, h, b, w, b}).permute({0, 3, 5, 1, 2, 4}).reshape({n, c * b * b, h, w})};
}

}  // namespace

void register_rearrange_ops(OpTable& t) {
  t.add({"DepthToSpace", 1, depth_to_space});
  t.add({"SpaceToDepth", 1, space_to_depth});
}

}  // namespace pare::ops
