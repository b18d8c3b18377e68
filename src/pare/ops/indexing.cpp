// Ops that select or assemble tensor pieces: Concat, Split, Slice, Gather, GatherElements, Tile, Pad.
#include <limits>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

Tensors concat(const OpContext& ctx, const Tensors& in) {
  if (in.empty()) ctx.fail("needs at least one input");
  std::vector<at::Tensor> parts;
  for (const auto& t : in)
    if (t.defined()) parts.push_back(t);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), parts.at(0).dim());
  return {at::cat(parts, axis)};
}

Tensors split(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.dim());
  std::vector<int64_t> sizes = ctx.opset() >= 13 ? (has_input(in, 1) ? to_int_vector(in[1]) : std::vector<int64_t>{})
                                                 : ctx.attr_ints("split", {});
  const int64_t n_out = static_cast<int64_t>(ctx.node().outputs.size());
  if (sizes.empty()) {
    const int64_t n = ctx.attr_int("num_outputs", n_out);
    const int64_t chunk = (x.size(axis) + n - 1) / n;  // the last piece may be smaller (opset 18)
    for (int64_t left = x.size(axis); left > 0; left -= chunk) sizes.push_back(std::min(chunk, left));
    while (static_cast<int64_t>(sizes.size()) < n_out) sizes.push_back(0);
  }
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != x.size(axis))
    ctx.fail("split sizes add up to " + std::to_string(total) + " but axis " + std::to_string(axis) + " has " +
             std::to_string(x.size(axis)));
  Tensors out;
  int64_t offset = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(axis, offset, s));
    offset += s;
  }
  return out;
}

Tensors slice(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes", {});
  } else {
    starts = to_int_vector(in.at(1));
    ends = to_int_vector(in.at(2));
    if (has_input(in, 3)) axes = to_int_vector(in[3]);
    if (has_input(in, 4)) steps = to_int_vector(in[4]);
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps must have the same length");
  at::Tensor y = x;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = normalize_axis(ctx, axes[i], x.dim());
    const int64_t dim = x.size(a), step = steps[i];
    if (step == 0) ctx.fail("slice step cannot be 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      y = e > s ? y.slice(a, s, e, step) : y.narrow(a, 0, 0);
    } else {
      // Negative steps: flip, then slice forward (torch slices need positive steps).
      s = std::clamp<int64_t>(s, -1, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (s <= e) {
        y = y.narrow(a, 0, 0);
      } else {
        at::Tensor f = y.flip(a);
        y = f.slice(a, dim - 1 - s, dim - 1 - e, -step);
      }
    }
  }
  return {y};
}

Tensors gather(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor idx = in.at(1).to(at::kLong);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.dim());
  const int64_t dim = x.size(axis);
  idx = at::where(idx < 0, idx + dim, idx);
  if (idx.numel() && (idx.min().item<int64_t>() < 0 || idx.max().item<int64_t>() >= dim))
    ctx.fail("an index is out of range for axis " + std::to_string(axis) + " of size " + std::to_string(dim));
  at::Tensor flat = x.index_select(axis, idx.reshape({-1}));
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  for (int64_t d : idx.sizes()) shape.push_back(d);
  for (int64_t i = axis + 1; i < x.dim(); ++i) shape.push_back(x.size(i));
  return {flat.reshape(shape)};
}

Tensors gather_elements(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  at::Tensor idx = in.at(1).to(at::kLong);
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), x.dim());
  idx = at::where(idx < 0, idx + x.size(axis), idx);
  return {at::gather(x, axis, idx)};
}

Tensors tile(const OpContext&, const Tensors& in) { return {in.at(0).repeat(to_int_vector(in.at(1)))}; }

Tensors pad(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  const std::string mode = ctx.attr_string("mode", "constant");
  std::vector<int64_t> pads;
  double value = 0.0;
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    value = ctx.attr_float("value", 0.0);
  } else {
    pads = to_int_vector(in.at(1));
    if (has_input(in, 2) && in[2].numel()) value = in[2].item<double>();
  }
  const int64_t r = x.dim();
  std::vector<int64_t> axes;
  if (has_input(in, 3)) {
    for (int64_t a : to_int_vector(in[3])) axes.push_back(normalize_axis(ctx, a, r));
  } else {
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size()) ctx.fail("'pads' must have 2 entries per padded axis");
  std::vector<int64_t> begin(r, 0), end(r, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[i + axes.size()];
  }
  if (mode == "constant") {
    std::vector<int64_t> tp;
    for (int64_t i = r - 1; i >= 0; --i) {
      tp.push_back(begin[i]);
      tp.push_back(end[i]);
    }
    return {at::constant_pad_nd(x, tp, value)};
  }
  if (mode != "reflect" && mode != "edge") ctx.fail("unknown mode '" + mode + "'", "use constant, reflect or edge");
  // reflect/edge: build per-axis index maps (works for any rank and for negative pads via narrowing).
  at::Tensor y = x;
  for (int64_t a = 0; a < r; ++a) {
    if (!begin[a] && !end[a]) continue;
    const int64_t n = y.size(a);
    at::Tensor pos = at::arange(-begin[a], n + end[a], at::kLong);
    if (mode == "edge") {
      pos = pos.clamp(0, n - 1);
    } else {
      if (n == 1)
        pos = at::zeros_like(pos);
      else {
        const int64_t period = 2 * (n - 1);
        pos = at::remainder(pos, period);
        pos = at::where(pos >= n, period - pos, pos);
      }
    }
    y = y.index_select(a, pos);
  }
  return {y};
}

}  // namespace

void register_indexing_ops(OpTable& t) {
  t.add({"Concat", 1, concat});
  t.add({"Split", 1, split});
  t.add({"Slice", 1, slice});
  t.add({"Gather", 1, gather});
  t.add({"GatherElements", 11, gather_elements});
  t.add({"Tile", 6, tile});
  t.add({"Pad", 1, pad});
}

}  // namespace pare::ops
