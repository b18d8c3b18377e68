#include "pare/quant/methods/ternary_operator.h"

#include <algorithm>
#include <cmath>

#include "pare/error.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {

TernaryOp parse_ternary_op(const std::string& text) {
  if (text == "ternary-rtn" || text == "rtn") return TernaryOp::Rtn;
  if (text == "tquant") return TernaryOp::TQuant;
  if (text == "mquant") return TernaryOp::MQuant;
  throw Error("unknown ternary operator '" + text + "'").expected("ternary-rtn, tquant or mquant");
}

std::string to_string(TernaryOp op) {
  switch (op) {
    case TernaryOp::Rtn:
      return "ternary-rtn";
    case TernaryOp::TQuant:
      return "tquant";
    case TernaryOp::MQuant:
      return "mquant";
  }
  return "?";
}

namespace {

// The element of 0-based rank floor(p * n) of each row of `a` [N, n] (std::nth_element's k), [N, 1].
at::Tensor rank_p(const at::Tensor& a, double p) {
  const int64_t n = a.size(1);
  const int64_t k = std::min<int64_t>(n - 1, static_cast<int64_t>(std::floor(p * static_cast<double>(n))));
  return std::get<0>(at::kthvalue(a, k + 1, 1, /*keepdim=*/true));
}

// MQuant's threshold per row of |w| rows [N, L]. A short last group is zero-padded by to_rows; its
// quantile is taken over its real elements only, else the padding zeros would pull Delta to 0.
at::Tensor mquant_threshold(const at::Tensor& a, int64_t o, int64_t r, const Granularity& g, double p) {
  const int64_t gs = g.group_size;
  if (g.kind != Granularity::Kind::Group || r <= gs || r % gs == 0) return rank_p(a, p);
  const int64_t n = g.groups(r), last = r - (n - 1) * gs;
  const at::Tensor a3 = a.view({o, n, gs});
  const at::Tensor full = rank_p(a3.slice(1, 0, n - 1).reshape({-1, gs}), p).view({o, n - 1});
  const at::Tensor tail = rank_p(a3.select(1, n - 1).slice(1, 0, last), p);  // [O, 1]
  return at::cat({full, tail}, 1).reshape({-1, 1});
}

}  // namespace

QuantizedTensor ternarize_weight(const at::Tensor& w, int64_t out_axis, const Granularity& g, const TernaryOptions& o,
                                 const std::string& name) {
  if (!(o.zero_mass > 0 && o.zero_mass < 1))
    throw Error("ternary zero mass must be in (0, 1)").tensor(name).got(std::to_string(o.zero_mass));
  if (o.scale_bits != 16 && o.scale_bits != 32)
    throw Error("scale bits must be 16 or 32").tensor(name).got(std::to_string(o.scale_bits));
  const at::Tensor x = checked_weight(w, out_axis, name);

  QuantizedTensor q;
  q.grid = Grid::ternary();
  q.granularity = g;
  q.out_axis = w.dim() > 1 ? out_axis : 0;
  q.shape = w.sizes().vec();
  q.scale_bits = o.scale_bits;
  const at::Tensor m = to_matrix(x, q.out_axis);
  const int64_t rows_o = m.size(0), r = m.size(1);
  const at::Tensor rows = to_rows(m, g);
  const at::Tensor a = rows.abs();
  const at::Tensor big = std::get<0>(a.max(1, /*keepdim=*/true));  // M; padding zeros never raise it

  at::Tensor delta, alpha;
  switch (o.op) {
    case TernaryOp::Rtn:
      delta = big * 0.5;
      alpha = big;
      break;
    case TernaryOp::TQuant:
      delta = big / 3.0;
      alpha = big * (2.0 / 3.0);
      break;
    case TernaryOp::MQuant:
      delta = mquant_threshold(a, rows_o, r, g, o.zero_mass);
      break;
  }
  // Delta >= 0, so padding (0) is never above it: the kept set needs no mask. Codes: 1 where kept, then
  // -1 where below -Delta (cheaper than sign(x) * keep in float).
  const at::Tensor keep = a > delta;
  at::Tensor codes = keep.to(at::kShort);
  codes.masked_fill_(rows < -delta, -1);
  if (o.op == TernaryOp::MQuant) {
    const at::Tensor count = keep.sum(1, /*keepdim=*/true);
    at::Tensor agg;
    if (o.alpha_median) {
      // The kept elements are the `count` largest of the row, so they end its ascending sort; take the
      // lower median of that tail (what at::median returns).
      const at::Tensor sorted = std::get<0>(a.sort(1));
      const at::Tensor idx = (a.size(1) - count + at::div(count - 1, 2, "floor")).clamp(0, a.size(1) - 1);
      agg = sorted.gather(1, idx);
    } else {
      agg = (rows * codes).sum(1, /*keepdim=*/true) / count.clamp_min(1).to(at::kFloat);  // x * code = |x| if kept
    }
    alpha = at::where(count > 0, agg, big);
  }
  if (o.scale_bits == 16) alpha = alpha.to(at::kHalf).to(at::kFloat);

  q.codes = from_rows(codes, rows_o, r, g).contiguous();
  q.scales = alpha.reshape(scale_shape(rows_o, r, g)).contiguous();
  return q;
}

}  // namespace pare::quant
