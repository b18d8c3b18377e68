#include "pare/quant/fake_quantize.h"

#include "pare/formats/row_codes.h"

namespace pare::quant {

at::Tensor round_ste(const at::Tensor& x) { return x + (x.round() - x).detach(); }

at::Tensor fake_quantize_rows(const at::Tensor& x, const Grid& grid, const at::Tensor& scale,
                              const at::Tensor& zero_point) {
  if (grid.kind != GridKind::Uniform && grid.kind != GridKind::Ternary) {
    const at::Tensor d =
        dequantize_rows(quantize_rows(x.detach(), grid, scale.detach(), zero_point), grid, scale.detach(), zero_point);
    return x + (d - x).detach();
  }
  const double qmin = static_cast<double>(grid.qmin()), qmax = static_cast<double>(grid.qmax());
  const at::Tensor s = at::where(scale > 0, scale, at::ones_like(scale));  // zero rows stay zero below
  at::Tensor q = round_ste(x / s);
  if (grid.has_zero_point()) q = q + zero_point.to(at::kFloat);
  q = q.clamp(qmin, qmax);  // clamp's gradient is 0 outside the range: the clipped weights do not move
  if (grid.has_zero_point()) q = q - zero_point.to(at::kFloat);
  return at::where(scale > 0, q * s, at::zeros_like(x));
}

}  // namespace pare::quant
