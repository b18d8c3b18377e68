// Data-free per-channel statistics of a network's values, propagated from BatchNormalization parameters
// (and, as a documented fallback for transformers, LayerNormalization parameters), and the data-free
// activation ranges built from them. No data set is read.
//
// Reconstruction of Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
// Correction" (arXiv 1906.04721), §4.2: the pre-activation that a BatchNormalization outputs is modelled
// per channel as N(beta, gamma^2). Everything below is an assumption-laden model, not a measurement:
//  - Each value is modelled as act(z), z ~ N(pre_mean, pre_std^2) independently per channel, with act
//    elementwise (identity for a Gaussian value). Relu / Clip compose into act = clamp(z, lo, hi), whose
//    moments are the closed-form clipped-normal ones (erf / exp); other elementwise ops (Erf, Sigmoid,
//    Tanh, and products/sums of functions of the same z, e.g. the Erf-form GELU) are integrated
//    numerically over z.
//  - Affine ops with a scalar or per-channel constant (Add/Sub/Mul/Div) are exact on this model.
//  - MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool / Identity / Dropout / Flatten keep the
//    channel statistics. Exact for the mean of average pooling; the std of average pooling is kept
//    (an over-estimate: conservative ranges); max pooling's mean is under-estimated (its range bound is
//    still the input's). Flatten and an NCHW Reshape keep the channel as "feature block" (NCHW order).
//  - Add of two modelled values: means add, variances add (independence), and the sum is modelled as a
//    fresh Gaussian with those moments (moment matching). Residual sums are positively correlated in
//    practice, so this under-estimates their std (StatsOptions::sum_std_bound uses std1 + std2 instead).
//  - Graph input: when the input is first normalized by the graph itself (Sub mean, then Mul 1/std or
//    Div std, per channel), the raw input is modelled as N(mean, std^2): the constants are taken as the
//    training data's moments, so the normalized value is ~N(0, 1). With StatsOptions::input_range
//    (e.g. {0, 1} for pixels / 255) the model becomes clamp(N(mean, std^2), lo, hi), which bounds the
//    first layer's range to what the input can take.
//  - Transformer fallback (not in Nagel et al.; on by default): a LayerNormalization output (over the
//    last axis) is modelled per channel as N(beta, gamma^2), the same assumption as for BN, although LN
//    normalizes each token across channels rather than each channel across samples; MatMul by a 2-D
//    weight propagates mean W^T m and variance (W^2)^T v (independent inputs); MatMul(Softmax(.), V)
//    is a convex combination of V's rows, so it keeps V's statistics; Reshape / Transpose that move the
//    channel axis keep the channels only as a set (channels_known = false: good for per-tensor ranges,
//    not for per-channel use such as bias correction).
// Values none of these rules reach (Softmax outputs, Concat, Conv without BN, ...) have no entry.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/passes/activation_pass.h"
#include "pare/quant/recipe.h"

namespace pare::quant {

// Applied to a [C, G] tensor of z values (row c: channel c); returns the value at those z.
using ChannelFn = std::function<at::Tensor(const at::Tensor&)>;

struct ChannelStats {
  at::Tensor mean, std;          // [C] double: moments of the value itself, per channel
  at::Tensor pre_mean, pre_std;  // [C] double: the Gaussian z the value is an elementwise function of
  at::Tensor clip_lo, clip_hi;   // [C] double (+-inf when open): value = clamp(z, clip_lo, clip_hi) ...
  ChannelFn act;                 // ... unless act is set: value = act(z) (then clip_* are unused)
  std::string root;              // the value where z was introduced (same root: same z, for x * f(x))
  int64_t axis = 1;              // channel axis: 1 (NCHW or [N, C]) or -1 (last, [N, T, D])
  bool channels_known = true;    // false: the C rows describe the elements as a set, channel order lost
  bool exact_from_bn = false;    // a BN output, through Relu/Clip/pooling only (Nagel's assumption as is)
  std::string source;            // how it was derived, e.g. "bn:layer1.0.conv1.bn -> relu"

  int64_t channels() const { return mean.numel(); }
  // The value at z ([C, G] rows per channel).
  at::Tensor apply(const at::Tensor& z) const;
  // Per channel [lo, hi] ([C] each) of the value over z in pre_mean +- k * pre_std.
  std::pair<at::Tensor, at::Tensor> range(double k) const;
  // Divides channel c of the value by s[c] > 0 (cross-layer equalization). Exact for this model when
  // act is positively homogeneous or a clamp whose bounds are scaled as well (both are done here).
  void rescale(const at::Tensor& s);
};

struct StatsOptions {
  // Bounds of the raw graph input, e.g. {0, 1} for pixels / 255; nullopt: unbounded Gaussian input.
  std::optional<std::pair<double, double>> input_range;
  bool transformer_fallback = true;  // LayerNormalization / MatMul / attention rules (see above)
  // Std of a sum of two modelled values: sqrt(v1 + v2) (independent, Nagel-style; under-estimates the
  // positively correlated residual sums of the zoo CNNs) or std1 + std2 (the upper bound over all
  // correlations, by Minkowski's inequality: conservative ranges).
  bool sum_std_bound = false;
};

// Statistics of every value the rules reach in the UNFOLDED graph (BatchNormalization still present),
// keyed by value name. fold_batchnorm gives a folded Conv/Gemm its BN's output name, so the keys are the
// value names the folded graph's layers read as well.
std::map<std::string, ChannelStats> bn_value_statistics(const ir::Graph& unfolded, const StatsOptions& options = {});

// Statistics of clamp(x, lo, hi) (Relu: lo = 0, hi = +inf), as the propagation computes them.
ChannelStats clipped(const ChannelStats& x, double lo, double hi);

// Data-free activation quantizers: one per distinct activation input of the planned layers with
// abits > 0 (at the smallest bit width any reader asks for), built as calibrate_activations builds them
// (uint-b grid with zero point, per-tensor scale), so insert_activation_qdq accepts them. The range of a
// value is the union over channels of act([pre_mean - k pre_std, pre_mean + k pre_std]): for BN -> Relu
// that is [0, max_c(beta_c + k |gamma_c|)], after Clip(0, 6) it is clamped to [0, 6]
// (k = 6: docs/methods/dfq.md, "Data-free activation ranges").
// Throws Error naming the node when a planned layer's input has no statistics. `sources`, when given,
// receives value -> how its range was derived.
std::vector<ActivationQuant> data_free_activation_ranges(const ir::Graph& folded,
                                                         const std::map<std::string, ChannelStats>& stats,
                                                         const std::vector<LayerPlan>& plans, double k = 6.0,
                                                         std::map<std::string, std::string>* sources = nullptr);

}  // namespace pare::quant
