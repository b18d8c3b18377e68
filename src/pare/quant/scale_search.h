// Scale choice for rows that share one scale (see formats/row_codes.h): the clip range a grid maps onto.
//   minmax      the full range of each row: nothing is clipped, rounding error grows with outliers
//   mse         the clip range r * (min, max) with r on a grid of `steps` ratios in [min_ratio, 1] that
//               minimizes the row's squared reconstruction error (trades clipping for resolution)
//   percentile  the `percentile`-th percentile of |x| (symmetric grids) or of x and -x (zero-point grids)
// Grids without a zero point use the symmetric range max |x|; uniform grids with a zero point use
// [min(x, 0), max(x, 0)], so that 0 stays exact.
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "pare/quant/format_types.h"

namespace pare::quant {

enum class ScaleMethod { MinMax, Mse, Percentile };

struct ScaleOptions {
  ScaleMethod method = ScaleMethod::MinMax;
  int steps = 100;            // mse: candidate ratios
  double min_ratio = 0.05;    // mse: smallest ratio tried
  double percentile = 99.99;  // percentile
  int scale_bits = 32;        // 16: scales are rounded to float16 (what a package stores for groups)
};

ScaleMethod parse_scale_method(const std::string& text);  // "minmax", "mse", "percentile"
std::string to_string(ScaleMethod m);

struct RowScales {
  at::Tensor scale;       // float [N, 1]
  at::Tensor zero_point;  // int16 [N, 1], or undefined when the grid has none
};

// Scales for rows x [N, L] (float, finite).
RowScales choose_scales(const at::Tensor& rows, const Grid& grid, const ScaleOptions& options);
// Scale and zero point that map the range [lo, hi] (per row, [N, 1]) onto the grid.
RowScales scales_for_range(const at::Tensor& lo, const at::Tensor& hi, const Grid& grid, int scale_bits = 32);

}  // namespace pare::quant
