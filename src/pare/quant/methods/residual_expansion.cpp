#include "pare/quant/methods/residual_expansion.h"

#include <cmath>

#include "pare/error.h"
#include "pare/quant/format_types.h"

namespace pare::quant {

at::Tensor select_expanded_rows(const at::Tensor& residual, double sparsity) {
  const int64_t o = residual.size(0);
  const int64_t k = std::min<int64_t>(o, std::max<int64_t>(1, static_cast<int64_t>(std::ceil(sparsity * o - 1e-9))));
  const at::Tensor norm = residual.to(at::kDouble).pow(2).sum(1);
  // A stable descending sort breaks ties by the lower index, so the choice is deterministic.
  const at::Tensor order = std::get<1>(norm.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  return std::get<0>(order.slice(0, 0, k).sort()).contiguous();
}

QuantizedWeight expand_residuals(const at::Tensor& w, int64_t out_axis, const ExpansionOptions& o,
                                 const TermQuantizer& op, const std::string& name) {
  if (o.order < 1)
    throw Error("expansion order K must be at least 1")
        .tensor(name)
        .got(std::to_string(o.order))
        .hint("pass --order 1..4");
  if (!(o.sparsity > 0 && o.sparsity <= 1))
    throw Error("expansion sparsity must be in (0, 1]")
        .tensor(name)
        .got(std::to_string(o.sparsity))
        .hint("it is the fraction of output rows expanded from order 2 on, e.g. --sparsity 0.25");
  QuantizedWeight q = op(w, out_axis);
  if (o.order == 1) return q;
  const at::Tensor m = to_matrix(w.detach().to(at::kFloat), q.main.out_axis);
  at::Tensor acc = q.main.dequantize_matrix();
  const bool dense = static_cast<int64_t>(std::ceil(o.sparsity * m.size(0) - 1e-9)) >= m.size(0);
  for (int k = 2; k <= o.order; ++k) {
    const at::Tensor residual = m - acc;
    ResidualTerm t;
    if (dense) {
      t.q = op(residual, 0);
      acc.add_(t.q.dequantize_matrix());
    } else {
      t.rows = select_expanded_rows(residual, o.sparsity);
      t.q = op(residual.index_select(0, t.rows).contiguous(), 0);
      acc.index_add_(0, t.rows, t.q.dequantize_matrix());
    }
    q.terms.push_back(std::move(t));
  }
  return q;
}

}  // namespace pare::quant
