// MaxPool, AveragePool, LpPool and their global forms. Asymmetric pads are applied explicitly
// (-inf for max, zeros for average with count_include_pad, otherwise a divisor correction).
#include <limits>

#include "pare/ops/op_table.h"
#include "pare/ops/padding.h"

namespace pare::ops {
namespace {

struct PoolGeometry {
  std::vector<int64_t> kernel, strides, dilations;
  Padding pad;
  bool ceil_mode;
};

PoolGeometry pool_geometry(const OpContext& ctx, const at::Tensor& x) {
  const int64_t nsp = x.dim() - 2;
  if (nsp < 1) ctx.fail("input must have rank >= 3", "got " + ir::shape_string(x.sizes()));
  PoolGeometry g;
  g.kernel = ctx.attr_ints("kernel_shape");
  if (static_cast<int64_t>(g.kernel.size()) != nsp) ctx.fail("'kernel_shape' must have one entry per spatial dim");
  g.strides = ctx.attr_ints("strides", std::vector<int64_t>(nsp, 1));
  g.dilations = ctx.attr_ints("dilations", std::vector<int64_t>(nsp, 1));
  g.ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  g.pad = resolve_padding(ctx, x.sizes().slice(2), g.kernel, g.strides, g.dilations);
  return g;
}

// With ceil_mode, torch drops a last window that starts inside the end padding; ONNX keeps windows
// that start inside input+begin pad. Compute the ONNX output size to pad the end explicitly when needed.
int64_t onnx_out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil) {
  const int64_t eff = (k - 1) * d + 1;
  const int64_t num = in + pb + pe - eff;
  return (ceil ? (num + s - 1) / s : num / s) + 1;
}

Tensors max_pool(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  PoolGeometry g = pool_geometry(ctx, x);
  const int64_t nsp = x.dim() - 2;
  const bool column_major = ctx.attr_int("storage_order", 0) != 0;
  if (column_major && nsp != 2 && ctx.node().outputs.size() > 1 && !ctx.node().outputs[1].empty())
    ctx.fail("storage_order=1 (column-major indices) is supported for 2-D pools only");
  const bool want_indices = ctx.node().outputs.size() > 1 && !ctx.node().outputs[1].empty();
  // Fast path: torch pads and pools in one kernel when its window rule gives ONNX's output size
  // (symmetric pads of at most half a kernel; torch drops a ceil-mode window that starts in the padding).
  if (nsp == 2 && !want_indices && at::isFloatingType(x.scalar_type()) && g.pad.symmetric()) {
    bool same = true;
    for (int64_t i = 0; i < nsp && same; ++i) {
      const int64_t in_size = x.size(2 + i), k = g.kernel[i], s = g.strides[i], d = g.dilations[i],
                    pad = g.pad.begin[i];
      const int64_t num = in_size + 2 * pad - d * (k - 1) - 1;
      int64_t torch_out = (g.ceil_mode ? (num + s - 1) / s : num / s) + 1;
      if (g.ceil_mode && (torch_out - 1) * s >= in_size + pad) --torch_out;
      same = 2 * pad <= k && num >= 0 && torch_out == onnx_out_size(in_size, k, s, d, pad, pad, g.ceil_mode);
    }
    if (same) return {at::max_pool2d(x, g.kernel, g.strides, g.pad.begin, g.dilations, g.ceil_mode)};
  }
  // Explicit padding with -inf, then a pool without padding: exact for any pads / ceil_mode.
  Padding p = g.pad;
  for (int64_t i = 0; i < nsp; ++i) {
    int64_t out =
        onnx_out_size(x.size(2 + i), g.kernel[i], g.strides[i], g.dilations[i], p.begin[i], p.end[i], g.ceil_mode);
    int64_t need = (out - 1) * g.strides[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t have = x.size(2 + i) + p.begin[i] + p.end[i];
    if (need > have) p.end[i] += need - have;  // windows past the end see only -inf padding
  }
  bool padded = false;
  for (int64_t i = 0; i < nsp; ++i) padded |= p.begin[i] || p.end[i];
  const bool is_float = at::isFloatingType(x.scalar_type());
  at::Tensor xin = x;
  if (!is_float) xin = x.to(at::kFloat);  // int8/uint8 max pools (opset 12+); exact in float for 8-bit
  if (padded && !want_indices) xin = pad_spatial(xin, p, -std::numeric_limits<double>::infinity());
  std::vector<int64_t> zero(nsp, 0);
  at::Tensor y, idx;
  if (want_indices) {
    // Indices refer to the unpadded input: let torch pad symmetrically when it can.
    if (!p.symmetric()) ctx.fail("indices output with asymmetric padding is not supported");
    if (nsp == 2)
      std::tie(y, idx) = at::max_pool2d_with_indices(xin, g.kernel, g.strides, p.begin, g.dilations, false);
    else if (nsp == 3)
      std::tie(y, idx) = at::max_pool3d_with_indices(xin, g.kernel, g.strides, p.begin, g.dilations, false);
    else {
      auto r = at::max_pool2d_with_indices(xin.unsqueeze(-1), {g.kernel[0], 1}, {g.strides[0], 1}, {p.begin[0], 0},
                                           {g.dilations[0], 1}, false);
      y = std::get<0>(r).squeeze(-1);
      idx = std::get<1>(r).squeeze(-1);
    }
    if (column_major) {  // row-major h*W+w within the plane -> column-major h+w*H
      const int64_t H = x.size(2), W = x.size(3);
      idx = at::div(idx, W, "floor") + at::remainder(idx, W) * H;
    }
    // torch indices are per (n, c) plane; ONNX flattens over the whole tensor.
    int64_t plane = 1;
    for (int64_t i = 2; i < x.dim(); ++i) plane *= x.size(i);
    at::Tensor base = at::arange(x.size(0) * x.size(1), idx.options()).reshape({x.size(0), x.size(1)}) * plane;
    for (int64_t i = 2; i < idx.dim(); ++i) base = base.unsqueeze(-1);
    idx = idx + base;
  } else if (nsp == 1) {
    y = at::max_pool1d(xin, g.kernel, g.strides, zero, g.dilations, false);
  } else if (nsp == 2) {
    y = at::max_pool2d(xin, g.kernel, g.strides, zero, g.dilations, false);
  } else if (nsp == 3) {
    y = at::max_pool3d(xin, g.kernel, g.strides, zero, g.dilations, false);
  } else {
    ctx.fail("only 1-D to 3-D pooling is supported");
  }
  if (!is_float) y = y.to(x.scalar_type());
  if (want_indices) return {y, idx};
  return {y};
}

Tensors average_pool(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  PoolGeometry g = pool_geometry(ctx, x);
  const int64_t nsp = x.dim() - 2;
  const bool count_pad = ctx.attr_int("count_include_pad", 0) != 0;
  Padding p = g.pad;
  // Extra end padding so that ceil_mode windows exist; those extra cells never count.
  std::vector<int64_t> extra(nsp, 0);
  for (int64_t i = 0; i < nsp; ++i) {
    int64_t out = onnx_out_size(x.size(2 + i), g.kernel[i], g.strides[i], 1, p.begin[i], p.end[i], g.ceil_mode);
    int64_t need = (out - 1) * g.strides[i] + g.kernel[i];
    int64_t have = x.size(2 + i) + p.begin[i] + p.end[i];
    if (need > have) extra[i] = need - have;
  }
  Padding all = p;
  for (int64_t i = 0; i < nsp; ++i) all.end[i] += extra[i];
  at::Tensor xp = pad_spatial(x, all);
  // Divisor: ones over the cells that count (input, plus declared pads when count_include_pad).
  at::Tensor ones = at::ones(x.sizes().slice(2), x.options()).unsqueeze(0).unsqueeze(0);
  Padding mask_pad = all;
  at::Tensor mask;
  if (count_pad) {
    mask = pad_spatial(pad_spatial(ones, p, 1.0), Padding{std::vector<int64_t>(nsp, 0), extra}, 0.0);
  } else {
    mask = pad_spatial(ones, mask_pad, 0.0);
  }
  std::vector<int64_t> zero(nsp, 0);
  at::Tensor sum, cnt;
  auto pool_sum = [&](const at::Tensor& t) {
    int64_t k = 1;
    for (auto v : g.kernel) k *= v;
    at::Tensor r;
    if (nsp == 1)
      r = at::avg_pool1d(t, g.kernel, g.strides, zero, false, true);
    else if (nsp == 2)
      r = at::avg_pool2d(t, g.kernel, g.strides, zero, false, true);
    else if (nsp == 3)
      r = at::avg_pool3d(t, g.kernel, g.strides, zero, false, true);
    else
      ctx.fail("only 1-D to 3-D pooling is supported");
    return r * static_cast<double>(k);
  };
  sum = pool_sum(xp);
  cnt = pool_sum(mask);
  return {sum / cnt};
}

Tensors global_average_pool(const OpContext&, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> dims;
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  return {x.mean(dims, /*keepdim=*/true)};
}

Tensors global_max_pool(const OpContext&, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor y = x;
  for (int64_t i = 2; i < x.dim(); ++i) y = std::get<0>(y.max(i, /*keepdim=*/true));
  return {y};
}

Tensors lp_pool(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  PoolGeometry g = pool_geometry(ctx, x);
  const double pw = static_cast<double>(ctx.attr_int("p", 2));
  const int64_t nsp = x.dim() - 2;
  at::Tensor xp = pad_spatial(x.abs().pow(pw), g.pad);
  std::vector<int64_t> zero(nsp, 0);
  int64_t k = 1;
  for (auto v : g.kernel) k *= v;
  at::Tensor s;
  if (nsp == 1)
    s = at::avg_pool1d(xp, g.kernel, g.strides, zero, g.ceil_mode, true);
  else if (nsp == 2)
    s = at::avg_pool2d(xp, g.kernel, g.strides, zero, g.ceil_mode, true);
  else
    s = at::avg_pool3d(xp, g.kernel, g.strides, zero, g.ceil_mode, true);
  return {(s * static_cast<double>(k)).pow(1.0 / pw)};
}

Tensors global_lp_pool(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const double pw = static_cast<double>(ctx.attr_int("p", 2));
  std::vector<int64_t> dims;
  for (int64_t i = 2; i < x.dim(); ++i) dims.push_back(i);
  return {x.abs().pow(pw).sum(dims, true).pow(1.0 / pw)};
}

}  // namespace

void register_pool_ops(OpTable& t) {
  t.add({"MaxPool", 1, max_pool});
  t.add({"AveragePool", 1, average_pool});
  t.add({"GlobalAveragePool", 1, global_average_pool});
  t.add({"GlobalMaxPool", 1, global_max_pool});
  t.add({"LpPool", 1, lp_pool});
  t.add({"GlobalLpPool", 1, global_lp_pool});
}

}  // namespace pare::ops
