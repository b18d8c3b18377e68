// Fake quantization for methods that learn: quantize-dequantize on rows that share one scale (the row
// layout of formats/row_codes.h) with straight-through gradients.
#pragma once
#include <ATen/ATen.h>

#include "pare/quant/format_types.h"

namespace pare::quant {

// Quantize-dequantize with straight-through gradients: d out / d x = 1 where x is inside the clip range
// and 0 outside; `scale` receives the LSQ-style gradient of the uniform grid. Uniform and ternary grids
// (power and codebook grids use the plain function and pass gradients straight through).
at::Tensor fake_quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale,
                              const at::Tensor& zero_point);

// Rounding with identity gradient.
at::Tensor round_ste(const at::Tensor& x);

}  // namespace pare::quant
