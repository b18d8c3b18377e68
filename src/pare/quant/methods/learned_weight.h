// A quantized weight whose codes (and optionally scales) are learned by gradient: the degrees of freedom of
// block reconstruction (docs/methods/reconstruct.md). It starts from a quantized tensor of the same grid
// (RTN, or a ternary operator's scales) and ends as one: the stored form does not change, only its values.
//
//   adaround  codes = clamp(floor(W/s) + h(V)), h(V) = clip(sigmoid(V)(zeta - gamma) + gamma, 0, 1),
//             V starts where h(V) = frac(W/s); the regularizer sum(1 - |2h - 1|^beta) drives h to {0, 1}
//             (AdaRound, arXiv 2004.10568). Rounding only: each code is floor(W/s) or floor(W/s) + 1.
//   offset    codes = clamp(round(W/s + delta/s)) with straight-through rounding, delta in weight units,
//             starting at 0
//   latent    codes = clamp(round(z)) with straight-through rounding, z in code units starting at W/s
// With `full_space` false, offset and latent are held to floor(W/s) and floor(W/s) + 1 as AdaRound is; with it
// true they may reach any code. With `learn_scale` the scales are parameters too (LSQ-style gradient).
// On a power grid (NUPES, arXiv 2308.05600) the codes live in the power domain, c = n sign(W) |W/s|^a, the
// weight is s sign(c) (|c|/n)^(1/a), and with `learn_exponent` the exponent a is learned by gradient too.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "pare/quant/format_types.h"

namespace pare::quant {

enum class RoundingVariable { AdaRound, Offset, Latent };
RoundingVariable parse_rounding_variable(const std::string& text);  // "adaround", "offset", "latent"

struct LearnedWeightOptions {
  RoundingVariable variable = RoundingVariable::AdaRound;
  bool full_space = false;
  bool learn_scale = false;
  bool learn_exponent = false;  // power grids only
};

class LearnedWeight {
 public:
  // `matrix`: the float weight's [O, R] view; `init`: a quantized tensor of it (uniform or ternary grid)
  // whose grid, granularity, scales and zero points are the starting point.
  LearnedWeight(const at::Tensor& matrix, const QuantizedTensor& init, const LearnedWeightOptions& options);

  // The dequantized [O, R] matrix as the variables make it now, differentiable in them.
  at::Tensor matrix() const;
  // AdaRound's rounding regularizer at exponent beta (a zero tensor for the other variables).
  at::Tensor regularizer(double beta) const;
  // The tensors an optimizer updates, by kind: "v" (the variable), "scale", "exponent".
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  // After an optimizer step: holds offset and latent variables inside their allowed codes.
  void project();
  // The learned weight with hard codes (AdaRound: h >= 0.5 rounds up), as the pipeline stores it.
  QuantizedTensor result() const;
  const QuantizedTensor& start() const { return init_; }  // what it started from
  // Share of AdaRound's h(V) within 0.01 of 0 or 1 (1 for the others): how far rounding has converged.
  double converged_share() const;

 private:
  at::Tensor codes_rows() const;                     // float codes (zero point included), differentiable
  at::Tensor scale() const;                          // [rows, 1]
  at::Tensor values(const at::Tensor& codes) const;  // the grid's values of float codes, differentiable

  QuantizedTensor init_;
  LearnedWeightOptions o_;
  int64_t out_, red_;
  at::Tensor w_, floor_, zp_;  // rows of W, floor(W/s) + zero point, zero point as float ([rows, 1] or 0)
  at::Tensor s0_, s_;          // initial scales [rows, 1]; s_: the learned ones (a parameter) or s0_
  at::Tensor v_;               // the variable: V, delta or z
  at::Tensor a_;               // the power grid's exponent (a parameter with learn_exponent)
};

}  // namespace pare::quant
