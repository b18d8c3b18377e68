// The arithmetic of every grid on rows that share one scale: x [N, L], scale [N, 1], zero point [N, 1]
// (uniform grids with a zero point only; undefined otherwise). Codes are int16 tensors. This is the
// specification of what a code means; quantizers (quant/) choose scales, runtimes decode it faster.
#pragma once
#include <ATen/ATen.h>

#include "pare/formats/grid.h"

namespace pare::formats {

// Nearest code of each value (power: nearest in the power domain; ternary: round-to-nearest, threshold
// scale / 2; codebook: nearest table entry). A zero scale gives code 0 (or the zero point).
at::Tensor quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale, const at::Tensor& zero_point);
// Values of codes.
at::Tensor dequantize_rows(const at::Tensor& codes, const Grid& grid, const at::Tensor& scale,
                           const at::Tensor& zero_point);

}  // namespace pare::formats
