// Resize (opsets 10, 11, 13) and Upsample (7, 9): nearest / linear / cubic, every coordinate transform.
// Separable: each resized axis becomes a few index_selects weighted per output position, so autograd works.
#include <algorithm>
#include <cmath>

#include "pare/ops/op_table.h"

namespace pare::ops {
namespace {

struct ResizeMode {
  std::string mode = "nearest";                // nearest | linear | cubic
  std::string transform = "half_pixel";        // coordinate_transformation_mode
  std::string nearest = "round_prefer_floor";  // nearest_mode ("simple": floor, ceil when shrinking)
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

// Output coordinate -> input coordinate along one axis, as the ONNX reference computes it
// (the "output width" is scale * input width, a float).
double original_coord(const ResizeMode& m, double x, double scale, int64_t in, double roi_start, double roi_end) {
  const double out_w = scale * static_cast<double>(in);
  const std::string& t = m.transform;
  if (t == "align_corners") return out_w == 1 ? 0.0 : x * (in - 1) / (out_w - 1);
  if (t == "asymmetric") return x / scale;
  if (t == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (t == "pytorch_half_pixel") return out_w == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  if (t == "tf_crop_and_resize")
    return out_w == 1 ? 0.5 * (roi_start + roi_end) * (in - 1)
                      : roi_start * (in - 1) + x * (roi_end - roi_start) * (in - 1) / (out_w - 1);
  return (x + 0.5) / scale - 0.5;  // half_pixel
}

int64_t nearest_index(const ResizeMode& m, double x, bool shrinking) {
  const double f = std::floor(x);
  const std::string& n = m.nearest;
  if (n == "floor") return static_cast<int64_t>(f);
  if (n == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (n == "simple") return static_cast<int64_t>(shrinking ? std::ceil(x) : f);
  if (x - f == 0.5) return static_cast<int64_t>(n == "round_prefer_ceil" ? f + 1 : f);
  return static_cast<int64_t>(std::round(x));
}

std::vector<double> cubic_coeffs(double r, double a) {
  auto far = [a](double s) { return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a; };  // 1 < |s| < 2
  auto near = [a](double s) { return ((a + 2) * s - (a + 3)) * s * s + 1; };       // |s| <= 1
  return {far(r + 1), near(r), near(1 - r), far(2 - r)};
}

// Resizes axis `d` of `x` to `out` positions.
at::Tensor resize_axis(const OpContext& ctx, const ResizeMode& m, const at::Tensor& x, int64_t d, int64_t out,
                       double scale, double roi_start, double roi_end) {
  const int64_t in = x.size(d);
  if (in == 0) ctx.fail("cannot resize an empty axis " + std::to_string(d));
  const int64_t taps = m.mode == "nearest" ? 1 : m.mode == "linear" ? 2 : 4;
  std::vector<std::vector<int64_t>> idx(taps, std::vector<int64_t>(out));
  std::vector<std::vector<double>> w(taps, std::vector<double>(out));
  std::vector<bool> outside(out, false);
  bool any_outside = false;
  for (int64_t o = 0; o < out; ++o) {
    const double xo = original_coord(m, static_cast<double>(o), scale, in, roi_start, roi_end);
    if (m.transform == "tf_crop_and_resize" && (xo < 0 || xo > in - 1)) outside[o] = any_outside = true;
    if (taps == 1) {
      idx[0][o] = std::clamp<int64_t>(nearest_index(m, xo, scale < 1), 0, in - 1);
      w[0][o] = 1;
      continue;
    }
    const double f = std::floor(xo), r = xo - f;
    const int64_t first = static_cast<int64_t>(f) - (taps == 4 ? 1 : 0);
    std::vector<double> c = taps == 2 ? std::vector<double>{1 - r, r} : cubic_coeffs(r, m.cubic_a);
    double sum = 0;
    for (int64_t k = 0; k < taps; ++k) {
      const int64_t i = first + k;
      if (m.exclude_outside && (i < 0 || i >= in)) c[k] = 0;
      sum += c[k];
    }
    for (int64_t k = 0; k < taps; ++k) {
      idx[k][o] = std::clamp<int64_t>(first + k, 0, in - 1);
      w[k][o] = m.exclude_outside && sum != 0 ? c[k] / sum : c[k];
    }
  }
  std::vector<int64_t> wshape(x.dim(), 1);
  wshape[d] = out;
  at::Tensor y;
  for (int64_t k = 0; k < taps; ++k) {
    at::Tensor sel = x.index_select(d, at::tensor(idx[k], at::kLong));
    if (taps == 1) {
      y = sel;
      break;
    }
    at::Tensor wk = at::tensor(w[k], at::kDouble).to(x.scalar_type()).reshape(wshape);
    y = k == 0 ? sel * wk : y + sel * wk;
  }
  if (any_outside) {
    std::vector<uint8_t> mask(outside.begin(), outside.end());
    at::Tensor mk = at::tensor(mask, at::kByte).to(at::kBool).reshape(wshape);
    y = at::where(mk, at::scalar_tensor(m.extrapolation, y.options()), y);
  }
  return y;
}

// Resizes every axis whose size or scale changes (or every axis for tf_crop_and_resize).
at::Tensor resize_all(const OpContext& ctx, const ResizeMode& m, at::Tensor x, const std::vector<double>& scales,
                      const std::vector<int64_t>& sizes, const std::vector<double>& roi) {
  const int64_t rank = x.dim();
  if (m.mode != "nearest" && m.mode != "linear" && m.mode != "cubic" && m.mode != "bilinear")
    ctx.fail("unknown mode '" + m.mode + "'", "use nearest, linear or cubic");
  const bool is_float = at::isFloatingType(x.scalar_type());
  if (m.mode != "nearest" && !is_float) x = x.to(at::kFloat);
  const at::ScalarType in_type = x.scalar_type();
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t out = sizes.empty() ? static_cast<int64_t>(std::floor(scales[d] * x.size(d))) : sizes[d];
    const double scale = sizes.empty() ? scales[d] : static_cast<double>(out) / static_cast<double>(x.size(d));
    if (out < 0 || scale <= 0) ctx.fail("scale for axis " + std::to_string(d) + " must be positive");
    const double rs = roi.size() == static_cast<size_t>(2 * rank) ? roi[d] : 0.0;
    const double re = roi.size() == static_cast<size_t>(2 * rank) ? roi[d + rank] : 1.0;
    const bool crop = m.transform == "tf_crop_and_resize" && (rs != 0 || re != 1);
    if (out == x.size(d) && scale == 1 && !crop) continue;
    x = resize_axis(ctx, m, x, d, out, scale, rs, re);
  }
  return x.scalar_type() == in_type ? x : x.to(in_type);
}

std::vector<double> to_double_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous().reshape(-1);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

Tensors resize(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  ResizeMode m;
  m.mode = ctx.attr_string("mode", "nearest");
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (ctx.opset() < 11) {  // Resize-10: X, scales; asymmetric coordinates, nearest like Upsample
    m.transform = "asymmetric";
    m.nearest = "simple";
    scales = to_double_vector(in.at(1));
  } else {
    m.transform = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
    m.nearest = ctx.attr_string("nearest_mode", "round_prefer_floor");
    m.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75);
    m.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
    m.extrapolation = ctx.attr_float("extrapolation_value", 0.0);
    if (has_input(in, 1) && in[1].numel() > 0) roi = to_double_vector(in[1]);
    if (has_input(in, 2) && in[2].numel() > 0) scales = to_double_vector(in[2]);
    if (has_input(in, 3) && in[3].numel() > 0) sizes = to_int_vector(in[3]);
  }
  if (scales.empty() == sizes.empty()) ctx.fail("exactly one of 'scales' and 'sizes' must be given");
  const size_t rank = static_cast<size_t>(x.dim());
  if ((!scales.empty() && scales.size() != rank) || (!sizes.empty() && sizes.size() != rank))
    ctx.fail("'scales'/'sizes' must have one entry per input axis (" + std::to_string(rank) + ")");
  return {resize_all(ctx, m, x, scales, sizes, roi)};
}

Tensors upsample(const OpContext& ctx, const Tensors& in) {
  const at::Tensor& x = in.at(0);
  ResizeMode m;
  m.mode = ctx.attr_string("mode", "nearest");
  if (m.mode == "bilinear") m.mode = "linear";
  m.transform = "asymmetric";
  m.nearest = "floor";
  std::vector<double> scales = ctx.opset() < 9 ? ctx.attr_floats("scales") : to_double_vector(in.at(1));
  if (scales.size() != static_cast<size_t>(x.dim())) ctx.fail("'scales' must have one entry per input axis");
  return {resize_all(ctx, m, x, scales, {}, {})};
}

}  // namespace

void register_resize_ops(OpTable& t) {
  t.add({"Resize", 10, resize});
  t.add({"Resize", 11, resize});
  t.add({"Resize", 13, resize});
  t.add({"Upsample", 7, upsample});
  t.add({"Upsample", 9, upsample});
}

}  // namespace pare::ops
