// `--method awq`: activation-aware weight quantization (Lin et al. 2024, "AWQ: Activation-aware Weight
// Quantization for LLM Compression and Acceleration", arXiv 2306.00978), in the block pipeline. Per block, the
// layers that read one input form a group (a Llama's q/k/v after the input RMSNorm, gate/up after the
// post-attention RMSNorm, o_proj after the attention, down_proj after the SwiGLU product; see awq_fold.h for
// ONNX graphs). Per group, with m the mean |x| of each input channel on the block's quantized-prefix
// calibration inputs, AWQ tries s = m^α (normalized by sqrt(max · min)) for α on a grid in [0, 1), quantizes
// W·diag(s) with the base quantizer and keeps the α with the least output error
// ||X Wᵀ − (X diag(1/s)) Q(W diag(s))ᵀ||² over the group's layers. 1/s is then folded into the op that makes
// the input (a norm gain, a producer layer's rows), so the stored weight is a plain uniform-grid tensor of
// W·diag(s) and the model computes the same function before quantization; a group with nowhere to fold
// keeps α = 0 (RTN), with a note. Base `gptq` quantizes the scaled weight with GPTQ on the scaled inputs.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "pare/quant/method.h"
#include "pare/quant/quantize_weight.h"

namespace pare::quant {

// The scales for one α from each input channel's mean |x| (`mean_abs`, [C]): m^α, floored at 1e-4 and divided
// by sqrt(max · min), so that they sit around 1.
at::Tensor awq_scales(const at::Tensor& mean_abs, double alpha);

struct AwqSearch {
  double alpha = 0;
  at::Tensor scales;          // [C]
  double error = 0;           // output error at alpha, per input row
  double unscaled_error = 0;  // at alpha 0 (RTN)
};

// The α search for a group: `mean_abs` [R] the mean |x| of each input column and `hessian` [R, R] the mean
// x xᵀ of the group's input rows (so the output error of a weight change D is tr(D H Dᵀ) per row, computed
// without the rows), `weights` their [O_i, R] matrices with each one's base quantizer, R = C · k (k kernel
// positions per channel: each channel's k columns share its scale).
AwqSearch awq_search(const at::Tensor& mean_abs, const at::Tensor& hessian, const std::vector<at::Tensor>& weights,
                     const std::vector<WeightQuantOptions>& base, int64_t channels, int64_t grid);

Method awq_method();

}  // namespace pare::quant
