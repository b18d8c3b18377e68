// AWQ's weight clipping (arXiv 2306.00978, and its reference code's auto_clip): per row that shares one scale
// (an output channel, or a group of it), the clip ratio r in {1, 0.95, ..., 0.55} whose rounding changes the
// layer's output on the calibration inputs least, i.e. the least (w − q) H (w − q)ᵀ over the row's columns
// with H the inputs' mean outer product. Unlike the mse search, it weighs the error by the inputs, cross
// terms included. Returns the weight clamped to r · range per row, which the base quantizer (min-max) then
// rounds exactly onto that range.
#pragma once
#include <ATen/ATen.h>

#include "pare/quant/quantize_weight.h"

namespace pare::quant {

// `w` [O, R] (float), `hessian` [R, R]; `base` gives the grid and granularity. Per-tensor scales: unchanged.
at::Tensor awq_clip(const at::Tensor& w, const at::Tensor& hessian, const WeightQuantOptions& base);

}  // namespace pare::quant
