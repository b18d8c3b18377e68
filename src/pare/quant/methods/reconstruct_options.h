// The switches of the block-reconstruction engine (docs/methods/reconstruct.md), declared once as method
// options: `reconstruct` exposes them all, and adaround, brecq and qdrop are the same options with other
// defaults (their papers' settings).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pare/quant/method.h"
#include "pare/quant/methods/learned_weight.h"

namespace pare::quant {

enum class ReconstructLoss { Mse, Fisher };
enum class ReconstructInput { Float, Quantized, QDrop };

struct ReconstructOptions {
  ReconstructLoss loss = ReconstructLoss::Mse;
  LearnedWeightOptions weight;
  std::string init = "rtn";  // rtn | gptq | tquant | mquant (scales of 2-bit layers) | powerquant (power grids)
  ReconstructInput input = ReconstructInput::QDrop;
  double drop_prob = 0.5;  // QDrop: share of values that keep their float counterpart
  bool learn_act = false;  // learn activation scales (LSQ) with the weights
  std::string optimizer = "adam";
  std::string schedule = "cosine";
  double lr = 1e-2, scale_lr = 4e-5, exponent_lr = 1e-3;
  int64_t iters = 500, batch = 32;
  double reg_weight = 0.01, beta_start = 20, beta_end = 2, warmup = 0.2;  // AdaRound's regularizer
  double noise = 0;            // feature augmentation: Gaussian noise on block inputs, as a share of their std
  std::string unit = "block";  // block | layer (ONNX graphs)
  int64_t seed = 0;
};

// The option list with the defaults of `d` (every preset declares all switches).
std::vector<MethodOption> reconstruct_option_list(const ReconstructOptions& d);
// A recipe's values of those options.
ReconstructOptions reconstruct_options(const Recipe& r);

}  // namespace pare::quant
