#include "pare/quant/scale_search.h"

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"

namespace pare::quant {

ScaleMethod parse_scale_method(const std::string& text) {
  if (text == "minmax") return ScaleMethod::MinMax;
  if (text == "mse") return ScaleMethod::Mse;
  if (text == "percentile") return ScaleMethod::Percentile;
  if (text == "imatrix") return ScaleMethod::Imatrix;
  throw Error("unknown scale method '" + text + "'").expected("minmax, mse, percentile or imatrix");
}

std::string to_string(ScaleMethod m) {
  switch (m) {
    case ScaleMethod::MinMax:
      return "minmax";
    case ScaleMethod::Mse:
      return "mse";
    case ScaleMethod::Percentile:
      return "percentile";
    case ScaleMethod::Imatrix:
      return "imatrix";
  }
  return "?";
}

RowScales scales_for_range(const at::Tensor& lo, const at::Tensor& hi, const Grid& grid, int scale_bits) {
  RowScales s;
  if (grid.has_zero_point()) {
    const at::Tensor l = lo.clamp_max(0.0), h = hi.clamp_min(0.0);
    const double levels = static_cast<double>(grid.qmax() - grid.qmin());
    s.scale = (h - l) / levels;
    if (scale_bits == 16) s.scale = s.scale.to(at::kHalf).to(at::kFloat);
    const at::Tensor safe = at::where(s.scale > 0, s.scale, at::ones_like(s.scale));
    s.zero_point = (static_cast<double>(grid.qmin()) - l / safe)
                       .round()
                       .clamp(static_cast<double>(grid.qmin()), static_cast<double>(grid.qmax()))
                       .to(at::kShort);
  } else {
    s.scale = at::maximum(lo.abs(), hi.abs()) / grid.unit_max();
    if (scale_bits == 16) s.scale = s.scale.to(at::kHalf).to(at::kFloat);
  }
  return s;
}

namespace {

// Per-row k-th smallest value, k = round(p/100 * (L - 1)) + 1.
at::Tensor row_percentile(const at::Tensor& x, double p) {
  const int64_t l = x.size(1);
  const int64_t k = std::min<int64_t>(l, std::max<int64_t>(1, std::llround(p / 100.0 * double(l - 1)) + 1));
  return std::get<0>(at::kthvalue(x, k, 1, /*keepdim=*/true));
}

}  // namespace

RowScales choose_scales(const at::Tensor& rows, const Grid& grid, const ScaleOptions& o, const at::Tensor& weights) {
  PARE_ASSERT(rows.dim() == 2, "choose_scales takes [N, L] rows");
  const at::Tensor x = rows.to(at::kFloat);
  at::Tensor lo, hi;
  if (o.method == ScaleMethod::Percentile) {
    if (!(o.percentile > 0 && o.percentile <= 100))
      throw Error("percentile must be in (0, 100]").got(std::to_string(o.percentile));
    if (grid.has_zero_point()) {
      hi = row_percentile(x, o.percentile);
      lo = -row_percentile(-x, o.percentile);
    } else {
      hi = row_percentile(x.abs(), o.percentile);
      lo = -hi;
    }
    return scales_for_range(lo, hi, grid, o.scale_bits);
  }
  if (grid.has_zero_point()) {
    lo = std::get<0>(x.min(1, true));
    hi = std::get<0>(x.max(1, true));
  } else {
    hi = std::get<0>(x.abs().max(1, true));
    lo = -hi;
  }
  if (o.method == ScaleMethod::MinMax) return scales_for_range(lo, hi, grid, o.scale_bits);

  if (o.steps < 2 || !(o.min_ratio > 0 && o.min_ratio < 1))
    throw Error("mse scale search needs at least 2 steps and a ratio in (0, 1)");
  RowScales best = scales_for_range(lo, hi, grid, o.scale_bits);
  const bool weighted = o.method == ScaleMethod::Imatrix && weights.defined();
  const at::Tensor imp = weighted ? weights.to(at::kFloat) : at::Tensor();
  auto error_of = [&](const RowScales& s) {
    const at::Tensor d = dequantize_rows(quantize_rows(x, grid, s.scale, s.zero_point), grid, s.scale, s.zero_point);
    const at::Tensor e = (d - x).pow(2);
    return (weighted ? e * imp : e).sum(1, true);
  };
  at::Tensor best_err = error_of(best);
  for (int i = 1; i < o.steps; ++i) {
    const double r = 1.0 - (1.0 - o.min_ratio) * i / (o.steps - 1);
    RowScales s = scales_for_range(lo * r, hi * r, grid, o.scale_bits);
    const at::Tensor err = error_of(s);
    const at::Tensor better = err < best_err;
    best_err = at::where(better, err, best_err);
    best.scale = at::where(better, s.scale, best.scale);
    if (best.zero_point.defined()) best.zero_point = at::where(better, s.zero_point, best.zero_point);
  }
  return best;
}

}  // namespace pare::quant
