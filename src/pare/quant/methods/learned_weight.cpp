#include "pare/quant/methods/learned_weight.h"

#include <cmath>

#include "pare/error.h"
#include "pare/formats/granularity.h"
#include "pare/quant/fake_quantize.h"

namespace pare::quant {
namespace {

constexpr double kZeta = 1.1, kGamma = -0.1;  // AdaRound's stretch of the sigmoid beyond [0, 1]
constexpr double kEdge = 0.49;                // offset/latent held within [floor - 0.49, floor + 1.49] codes
constexpr double kEdgeStart = 0.499;          // a start's codes: W/s held within their rounding interval

// AdaRound's h(V): a sigmoid stretched to (gamma, zeta) and clipped to [0, 1], so that it reaches 0 and 1.
at::Tensor rectified_sigmoid(const at::Tensor& v) {
  return (at::sigmoid(v) * (kZeta - kGamma) + kGamma).clamp(0.0, 1.0);
}

at::Tensor rows_of_scales(const at::Tensor& t) { return t.to(at::kFloat).reshape({-1, 1}); }

}  // namespace

RoundingVariable parse_rounding_variable(const std::string& text) {
  if (text == "adaround") return RoundingVariable::AdaRound;
  if (text == "offset") return RoundingVariable::Offset;
  if (text == "latent") return RoundingVariable::Latent;
  throw Error("unknown rounding variable").got(text).expected("adaround, offset or latent");
}

LearnedWeight::LearnedWeight(const at::Tensor& matrix, const QuantizedTensor& init, const LearnedWeightOptions& o)
    : init_(init), o_(o), out_(matrix.size(0)), red_(matrix.size(1)) {
  PARE_ASSERT(init.grid.kind != GridKind::Codebook, "learned weights start from a uniform, ternary or power grid");
  PARE_ASSERT(init.grid.kind != GridKind::Power || o.variable != RoundingVariable::Offset,
              "a power grid learns its codes in the power domain: adaround or latent");
  w_ = formats::to_rows(matrix.to(at::kFloat).detach(), init.granularity);
  s0_ = rows_of_scales(init.scales);
  zp_ = init.zero_points.defined() ? rows_of_scales(init.zero_points) : at::zeros({1, 1});
  a_ = at::full({}, init.grid.exponent, at::kFloat);
  if (o.learn_exponent && init.grid.kind == GridKind::Power) a_.requires_grad_(true);
  const at::Tensor s = at::where(s0_ > 0, s0_, at::ones_like(s0_));
  at::Tensor x = w_ / s;                  // the code domain: uniform and ternary codes are W/s (before the zero point)
  if (init.grid.kind == GridKind::Power)  // power codes are n * sign(W) * |W/s|^a
    x = x.sign() * x.abs().clamp_max(1.0).pow(init.grid.exponent) * static_cast<double>(init.grid.qmax());
  // A start whose codes are not the nearest ones (GPTQ's, a ternary threshold's): W is moved to the edge of its
  // start code's rounding interval, so that rounding gives the start and AdaRound chooses between it and the
  // neighbour towards W.
  const at::Tensor start = formats::to_rows(init.codes.to(at::kFloat), init.granularity) - zp_;
  x = at::min(at::max(x, start - kEdgeStart), start + kEdgeStart);
  floor_ = x.floor() + zp_;
  s_ = o.learn_scale ? s0_.clone().requires_grad_(true) : s0_;
  switch (o.variable) {
    case RoundingVariable::AdaRound: {
      const at::Tensor rest = (x - x.floor()).clamp(0.0, 1.0);
      v_ = -at::log((kZeta - kGamma) / (rest - kGamma) - 1.0);
      break;
    }
    case RoundingVariable::Offset:
      v_ = x * s - w_;
      break;  // 0 from RTN
    case RoundingVariable::Latent:
      v_ = x.clone();
      break;
  }
  v_.requires_grad_(true);
}

at::Tensor LearnedWeight::scale() const {
  if (!o_.learn_scale) return s0_;
  return at::where(s_ > 0, s_, s0_);  // a scale pushed through zero falls back to its start
}

at::Tensor LearnedWeight::codes_rows() const {
  const double lo = static_cast<double>(init_.grid.qmin()), hi = static_cast<double>(init_.grid.qmax());
  switch (o_.variable) {
    case RoundingVariable::AdaRound: {
      return (floor_ + rectified_sigmoid(v_)).clamp(lo, hi);
    }
    case RoundingVariable::Offset: {
      const at::Tensor s = scale();
      const at::Tensor safe = at::where(s > 0, s, at::ones_like(s));
      return (round_ste((w_ + v_) / safe) + zp_).clamp(lo, hi);
    }
    case RoundingVariable::Latent:
      return (round_ste(v_) + zp_).clamp(lo, hi);
  }
  return {};
}

at::Tensor LearnedWeight::values(const at::Tensor& codes) const {
  if (init_.grid.kind != GridKind::Power) return (codes - zp_) * scale();
  // s * sign(c) * (|c| / n)^(1/a), differentiable in a; a zero code stays 0 without a 0^x gradient.
  const at::Tensor u = codes.abs() / static_cast<double>(init_.grid.qmax());
  const at::Tensor a = a_.clamp(0.05, 4.0);
  return scale() * codes.sign() * at::where(u > 0, u.clamp_min(1e-12).pow(1.0 / a), at::zeros_like(u));
}

at::Tensor LearnedWeight::matrix() const {
  const at::Tensor values = at::where(s0_ > 0, this->values(codes_rows()), at::zeros_like(w_));
  return formats::from_rows(values, out_, red_, init_.granularity);
}

at::Tensor LearnedWeight::regularizer(double beta) const {
  if (o_.variable != RoundingVariable::AdaRound) return at::zeros({});
  const at::Tensor h = rectified_sigmoid(v_);
  return (1.0 - (2.0 * h - 1.0).abs().pow(beta)).sum();
}

std::vector<std::pair<std::string, at::Tensor>> LearnedWeight::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> p{{"v", v_}};
  if (o_.learn_scale) p.emplace_back("scale", s_);
  if (a_.requires_grad()) p.emplace_back("exponent", a_);
  return p;
}

void LearnedWeight::project() {
  if (o_.full_space || o_.variable == RoundingVariable::AdaRound) return;
  at::NoGradGuard no_grad;
  const at::Tensor base = floor_ - zp_;
  at::Tensor lo = base - kEdge, hi = base + 1.0 + kEdge;
  if (o_.variable == RoundingVariable::Offset) lo = lo * s0_ - w_, hi = hi * s0_ - w_;
  v_.copy_(at::min(at::max(v_, lo), hi));
}

QuantizedTensor LearnedWeight::result() const {
  at::NoGradGuard no_grad;
  const double lo = static_cast<double>(init_.grid.qmin()), hi = static_cast<double>(init_.grid.qmax());
  at::Tensor codes;
  if (o_.variable == RoundingVariable::AdaRound) {
    codes = (floor_ + (rectified_sigmoid(v_) >= 0.5).to(at::kFloat)).clamp(lo, hi);
  } else {
    codes = codes_rows().detach();
  }
  codes = at::where(s0_ > 0, codes, zp_.expand_as(codes));
  QuantizedTensor q = init_;
  if (q.grid.kind == GridKind::Power) q.grid.exponent = a_.clamp(0.05, 4.0).item<double>();
  q.codes = formats::from_rows(codes, out_, red_, init_.granularity).round().to(at::kShort);
  at::Tensor s = scale().detach().clone();
  if (init_.scale_bits == 16) s = s.to(at::kHalf).to(at::kFloat);
  q.scales = s.reshape(init_.scales.sizes());
  return q;
}

double LearnedWeight::converged_share() const {
  if (o_.variable != RoundingVariable::AdaRound) return 1.0;
  at::NoGradGuard no_grad;
  const at::Tensor h = rectified_sigmoid(v_);
  return ((h < 0.01) | (h > 0.99)).to(at::kFloat).mean().item<double>();
}

}  // namespace pare::quant
