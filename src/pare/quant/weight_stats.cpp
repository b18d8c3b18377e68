#include "pare/quant/weight_stats.h"

#include "pare/quant/format_types.h"

namespace pare::quant {

namespace {

// Central moment ratio E[d^k] / var^(k/2) along dim 1 of x [N, L] (double), 0 where var = 0.
at::Tensor standardized_moment(const at::Tensor& x, int k) {
  const at::Tensor d = x - x.mean(1, /*keepdim=*/true);
  const at::Tensor var = d.pow(2).mean(1);
  const at::Tensor m = d.pow(k).mean(1);
  const at::Tensor positive = var > 0;
  return at::where(positive, m / at::where(positive, var, at::ones_like(var)).pow(k / 2.0), at::zeros_like(var));
}

at::Tensor flat(const at::Tensor& w) { return w.detach().to(at::kDouble).reshape({1, -1}); }

}  // namespace

double excess_kurtosis(const at::Tensor& w) {
  if (w.numel() == 0) return 0;
  const at::Tensor x = flat(w);
  const at::Tensor d = x - x.mean(1, true);
  if (!(d.pow(2).mean().item<double>() > 0)) return 0;
  return standardized_moment(x, 4).item<double>() - 3.0;
}

double skewness(const at::Tensor& w) { return w.numel() == 0 ? 0 : standardized_moment(flat(w), 3).item<double>(); }

at::Tensor row_excess_kurtosis(const at::Tensor& w, int64_t out_axis) {
  const at::Tensor x = to_matrix(w.detach().to(at::kDouble), w.dim() > 1 ? out_axis : 0);
  const at::Tensor var = (x - x.mean(1, true)).pow(2).mean(1);
  return at::where(var > 0, standardized_moment(x, 4) - 3.0, at::zeros_like(var));
}

}  // namespace pare::quant
