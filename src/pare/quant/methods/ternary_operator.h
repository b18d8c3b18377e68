// Data-free ternary weight operators: each row of weights that shares one scale maps to
// alpha * {-1, 0, 1}, with a threshold Delta below which a weight becomes 0. Three operators
// (docs/methods/ternary.md):
//   RTN     Delta = M/2, alpha = M        nearest rounding on {-M, 0, M}, M = max |w| of the row
//   TQuant  Delta = M/3, alpha = 2M/3     support equalization: three bins of width 2M/3, max error M/3
//   MQuant  Delta = quantile_p(|w|),      mass equalization: a fraction p (1/3) of the row becomes 0,
//           alpha = mean (or median) of |w| over |w| > Delta
// TQuant and MQuant follow "Designing strong baselines for ternary neural network quantization through
// support and mass equalization" (arXiv 2306.17442). The thresholds and scales are reconstructions from
// the abstract, as written in the method page, not the paper's code.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "pare/quant/format_types.h"

namespace pare::quant {

enum class TernaryOp { Rtn, TQuant, MQuant };

// "ternary-rtn" (or "rtn"), "tquant", "mquant"; throws Error otherwise.
TernaryOp parse_ternary_op(const std::string& text);
std::string to_string(TernaryOp op);  // "ternary-rtn", "tquant", "mquant"

struct TernaryOptions {
  TernaryOp op = TernaryOp::TQuant;
  bool alpha_median = false;   // MQuant: alpha = median instead of mean of |w| over |w| > Delta
  double zero_mass = 1.0 / 3;  // MQuant: the fraction p of each row that becomes 0, in (0, 1)
  int scale_bits = 32;         // 16: alpha is rounded to float16 (the stored scale is then exact)
};

// Ternarizes `w` (output channels on `out_axis`) row by row of the granularity's row view: per output
// channel, per group of the reduction, or one row for the tensor. Statistics use the real elements of a
// row only (the zero padding of a short last group is masked out). MQuant's Delta is the element of
// rank floor(p * n) (0-based, std::nth_element) of the row's |w|, so about p * n + 1 elements
// (ties aside) are 0; alpha = M where no element exceeds Delta. A row of zeros gets alpha 0 and codes 0.
// Returns int16 codes in {-1, 0, 1} as [O, R], grid Grid::ternary(), scales alpha shaped
// scale_shape(O, R, g). Throws Error naming `name` for NaN/Inf weights or a bad option.
QuantizedTensor ternarize_weight(const at::Tensor& w, int64_t out_axis, const Granularity& g, const TernaryOptions& o,
                                 const std::string& name);

}  // namespace pare::quant
