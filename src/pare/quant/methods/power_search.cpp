#include "pare/quant/methods/power_search.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "pare/error.h"
#include "pare/quant/fake_quantize.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {

namespace {

// One tensor's rows and their max |w| scales, computed once for all evaluations of e(a).
struct Rows {
  at::Tensor x;      // float [N, L]; the zero padding of a short group quantizes to 0 exactly
  at::Tensor scale;  // float [N, 1]
};

Rows prepare(const at::Tensor& w, int64_t out_axis, const Granularity& g, const std::string& name) {
  const at::Tensor x = checked_weight(w, w.dim() > 1 ? out_axis : 0, name);
  Rows r;
  r.x = to_rows(to_matrix(x, w.dim() > 1 ? out_axis : 0), g).contiguous();
  r.scale = std::get<0>(r.x.abs().max(1, /*keepdim=*/true));
  return r;
}

double error_of(const Rows& r, const Grid& grid) {
  const at::Tensor d = dequantize_rows(quantize_rows(r.x, grid, r.scale, {}), grid, r.scale, {});
  return (d - r.x).to(at::kDouble).pow(2).sum().item<double>();
}

// e(a) for many exponents, fast: with u = |x| / s (per row, as quantize_rows computes it), the error of an
// element is s^2 (L_k - u)^2 where L_k = (k / n)^(1/a) is the level of its code k = round(u^a n). Sorting u
// once (with weights s^2, over all tensors) makes the codes of any a contiguous runs, found by binary search
// at the midpoints ((k + 1/2) / n)^(1/a); prefix sums of s^2, s^2 u, s^2 u^2 then give each run's error in
// O(1). An evaluation costs O(n log N) instead of a pass over the weights (45M weights: one sort, then
// microseconds per exponent). It equals the direct error up to float rounding (an element within an ulp of a
// midpoint may fall on the other side), so the search's final figures are recomputed directly.
class SortedErrors {
 public:
  SortedErrors(const std::vector<Rows>& rows, int64_t n) : n_(n) {
    std::vector<at::Tensor> us, ws;
    for (const Rows& r : rows) {
      const at::Tensor positive = r.scale > 0;
      const at::Tensor safe = at::where(positive, r.scale, at::ones_like(r.scale));
      us.push_back(at::where(positive, r.x.abs() / safe, at::zeros_like(r.x)).clamp_max(1.0).reshape({-1}));
      ws.push_back(r.scale.to(at::kDouble).pow(2).expand_as(r.x).reshape({-1}));
    }
    const auto [u, order] = at::cat(us).sort();
    u_ = u.to(at::kDouble).contiguous();
    const at::Tensor w = at::cat(ws).index_select(0, order);
    const at::Tensor zero = at::zeros({1}, w.options());
    p0_ = at::cat({zero, w.cumsum(0)}).contiguous();
    p1_ = at::cat({zero, (w * u_).cumsum(0)}).contiguous();
    p2_ = at::cat({zero, (w * u_ * u_).cumsum(0)}).contiguous();
  }

  double operator()(double a) const {
    const double* u = u_.data_ptr<double>();
    const double *p0 = p0_.data_ptr<double>(), *p1 = p1_.data_ptr<double>(), *p2 = p2_.data_ptr<double>();
    const int64_t m = u_.numel();
    const double nd = static_cast<double>(n_);
    double err = 0;
    int64_t lo = 0;
    for (int64_t k = 0; k <= n_; ++k) {
      const int64_t hi = k < n_ ? std::lower_bound(u + lo, u + m, std::pow((k + 0.5) / nd, 1 / a)) - u : m;
      const double level = std::pow(k / nd, 1 / a);
      err += level * level * (p0[hi] - p0[lo]) - 2 * level * (p1[hi] - p1[lo]) + (p2[hi] - p2[lo]);
      lo = hi;
    }
    return std::max(err, 0.0);
  }

 private:
  int64_t n_;
  at::Tensor u_, p0_, p1_, p2_;
};

}  // namespace

double power_error(const at::Tensor& w, int64_t out_axis, const Granularity& g, int bits, double a) {
  const Grid grid = Grid::power(bits, a);
  grid.validate("power grid");
  return error_of(prepare(w, out_axis, g, "weight"), grid);
}

PowerSearch search_power_exponent(const std::vector<at::Tensor>& ws, const std::vector<int64_t>& out_axes,
                                  const Granularity& g, int bits, double lo, double hi, double tol) {
  if (ws.size() != out_axes.size())
    throw Error("power exponent search: one output-channel axis per tensor")
        .got(fmt::format("{} tensors, {} axes", ws.size(), out_axes.size()));
  if (!(lo > 0 && lo < hi && std::isfinite(hi) && tol > 0))
    throw Error("power exponent search: needs 0 < lo < hi and tol > 0")
        .got(fmt::format("lo {}, hi {}, tol {}", lo, hi, tol));
  Grid::power(bits, 1.0).validate("power grid");
  std::vector<Rows> rows;
  rows.reserve(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) rows.push_back(prepare(ws[i], out_axes[i], g, fmt::format("weight {}", i)));

  PowerSearch s;
  auto exact = [&](double a) {
    ++s.evaluations;
    const Grid grid = Grid::power(bits, a);
    double sum = 0;
    for (const Rows& r : rows) sum += error_of(r, grid);
    return sum;
  };
  s.uniform_error = exact(1.0);
  s.exponent = 1.0;
  s.error = s.uniform_error;
  if (bits == 2) return s;  // n = 1: see the header

  const SortedErrors fast(rows, Grid::power(bits, 1.0).qmax());
  auto e = [&](double a) {
    ++s.evaluations;
    return fast(a);
  };

  // Keeps the best point seen, so that a search misled by a plateau of the piecewise smooth e(a) never
  // returns worse than what it evaluated. a = 1 is seeded only when it lies in the interval.
  double best_a = 0, best_e = 0;
  bool have_best = false;
  auto consider = [&](double a, double err) {
    if (!have_best || err < best_e) best_a = a, best_e = err, have_best = true;
  };
  auto golden = [&](double a0, double a1) {
    const double inv_phi = (std::sqrt(5.0) - 1) / 2;
    double c = a1 - inv_phi * (a1 - a0), d = a0 + inv_phi * (a1 - a0);
    double fc = e(c), fd = e(d);
    consider(c, fc);
    consider(d, fd);
    while (a1 - a0 > tol) {
      if (fc <= fd) {
        a1 = d, d = c, fd = fc;
        c = a1 - inv_phi * (a1 - a0);
        fc = e(c);
        consider(c, fc);
      } else {
        a0 = c, c = d, fc = fd;
        d = a0 + inv_phi * (a1 - a0);
        fd = e(d);
        consider(d, fd);
      }
    }
  };
  constexpr double kWideHi = 1.5;
  if (lo <= 1.0 && 1.0 <= hi) consider(1.0, e(1.0));
  golden(lo, hi);
  double top = hi;
  if (best_a >= hi - tol && hi < kWideHi) {
    top = kWideHi;
    golden(lo, top);
  }
  const double best_exact = best_a == 1.0 ? s.uniform_error : exact(best_a);
  if (best_exact > s.uniform_error && lo <= 1.0 && 1.0 <= top) {  // a near-tie the fast form got wrong
    best_a = 1.0;
  } else {
    s.error = best_exact;
  }
  s.exponent = best_a;
  s.hit_bound = best_a <= lo + tol || best_a >= top - tol;
  return s;
}

QuantizedTensor power_quantize_weight(const at::Tensor& w, int64_t out_axis, const Granularity& g, int bits, double a,
                                      int scale_bits, const std::string& name) {
  WeightQuantOptions o;
  o.grid = Grid::power(bits, a);
  o.granularity = g;
  o.scale.method = ScaleMethod::MinMax;
  o.scale.scale_bits = scale_bits;
  return quantize_weight(w, out_axis, o, name);
}

}  // namespace pare::quant
