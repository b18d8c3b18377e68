#include "pare/quant/quantize_weight.h"

#include "pare/error.h"
#include "pare/formats/row_codes.h"

namespace pare::quant {

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

at::Tensor importance_rows(const ScaleOptions& o, int64_t rows_o, int64_t r, const Granularity& g,
                           const std::string& name) {
  if (o.method != ScaleMethod::Imatrix || !o.importance.defined()) return {};
  if (o.importance.numel() != r)
    throw Error("input importance does not match the weight's reduction size")
        .tensor(name)
        .expected(std::to_string(r) + " values (one per input channel)")
        .got(std::to_string(o.importance.numel()));
  return to_rows(o.importance.to(at::kFloat).reshape({1, r}).expand({rows_o, r}).contiguous(), g);
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
  RowScales s = choose_scales(rows, o.grid, o.scale, importance_rows(o.scale, rows_o, r, o.granularity, name));
  const at::Tensor codes = formats::quantize_rows(rows, o.grid, s.scale, s.zero_point);
  const auto shape = scale_shape(rows_o, r, o.granularity);
  q.codes = from_rows(codes, rows_o, r, o.granularity).contiguous();
  q.scales = s.scale.reshape(shape).contiguous();
  if (s.zero_point.defined()) q.zero_points = s.zero_point.reshape(shape).contiguous();
  return q;
}

}  // namespace pare::quant
