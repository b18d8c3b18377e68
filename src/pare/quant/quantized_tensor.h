// quant::QuantizedTensor: one quantized weight as it is stored: integer codes in the [O, R] matrix view
// (granularity.h), a scale per tensor, output channel or group, zero points where the grid has them,
// and the grid (with its codebook table). It can dequantize, and it counts its own storage so that every
// method reports comparable bits per weight.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pare/quant/granularity.h"
#include "pare/quant/grid.h"
#include "pare/quant/scale_search.h"

namespace pare::quant {

struct QuantizedTensor {
  Grid grid;
  Granularity granularity;
  int64_t out_axis = 0;
  std::vector<int64_t> shape;  // of the float tensor
  at::Tensor codes;            // int16 [O, R]
  at::Tensor scales;           // float [1, 1], [O, 1] or [O, groups]
  at::Tensor zero_points;      // int16, shaped as scales; undefined without zero points
  int scale_bits = 32;         // how scales are stored (16: float16, and the values are float16-exact)
  // Residual expansion (REx, residual_expansion.h): further terms whose values add to this one's. A term is
  // a quantized [k, R] matrix (out_axis 0) over the output rows listed in its `rows` (int64, ascending;
  // undefined: all O rows), each with its own scales. A term has no terms of its own.
  std::vector<QuantizedTensor> terms;
  at::Tensor rows;

  int64_t numel() const;
  int64_t out_channels() const { return codes.size(0); }
  int64_t reduction() const { return codes.size(1); }

  at::Tensor dequantize() const;  // float, `shape`, `out_axis` restored; the sum of all terms
  // This term's own value as the [O, R] matrix (or [k, R] for a term over k rows), without its terms.
  at::Tensor dequantize_matrix() const;
  // Storage and compute of the expansion relative to one term over all rows: 1 + sum of k_term / O.
  double cost_factor() const;

  // Storage in bits: codes at the grid's width, scales at scale_bits, zero points at the code width, a
  // codebook table at 16 bits per entry; the terms' codes count as codes, their scales and a row mask of O
  // bits for each term over a subset of rows as overhead. bits_per_weight() = storage_bits() / numel().
  double code_bits() const;
  double overhead_bits() const;
  double storage_bits() const { return code_bits() + overhead_bits(); }
  double bits_per_weight() const { return storage_bits() / static_cast<double>(numel()); }
};

struct WeightQuantOptions {
  Grid grid = Grid::uniform(8);
  Granularity granularity = Granularity::channel();
  ScaleOptions scale;
};

// `w` as float, detached, after the checks every weight quantizer makes: `out_axis` within its rank, every
// value finite. Errors name tensor `name`.
at::Tensor checked_weight(const at::Tensor& w, int64_t out_axis, const std::string& name);

// Quantizes `w` with output channels on `out_axis`. `name` names the tensor in errors (NaN/Inf weights,
// a bad grid). A row of zeros gets scale 0 and dequantizes to exact zeros.
QuantizedTensor quantize_weight(const at::Tensor& w, int64_t out_axis, const WeightQuantOptions& options,
                                const std::string& name);

}  // namespace pare::quant
