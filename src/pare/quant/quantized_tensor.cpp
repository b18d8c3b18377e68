#include "pare/quant/quantized_tensor.h"

#include "pare/error.h"
#include "pare/quant/row_quantizer.h"

namespace pare::quant {

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

at::Tensor QuantizedTensor::dequantize() const {
  at::Tensor m = dequantize_matrix();
  // Terms are added in order, one at a time: the package reader sums in the same order, so a model
  // evaluated before export and after loading its package sees bit-identical weights.
  for (const auto& t : terms) {
    if (t.rows.defined())
      m.index_add_(0, t.rows, t.dequantize_matrix());
    else
      m.add_(t.dequantize_matrix());
  }
  return from_matrix(m, shape, out_axis);
}

double QuantizedTensor::cost_factor() const {
  double c = 1;
  for (const auto& t : terms) c += static_cast<double>(t.out_channels()) / static_cast<double>(out_channels());
  return c;
}

double QuantizedTensor::code_bits() const {
  double bits = static_cast<double>(numel()) * grid.bits;
  for (const auto& t : terms) bits += t.code_bits();
  return bits;
}

double QuantizedTensor::overhead_bits() const {
  double bits = static_cast<double>(scales.numel()) * scale_bits;
  if (zero_points.defined()) bits += static_cast<double>(zero_points.numel()) * grid.bits;
  if (grid.kind == GridKind::Codebook) bits += static_cast<double>(grid.table.numel()) * 16;
  for (const auto& t : terms)
    bits += t.overhead_bits() + (t.rows.defined() ? static_cast<double>(out_channels()) : 0.0);
  return bits;
}

at::Tensor checked_weight(const at::Tensor& w, int64_t out_axis, const std::string& name) {
  if (w.dim() > 0 && (out_axis < 0 || out_axis >= w.dim()))
    throw Error("output-channel axis out of range").tensor(name).got(std::to_string(out_axis));
  const at::Tensor x = w.detach().to(at::kFloat);
  if (!at::isfinite(x).all().item<bool>())
    throw Error("weight holds NaN or Inf values")
        .tensor(name)
        .got(std::to_string(at::isfinite(x).logical_not().sum().item<int64_t>()) + " non-finite values")
        .hint("the model is broken before quantization: retrain or re-export it");
  return x;
}

QuantizedTensor quantize_weight(const at::Tensor& w, int64_t out_axis, const WeightQuantOptions& o,
                                const std::string& name) {
  o.grid.validate("tensor '" + name + "'");
  const at::Tensor x = checked_weight(w, out_axis, name);
  QuantizedTensor q;
  q.grid = o.grid;
  q.granularity = o.granularity;
  q.out_axis = w.dim() > 1 ? out_axis : 0;
  q.shape = w.sizes().vec();
  q.scale_bits = o.scale.scale_bits;
  const at::Tensor m = to_matrix(x, q.out_axis);
  const int64_t rows_o = m.size(0), r = m.size(1);
  const at::Tensor rows = to_rows(m, o.granularity);
  RowScales s = choose_scales(rows, o.grid, o.scale);
  const at::Tensor codes = quantize_rows(rows, o.grid, s.scale, s.zero_point);
  const auto shape = scale_shape(rows_o, r, o.granularity);
  q.codes = from_rows(codes, rows_o, r, o.granularity).contiguous();
  q.scales = s.scale.reshape(shape).contiguous();
  if (s.zero_point.defined()) q.zero_points = s.zero_point.reshape(shape).contiguous();
  return q;
}

}  // namespace pare::quant
