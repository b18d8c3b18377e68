#include "pare/formats/row_codes.h"

namespace pare::formats {

namespace {

// x / scale, and 0 where the scale is 0 (an all-zero row), instead of NaN. A division, not a product
// with 1 / scale, because that is what ONNX QuantizeLinear computes: codes match ONNX Runtime's.
at::Tensor divide_or_zero(const at::Tensor& x, const at::Tensor& scale) {
  const at::Tensor positive = scale > 0;
  return at::where(positive, x / at::where(positive, scale, at::ones_like(scale)), at::zeros_like(x));
}

}  // namespace

at::Tensor quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale, const at::Tensor& zero_point) {
  const double qmin = static_cast<double>(grid.qmin()), qmax = static_cast<double>(grid.qmax());
  at::Tensor q;
  switch (grid.kind) {
    case GridKind::Uniform:
    case GridKind::Ternary:
      q = divide_or_zero(x, scale).round();
      if (grid.has_zero_point()) q = q + zero_point;
      q = q.clamp(qmin, qmax);
      break;
    case GridKind::Power: {
      // |x / s|^a * n, rounded: the nearest level in the power domain (PowerQuant's quantizer).
      const at::Tensor u = divide_or_zero(x.abs(), scale).clamp_max(1.0);
      q = (x.sign() * u.pow(grid.exponent) * qmax).round().clamp(qmin, qmax);
      break;
    }
    case GridKind::Codebook: {
      // Nearest entry of the ascending table: count the midpoints below each value.
      const at::Tensor t = grid.table.to(x.device());
      const at::Tensor mid = (t.slice(0, 1) + t.slice(0, 0, -1)) * 0.5;
      q = at::bucketize(divide_or_zero(x, scale).contiguous(), mid);
      break;
    }
  }
  return q.to(at::kShort);
}

at::Tensor dequantize_rows(const at::Tensor& codes, const Grid& grid, const at::Tensor& scale,
                           const at::Tensor& zero_point) {
  const at::Tensor q = codes.to(at::kFloat);
  switch (grid.kind) {
    case GridKind::Uniform:
      return (grid.has_zero_point() ? q - zero_point.to(at::kFloat) : q) * scale;
    case GridKind::Ternary:
      return q * scale;
    case GridKind::Power: {
      const double n = static_cast<double>(grid.qmax());
      return scale * q.sign() * (q.abs() / n).pow(1.0 / grid.exponent);
    }
    case GridKind::Codebook:
      return at::index_select(grid.table.to(scale.device()), 0, codes.flatten().to(at::kLong)).reshape(codes.sizes()) *
             scale;
  }
  return q;
}

}  // namespace pare::formats
