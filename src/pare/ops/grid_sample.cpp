// GridSample (opset 16): bilinear / nearest / bicubic sampling at grid positions, on at::grid_sampler.
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors grid_sample(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const at::Tensor& grid = in.at(1);
  if (x.dim() != 4 || grid.dim() != 4 || grid.size(3) != 2)
    ctx.fail("X must be [N, C, H, W] and grid [N, H_out, W_out, 2], got " + ir::shape_string(x.sizes()) + " and " +
             ir::shape_string(grid.sizes()));
  const std::string mode = ctx.attr_string("mode", "bilinear"), pad = ctx.attr_string("padding_mode", "zeros");
  const int64_t m = mode == "bilinear" ? 0 : mode == "nearest" ? 1 : mode == "bicubic" ? 2 : -1;
  const int64_t p = pad == "zeros" ? 0 : pad == "border" ? 1 : pad == "reflection" ? 2 : -1;
  if (m < 0) ctx.fail("unknown mode '" + mode + "'", "use bilinear, nearest or bicubic");
  if (p < 0) ctx.fail("unknown padding_mode '" + pad + "'", "use zeros, border or reflection");
  return {at::grid_sampler(x, grid.to(x.scalar_type()), m, p, ctx.attr_int("align_corners", 0) != 0)};
}

}  // namespace

void register_grid_sample_ops(OpTable& t) { t.add({"GridSample", 16, grid_sample}); }

}  // namespace pare::ops
