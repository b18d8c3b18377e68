#include "pare/quant/methods/gptq_solver.h"

#include <fmt/format.h>

#include "pare/error.h"

namespace pare::quant {
namespace {

// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U): row i of U holds the OBS update of the columns after i
// once columns before i are fixed.
at::Tensor inverse_hessian_factor(at::Tensor h, double damp, const std::string& name) {
  const at::Tensor diag = h.diagonal();
  h.diagonal().add_(damp * diag.mean().item<double>());
  auto [l, info] = at::linalg_cholesky_ex(h);
  if (info.item<int64_t>() != 0)
    throw Error("GPTQ: the Hessian of the layer's inputs is not positive definite after dampening")
        .tensor(name)
        .hint("raise --damp (e.g. 0.1), or give more calibration samples");
  return at::linalg_cholesky(at::cholesky_inverse(l), /*upper=*/true);
}

// The scale and zero point column `col` of an [O, R] tensor quantized with `q`'s granularity uses, as [O|1, 1].
std::pair<at::Tensor, at::Tensor> column_scale(const QuantizedTensor& q, int64_t col) {
  int64_t g = q.granularity.kind == Granularity::Kind::Group ? col / q.granularity.group_size : 0;
  g = std::min(g, q.scales.size(1) - 1);
  return {q.scales.narrow(1, g, 1), q.zero_points.defined() ? q.zero_points.narrow(1, g, 1) : at::Tensor()};
}

// Dynamic groups: the scale of the group starting at column `col` (at position i of the lazy batch W1 that
// starts at column i1) from the weights as updated so far, with RTN's scale choice.
void rescale_group(QuantizedTensor& q, const at::Tensor& W, const at::Tensor& W1, int64_t i1, int64_t i, int64_t col,
                   const WeightQuantOptions& base) {
  const int64_t size = q.granularity.group_size, cols = W.size(1);
  const int64_t in_batch = std::min(size, W1.size(1) - i);
  at::Tensor group = W1.narrow(1, i, in_batch);
  if (in_batch < size && i1 + i + in_batch < cols)
    group = at::cat({group, W.narrow(1, i1 + i + in_batch, std::min(size - in_batch, cols - i1 - i - in_batch))}, 1);
  at::Tensor imp;  // imatrix scales: the importance of the group's columns
  if (base.scale.method == ScaleMethod::Imatrix && base.scale.importance.defined())
    imp = base.scale.importance.narrow(0, col, group.size(1)).reshape({1, -1});
  const RowScales s = choose_scales(group.to(at::kFloat), q.grid, base.scale, imp);
  const int64_t g = col / size;
  q.scales.narrow(1, g, 1).copy_(s.scale);
  if (q.zero_points.defined()) q.zero_points.narrow(1, g, 1).copy_(s.zero_point);
}

}  // namespace

QuantizedTensor gptq_quantize(const at::Tensor& w, const at::Tensor& hessian, const WeightQuantOptions& base,
                              const GptqOptions& o, const std::string& name) {
  const int64_t rows = w.size(0), cols = w.size(1);
  if (!at::isfinite(hessian).all().item<bool>())
    throw Error("GPTQ: the Hessian of the layer's inputs holds NaN or Inf")
        .tensor(name)
        .hint("check the calibration data and the model's activations for overflow");
  QuantizedTensor q = quantize_weight(w, 0, base, name);  // static scales: RTN's, on the float weight
  at::Tensor W = w.clone(), H = hessian.clone();
  const at::Tensor dead = H.diagonal() == 0;  // inputs that are always zero: their weights do not matter
  H.diagonal().masked_fill_(dead, 1.0);
  W.masked_fill_(dead.unsqueeze(0), 0.0);
  at::Tensor perm = o.act_order ? at::argsort(H.diagonal(), 0, /*descending=*/true) : at::arange(cols, at::kLong);
  W = W.index_select(1, perm);
  H = H.index_select(0, perm).index_select(1, perm);
  const at::Tensor U = inverse_hessian_factor(H, o.damp, name);
  at::Tensor codes = at::empty({rows, cols}, at::kShort);
  const int64_t* order = perm.data_ptr<int64_t>();
  const bool dynamic = !o.static_groups && !o.act_order && q.granularity.kind == Granularity::Kind::Group;
  for (int64_t i1 = 0; i1 < cols; i1 += o.block_size) {
    const int64_t n = std::min(o.block_size, cols - i1);
    at::Tensor W1 = W.narrow(1, i1, n).clone(), E1 = at::zeros({rows, n}, W.options());
    const at::Tensor U1 = U.narrow(0, i1, n).narrow(1, i1, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t col = order[i1 + i];
      if (dynamic && col % q.granularity.group_size == 0) rescale_group(q, W, W1, i1, i, col, base);
      auto [s, z] = column_scale(q, col);
      const at::Tensor x = W1.narrow(1, i, 1);
      const at::Tensor c = quantize_rows(x, q.grid, s, z);
      codes.narrow(1, col, 1).copy_(c);
      const at::Tensor err = (x - dequantize_rows(c, q.grid, s, z).to(W.scalar_type())) / U1[i][i];
      W1.narrow(1, i, n - i).sub_(err.matmul(U1.narrow(0, i, 1).narrow(1, i, n - i)));
      E1.narrow(1, i, 1).copy_(err);
    }
    if (i1 + n < cols)
      W.narrow(1, i1 + n, cols - i1 - n).sub_(E1.matmul(U.narrow(0, i1, n).narrow(1, i1 + n, cols - i1 - n)));
  }
  q.codes = codes;
  return q;
}

}  // namespace pare::quant
