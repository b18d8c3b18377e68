// The arithmetic of every grid, on rows that share one scale: x [N, L], scale [N, 1], zero point [N, 1]
// (uniform grids with a zero point only; undefined otherwise). Codes are int16 tensors.
#pragma once
#include <ATen/ATen.h>

#include "pare/quant/grid.h"

namespace pare::quant {

// Nearest code of each value (power: nearest in the power domain; ternary: round-to-nearest, threshold
// scale / 2; codebook: nearest table entry). A zero scale gives code 0 (or the zero point).
at::Tensor quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale, const at::Tensor& zero_point);
// Values of codes.
at::Tensor dequantize_rows(const at::Tensor& codes, const Grid& grid, const at::Tensor& scale,
                           const at::Tensor& zero_point);

// Quantize-dequantize with straight-through gradients: d out / d x = 1 where x is inside the clip range
// and 0 outside; `scale` receives the LSQ-style gradient of the uniform grid. Uniform and ternary grids
// (power and codebook grids use the plain function and pass gradients straight through).
at::Tensor fake_quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale,
                              const at::Tensor& zero_point);

// Rounding with identity gradient.
at::Tensor round_ste(const at::Tensor& x);

}  // namespace pare::quant
