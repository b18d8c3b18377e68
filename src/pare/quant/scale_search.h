// Scale choice for rows that share one scale (see formats/row_codes.h): the clip range a grid maps onto.
//   minmax      the full range of each row: nothing is clipped, rounding error grows with outliers
//   mse         the clip range r * (min, max) with r on a grid of `steps` ratios in [min_ratio, 1] that
//               minimizes the row's squared reconstruction error (trades clipping for resolution)
//   percentile  the `percentile`-th percentile of |x| (symmetric grids) or of x and -x (zero-point grids)
//   imatrix     the mse grid, each value's squared error weighted by the importance of its input (the mean
//               squared activation of the weight's input channel on calibration data, as llama.cpp's
//               importance matrix): sum_j imp_j (w_ij - q_ij)^2. Without importance, the plain mse search.
// Grids without a zero point use the symmetric range max |x|; uniform grids with a zero point use
// [min(x, 0), max(x, 0)], so that 0 stays exact.
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "pare/quant/format_types.h"

namespace pare::quant {

enum class ScaleMethod { MinMax, Mse, Percentile, Imatrix };

struct ScaleOptions {
  ScaleMethod method = ScaleMethod::MinMax;
  int steps = 100;            // mse: candidate ratios
  double min_ratio = 0.05;    // mse: smallest ratio tried
  double percentile = 99.99;  // percentile
  int scale_bits = 32;        // 16: scales are rounded to float16 (what a package stores for groups)
  // imatrix: per column of the weight's [O, R] matrix view (R values, >= 0), from the layer's calibration
  // inputs; quantize_weight spreads it over the rows. Undefined: no data (the mse search).
  at::Tensor importance;
};

ScaleMethod parse_scale_method(const std::string& text);  // "minmax", "mse", "percentile", "imatrix"
std::string to_string(ScaleMethod m);

struct RowScales {
  at::Tensor scale;       // float [N, 1]
  at::Tensor zero_point;  // int16 [N, 1], or undefined when the grid has none
};

// Scales for rows x [N, L] (float, finite). `weights`: imatrix only, the importance of each value of the rows
// ([N, L], or [1, L] for every row alike); undefined for an unweighted search.
RowScales choose_scales(const at::Tensor& rows, const Grid& grid, const ScaleOptions& options,
                        const at::Tensor& weights = {});
// Scale and zero point that map the range [lo, hi] (per row, [N, 1]) onto the grid.
RowScales scales_for_range(const at::Tensor& lo, const at::Tensor& hi, const Grid& grid, int scale_bits = 32);

}  // namespace pare::quant
