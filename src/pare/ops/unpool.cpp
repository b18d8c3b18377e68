// MaxUnpool: places values at the flat indices a MaxPool returned; an explicit output_shape larger
// than the default pads at the end of each spatial axis (indices keep their coordinates).
#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors max_unpool(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const at::Tensor& idx = in.at(1);
  const int64_t nsp = x.dim() - 2;
  std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  if (nsp < 1 || kernel.size() != static_cast<size_t>(nsp) || strides.size() != kernel.size() ||
      pads.size() != 2 * kernel.size())
    ctx.fail("kernel_shape, strides and pads must match the " + std::to_string(nsp) + " spatial axes");
  if (idx.sizes() != x.sizes()) ctx.fail("indices must have the shape of X");
  std::vector<int64_t> shape{x.size(0), x.size(1)};
  int64_t total = x.size(0) * x.size(1);
  for (int64_t i = 0; i < nsp; ++i) {
    shape.push_back((x.size(2 + i) - 1) * strides[i] + kernel[i] - pads[i] - pads[i + nsp]);
    total *= shape.back();
  }
  at::Tensor y = at::zeros({total}, x.options()).index_put({idx.reshape(-1).to(at::kLong)}, x.reshape(-1));
  y = y.reshape(shape);
  if (has_input(in, 2)) {
    std::vector<int64_t> want = to_int_vector(in[2]);
    if (want.size() != shape.size()) ctx.fail("output_shape must have one entry per axis of X");
    std::vector<int64_t> grow(2 * nsp, 0);
    for (int64_t i = 0; i < nsp; ++i) {
      if (want[2 + i] < shape[2 + i]) ctx.fail("output_shape is smaller than the unpooled size");
      grow[2 * (nsp - 1 - i) + 1] = want[2 + i] - shape[2 + i];
    }
    y = at::constant_pad_nd(y, grow, 0);
  }
  return {y};
}

}  // namespace

void register_unpool_ops(OpTable& t) { t.add({"MaxUnpool", 9, max_unpool}); }

}  // namespace pare::ops
