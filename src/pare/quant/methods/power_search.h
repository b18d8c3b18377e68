// PowerQuant's data-free exponent search: the exponent a of the power grid (grid.h) that minimizes the
// squared reconstruction error of the weights, e(a) = ||W - Q_a^-1(Q_a(W))||^2, with the scale of each
// row (granularity.h) its max |w|. The search is a golden-section search on [0.2, 1.0], widened to 1.5
// when the minimum sits at 1.0 (docs/methods/powerquant.md). PowerQuant: arXiv 2301.09858; NUPES,
// which learns the exponent later: arXiv 2308.05600. The quantizer's form and the search interval are
// reconstructions from the abstracts, as written in the method page.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pare/quant/format_types.h"

namespace pare::quant {

// e(a) for `w` with output channels on `out_axis`: power grid of `bits` bits, exponent a, one max |w|
// scale per row. Accumulated in double. Throws Error for NaN/Inf weights or a bad grid.
double power_error(const at::Tensor& w, int64_t out_axis, const Granularity& g, int bits, double a);

struct PowerSearch {
  double exponent = 1;       // a*
  double error = 0;          // e(a*), summed over the tensors
  double uniform_error = 0;  // e(1): symmetric uniform quantization with the max |w| scale
  int evaluations = 0;       // number of e(a) evaluations (the direct ones at a = 1 and a* included)
  bool hit_bound = false;    // a* sits at an end of the final interval (within tol): the true minimum may lie outside
};

// Golden-section search of a in [lo, hi] to tolerance `tol` for the sum of e(a) over `ws` (several tensors:
// one shared, "global" exponent). If a* is within tol of hi and hi < 1.5, the search runs again on
// [lo, 1.5]. e(a) on finite data is only piecewise smooth, so the result is the best exponent evaluated,
// and a = 1 (always evaluated) wins when the search found nothing better inside [lo, hi]. The search sorts
// all weights once (about 40 bytes per weight while it runs), after which one evaluation costs
// O(2^bits log N) (power_search.cpp); error and uniform_error are then recomputed directly, as power_error.
// At 2 bits the power grid has n = 1: its levels are {-M, 0, M} for every a, and a only moves the rounding
// threshold 0.5^(1/a) * M. That is a ternary threshold choice (ternary_operator.h), not a grid shape, so
// the search returns a = 1 after one evaluation (callers use plain RTN or a ternary operator there).
PowerSearch search_power_exponent(const std::vector<at::Tensor>& ws, const std::vector<int64_t>& out_axes,
                                  const Granularity& g, int bits, double lo = 0.2, double hi = 1.0, double tol = 1e-3);

// quantize_weight with Grid::power(bits, a), min-max (max |w|) scales stored at `scale_bits` (16 or 32).
QuantizedTensor power_quantize_weight(const at::Tensor& w, int64_t out_axis, const Granularity& g, int bits, double a,
                                      int scale_bits, const std::string& name);

}  // namespace pare::quant
