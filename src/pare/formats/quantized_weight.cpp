#include "pare/formats/quantized_weight.h"

namespace pare::formats {

at::Tensor QuantizedWeight::dequantize() const {
  if (terms.empty()) return main.dequantize();
  at::Tensor m = main.dequantize_matrix();
  // Terms are added in order, one at a time: the package reader sums in the same order, so a model
  // evaluated before export and after loading its package sees bit-identical weights.
  for (const auto& t : terms) {
    if (t.rows.defined())
      m.index_add_(0, t.rows, t.q.dequantize_matrix());
    else
      m.add_(t.q.dequantize_matrix());
  }
  return from_matrix(m, main.shape, main.out_axis);
}

double QuantizedWeight::cost_factor() const {
  double c = 1;
  for (const auto& t : terms) c += static_cast<double>(t.q.out_channels()) / static_cast<double>(out_channels());
  return c;
}

double QuantizedWeight::code_bits() const {
  double bits = main.code_bits();
  for (const auto& t : terms) bits += t.q.code_bits();
  return bits;
}

double QuantizedWeight::overhead_bits() const {
  double bits = main.overhead_bits();
  for (const auto& t : terms)
    bits += t.q.overhead_bits() + (t.rows.defined() ? static_cast<double>(out_channels()) : 0.0);
  return bits;
}

}  // namespace pare::formats
