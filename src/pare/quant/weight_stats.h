// Shape statistics of a weight tensor, for reports that relate an operator's win or loss to the weight
// distribution (ternary.md asks for per-layer kurtosis against the winning ternary operator). Moments are
// accumulated in double. A constant tensor (zero variance) reports 0.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace pare::quant {

// E[(x - mean)^4] / var^2 - 3 over all elements: 0 for a Gaussian, 3 for Laplace, -1.2 for uniform.
double excess_kurtosis(const at::Tensor& w);
// E[(x - mean)^3] / var^1.5 over all elements.
double skewness(const at::Tensor& w);
// Excess kurtosis of each output channel of the [O, R] view (granularity.h): double [O].
at::Tensor row_excess_kurtosis(const at::Tensor& w, int64_t out_axis);

}  // namespace pare::quant
