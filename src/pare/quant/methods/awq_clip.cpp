#include "pare/quant/methods/awq_clip.h"

#include "pare/formats/row_codes.h"

namespace pare::quant {
namespace {

constexpr int kSteps = 10;  // ratios 1 - i/20, i < 10: down to 0.55 (llm-awq: max_shrink 0.5, 20 grid)
constexpr double kStep = 1.0 / 20;

// The Hessian's diagonal blocks, one per group of `g` columns (the last one padded with zeros): [groups, g, g].
at::Tensor group_blocks(const at::Tensor& h, int64_t groups, int64_t g) {
  const int64_t r = h.size(0);
  at::Tensor padded = at::zeros({groups * g, groups * g}, h.options());
  padded.narrow(0, 0, r).narrow(1, 0, r).copy_(h);
  std::vector<at::Tensor> blocks;
  for (int64_t k = 0; k < groups; ++k) blocks.push_back(padded.narrow(0, k * g, g).narrow(1, k * g, g));
  return at::stack(blocks);
}

}  // namespace

at::Tensor awq_clip(const at::Tensor& w, const at::Tensor& hessian, const WeightQuantOptions& base) {
  if (base.granularity.kind == Granularity::Kind::Tensor) return w;
  const int64_t o = w.size(0), r = w.size(1);
  const at::Tensor rows = to_rows(w.to(at::kFloat), base.granularity);  // [O * groups, g]
  const int64_t groups = rows.size(0) / o, g = rows.size(1);
  const at::Tensor hb = group_blocks(hessian.to(at::kFloat), groups, g);
  const Grid& grid = base.grid;
  at::Tensor lo, hi;
  if (grid.has_zero_point()) {
    lo = std::get<0>(rows.min(1, true)), hi = std::get<0>(rows.max(1, true));
  } else {
    hi = std::get<0>(rows.abs().max(1, true)), lo = -hi;
  }
  at::Tensor best_err, best_ratio = at::ones({rows.size(0), 1});
  for (int i = 0; i < kSteps; ++i) {
    const double ratio = 1.0 - kStep * i;
    const RowScales s = scales_for_range(lo * ratio, hi * ratio, grid, base.scale.scale_bits);
    const at::Tensor q = formats::dequantize_rows(formats::quantize_rows(rows, grid, s.scale, s.zero_point), grid,
                                                  s.scale, s.zero_point);
    const at::Tensor d = (rows - q).reshape({o, groups, g});
    const at::Tensor err = at::einsum("ogi,gij,ogj->og", {d, hb, d}).reshape({-1, 1});
    if (i == 0) {
      best_err = err;
      continue;
    }
    const at::Tensor better = err < best_err;
    best_err = at::where(better, err, best_err);
    best_ratio = at::where(better, at::full_like(best_ratio, ratio), best_ratio);
  }
  const at::Tensor clipped = at::maximum(at::minimum(rows, hi * best_ratio), lo * best_ratio);
  return from_rows(clipped, o, r, base.granularity);
}

}  // namespace pare::quant
