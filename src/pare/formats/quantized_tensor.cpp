#include "pare/formats/quantized_tensor.h"

#include "pare/formats/row_codes.h"

namespace pare::formats {

int64_t QuantizedTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

at::Tensor QuantizedTensor::dequantize_matrix() const {
  const int64_t o = codes.size(0), r = codes.size(1);
  const at::Tensor q = to_rows(codes, granularity);
  const at::Tensor zp = zero_points.defined() ? zero_points.reshape({-1, 1}) : at::Tensor();
  const at::Tensor d = dequantize_rows(q, grid, scales.reshape({-1, 1}), zp);
  return from_rows(d, o, r, granularity);
}

at::Tensor QuantizedTensor::dequantize() const { return from_matrix(dequantize_matrix(), shape, out_axis); }

double QuantizedTensor::code_bits() const { return static_cast<double>(numel()) * grid.bits; }

double QuantizedTensor::overhead_bits() const {
  double bits = static_cast<double>(scales.numel()) * scale_bits;
  if (zero_points.defined()) bits += static_cast<double>(zero_points.numel()) * grid.bits;
  if (grid.kind == GridKind::Codebook) bits += static_cast<double>(grid.table.numel()) * 16;
  return bits;
}

}  // namespace pare::formats
