// GPTQ's solver (Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers"): quantizes a weight matrix column by column and, after each column, spreads its rounding
// error over the columns not yet quantized through the inverse Hessian of the layer's inputs (optimal brain
// surgeon updates), so that the layer's output on the calibration inputs changes as little as possible.
// Implemented from the paper: Cholesky form of the inverse Hessian, lazy batches of columns, dampening,
// optional activation order. Per-tensor and per-channel scales are those RTN chooses on the float weight; group
// scales the same (static groups, the default: on the brown-llama at W3 g128 they gave a lower KLD) or chosen
// when the group's first column is reached, from the weights as the error feedback left them (the paper's
// default). With act-order, groups are always static, so that they stay contiguous in the stored order.
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "pare/quant/quantize_weight.h"

namespace pare::quant {

struct GptqOptions {
  double damp = 0.01;         // added to the Hessian's diagonal, as a share of its mean diagonal
  int64_t block_size = 128;   // columns per lazy batch (the result does not depend on it)
  bool act_order = false;     // quantize columns by decreasing Hessian diagonal (largest inputs first)
  bool static_groups = true;  // group scales from the float weight (always, with act_order)
};

// `w`: the [O, R] matrix view of a weight (granularity.h); `hessian`: [R, R], the mean of x xᵀ over the layer's
// input rows x (any positive scale). Both in the same floating type (float32 in the pipeline, float64 in tests).
// Columns whose input is always zero (zero diagonal) are set to zero. Returns the weight quantized with
// `base`'s grid, granularity and scale choice, as an [O, R] tensor (shape {O, R}, out_axis 0). Error naming
// `name` for a Hessian with NaN/Inf or one the dampening cannot make positive definite.
QuantizedTensor gptq_quantize(const at::Tensor& w, const at::Tensor& hessian, const WeightQuantOptions& base,
                              const GptqOptions& options, const std::string& name);

}  // namespace pare::quant
