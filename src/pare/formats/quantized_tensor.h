// formats::QuantizedTensor: one quantized tensor as it is stored: integer codes in the [O, R] matrix view
// (granularity.h), a scale per tensor, output channel or group, zero points where the grid has them, and
// the grid (with its codebook table). It can dequantize, and it counts its own storage so that every
// method reports comparable bits per weight. A weight stored as a sum of such tensors (residual
// expansion) is a QuantizedWeight (quantized_weight.h).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "pare/formats/granularity.h"
#include "pare/formats/grid.h"

namespace pare::formats {

struct QuantizedTensor {
  Grid grid;
  Granularity granularity;
  int64_t out_axis = 0;
  std::vector<int64_t> shape;  // of the float tensor
  at::Tensor codes;            // int16 [O, R]
  at::Tensor scales;           // float [1, 1], [O, 1] or [O, groups]
  at::Tensor zero_points;      // int16, shaped as scales; undefined without zero points
  int scale_bits = 32;         // how scales are stored (16: float16, and the values are float16-exact)

  int64_t numel() const;
  int64_t out_channels() const { return codes.size(0); }
  int64_t reduction() const { return codes.size(1); }

  at::Tensor dequantize() const;         // float, `shape`, `out_axis` restored
  at::Tensor dequantize_matrix() const;  // float [O, R]

  // Storage in bits: codes at the grid's width, scales at scale_bits, zero points at the code width, a
  // codebook table at 16 bits per entry. bits_per_weight() = storage_bits() / numel().
  double code_bits() const;
  double overhead_bits() const;
  double storage_bits() const { return code_bits() + overhead_bits(); }
  double bits_per_weight() const { return storage_bits() / static_cast<double>(numel()); }
};

}  // namespace pare::formats
