// REx residual error expansion (Yvinec et al., arXiv 2203.14645; PIPE arXiv 2311.15806), as reconstructed in
// docs/methods/rex.md: a weight becomes a sum of K quantized terms at the same bit width, each
// quantizing what the earlier ones left over, each with its own scales. From order 2 on only the fraction
// `sparsity` of output rows with the largest residual L2 norm is expanded (group sparsity), so storage and
// integer MACs grow by 1 + (K - 1) * ceil(sparsity * O) / O instead of K.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>

#include "pare/quant/format_types.h"

namespace pare::quant {

// Quantizes one term: a float tensor with output rows on `out_axis` -> its QuantizedTensor. RTN by default;
// the expansion is agnostic to the operator (ternary, power, ...).
using TermQuantizer = std::function<QuantizedTensor(const at::Tensor& w, int64_t out_axis)>;

struct ExpansionOptions {
  int order = 2;          // K >= 1
  double sparsity = 1.0;  // fraction of rows expanded from order 2 on, in (0, 1]
};

// The expansion of `w`: the first term over all rows with `terms` holding orders 2..K (rows set when
// sparse). K = 1 is exactly `op(w, out_axis)`. Throws Error (naming `name`) for K < 1 or sparsity outside (0, 1].
QuantizedWeight expand_residuals(const at::Tensor& w, int64_t out_axis, const ExpansionOptions& options,
                                 const TermQuantizer& op, const std::string& name);

// The rows a sparse term expands: the ceil(sparsity * O) rows of `residual` [O, R] with the largest L2 norm,
// ascending; ties go to the lower row index.
at::Tensor select_expanded_rows(const at::Tensor& residual, double sparsity);

}  // namespace pare::quant
