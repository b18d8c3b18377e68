// Conv and ConvTranspose (1-D to 3-D, groups, dilations, auto_pad), on at::convolution.
#include <algorithm>

#include "pare/ops/op_table.h"
#include "pare/ops/padding.h"

namespace pare::ops {
namespace {

// NHWC copies of a 4-D float input and weight when the executor asks for channels-last computing.
std::pair<at::Tensor, at::Tensor> memory_format_for(const OpContext& ctx, const at::Tensor& x, const at::Tensor& w) {
  if (!ctx.channels_last() || x.dim() != 4 || x.scalar_type() != at::kFloat) return {x, w};
  return {x.contiguous(at::MemoryFormat::ChannelsLast), w.contiguous(at::MemoryFormat::ChannelsLast)};
}

Tensors conv(const OpContext& ctx, const Tensors& in) {
  const auto [x, w] = memory_format_for(ctx, in.at(0), in.at(1));
  at::Tensor b = opt_input(in, 2);
  const int64_t nsp = x.dim() - 2;
  if (nsp < 1 || w.dim() != x.dim())
    ctx.fail("input and weight must have the same rank >= 3",
             "got input " + ir::shape_string(x.sizes()) + " and weight " + ir::shape_string(w.sizes()));
  std::vector<int64_t> kernel =
      ctx.attr_ints("kernel_shape", std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> dil = ctx.attr_ints("dilations", std::vector<int64_t>(nsp, 1));
  const int64_t groups = ctx.attr_int("group", 1);
  if (x.size(1) != w.size(1) * groups)
    ctx.fail("input has " + std::to_string(x.size(1)) + " channels but the weight expects " +
                 std::to_string(w.size(1) * groups),
             "check the input shape: " + ir::shape_string(x.sizes()));
  Padding p = resolve_padding(ctx, x.sizes().slice(2), kernel, strides, dil);
  at::Tensor xin = x;
  std::vector<int64_t> pad = p.begin;
  if (!p.symmetric()) {
    xin = pad_spatial(x, p);
    pad.assign(nsp, 0);
  }
  return {at::convolution(xin, w, b, strides, pad, dil, false, std::vector<int64_t>(nsp, 0), groups)};
}

Tensors conv_transpose(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const at::Tensor& w = in.at(1);  // [C_in, C_out/group, k...]
  at::Tensor b = opt_input(in, 2);
  const int64_t nsp = x.dim() - 2;
  std::vector<int64_t> kernel =
      ctx.attr_ints("kernel_shape", std::vector<int64_t>(w.sizes().begin() + 2, w.sizes().end()));
  std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> dil = ctx.attr_ints("dilations", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> out_pad = ctx.attr_ints("output_padding", std::vector<int64_t>(nsp, 0));
  const int64_t groups = ctx.attr_int("group", 1);
  std::vector<int64_t> begin(nsp, 0), end(nsp, 0);
  std::vector<int64_t> pads = ctx.attr_ints("pads", {});
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> out_shape = ctx.attr_ints("output_shape", {});
  if (!out_shape.empty() && out_shape.size() == static_cast<size_t>(nsp + 2))
    out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  // Full (unpadded) output size along each spatial dim.
  auto full = [&](int64_t i) { return strides[i] * (x.size(2 + i) - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1; };
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int64_t i = 0; i < nsp; ++i) {
      const int64_t target = out_shape.empty() ? x.size(2 + i) * strides[i] : out_shape[i];
      const int64_t total = full(i) - target;
      if (total < 0) {  // output_shape beyond the full output: extra zero positions at the end (as output_padding)
        end[i] = total;
        continue;
      }
      const bool upper = auto_pad != "SAME_LOWER";  // ONNX: output_shape given -> like SAME_UPPER
      begin[i] = upper ? total / 2 : total - total / 2;
      end[i] = total - begin[i];
    }
  } else if (!pads.empty()) {
    if (pads.size() != static_cast<size_t>(2 * nsp)) ctx.fail("'pads' has the wrong length");
    for (int64_t i = 0; i < nsp; ++i) {
      begin[i] = pads[i];
      end[i] = pads[i + nsp];
    }
  }
  const bool grow = std::any_of(end.begin(), end.end(), [](int64_t e) { return e < 0; });
  at::Tensor y =
      at::convolution(x, w, grow ? at::Tensor() : b, strides, std::vector<int64_t>(nsp, 0), dil, true, out_pad, groups);
  // Crop begin/end (torch's `padding` only crops symmetrically); a negative end grows the output.
  for (int64_t i = 0; i < nsp; ++i)
    if (end[i] < 0) {
      std::vector<int64_t> widen(2 * nsp, 0);
      widen[2 * (nsp - 1 - i) + 1] = -end[i];  // constant_pad_nd lists the last dim first
      y = at::constant_pad_nd(y, widen, 0);
    } else if (begin[i] || end[i]) {
      y = y.narrow(2 + i, begin[i], y.size(2 + i) - begin[i] - end[i]);
    }
  if (grow && b.defined()) {
    std::vector<int64_t> shape(nsp + 2, 1);
    shape[1] = b.numel();
    y = y + b.reshape(shape);
  }
  return {y};
}

}  // namespace

void register_conv_ops(OpTable& t) {
  t.add({"Conv", 1, conv});
  t.add({"ConvTranspose", 1, conv_transpose});
}

}  // namespace pare::ops
