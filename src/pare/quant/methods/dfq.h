// DFQ: data-free quantization by cross-layer equalization and bias correction. Reconstruction of Nagel et
// al. 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction" (arXiv 1906.04721);
// the statistics it relies on come from bn_statistics.h (BN output ~ N(beta, gamma^2) per channel). No data
// set is read anywhere.
//
// Cross-layer equalization (§4.1), on the BN-folded graph. A pair is layer1 -> [act] -> layer2 where
// layer1, layer2 are Conv (any group, depthwise included) or Gemm (transA = 0) with initializer weights
// used by no other node, act is nothing, Relu or Clip(0, c) (ReLU6), and each intermediate value has
// exactly one reader and is no graph output (so residual Adds and branches are never crossed). With r1_i
// = max |W1| over output channel i and r2_i = max |W2| over input channel i (the symmetric grid's range),
// s_i = sqrt(r1_i / r2_i); W1 rows and b1 are divided by s_i and W2's input channel i multiplied by s_i,
// after which r1_i = r2_i = sqrt(r1_i r2_i). Relu is positively homogeneous, so the network function is
// unchanged. Clip(0, c) is not: Nagel et al. replace ReLU6 by ReLU, which changes the function. By
// default the Clip is instead rewritten as Relu followed by Min with a per-channel bound c / s_i (both
// standard ONNX), which is exact: clamp(y / s, 0, c / s) = clamp(y, 0, c) / s. Sweeps over all pairs
// repeat until every scale of a sweep is within tolerance of 1 (pairs sharing a layer, e.g. MobileNetV2's
// expand -> dw -> project, converge together). The statistics of the values between the layers are
// rescaled with the weights (ChannelStats::rescale), so bias correction and data-free ranges stay right.
// Bias absorption (§4.1.2) is not implemented.
//
// Bias correction (§4.2), after weight quantization: with eps = Q(W) - W and E[x] the modelled mean of
// each input channel (after the activation: the clipped-normal mean), the expected output error is
// eps E[x]; b <- b - eps E[x]. For Conv that is sum over the kernel and the group's input channels of
// eps * E[x_c]; zero padding is ignored (border outputs see fewer nonzero inputs, so they are
// over-corrected slightly). Layers without a bias get one (a new initializer input). MatMul layers are
// corrected through their bias Add (the MatMul's only reader, adding an initializer). Layers whose input
// has no statistics, or only an unordered set of them, are skipped and reported.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/observers/bn_statistics.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

struct CleOptions {
  enum class Relu6 {
    PerChannelBound,  // Clip(0, c) -> Relu, Min(per-channel c / s): exact (default)
    ReplaceWithRelu,  // Nagel et al.: Clip(0, c) -> Relu; changes the function where values exceed c
    Skip,             // no pairs across Clip
  };
  Relu6 relu6 = Relu6::PerChannelBound;
  bool linear_pairs = true;  // pairs with no activation between (exact), e.g. MobileNetV2 project -> expand
  int max_sweeps = 100;      // MobileNetV2 (zoo): 22 sweeps to 1e-3, 46 to 1e-6; ResNet-20: 2
  double tolerance = 1e-3;   // stop after a sweep whose scales all lie in [1 - tol, 1 + tol]
};

struct DfqLayerReport {
  std::string node;
  bool equalized = false;       // part of at least one equalized pair
  bool bias_corrected = false;  // its bias was corrected
  std::string note;             // why not, or what was done
};

struct DfqReport {
  std::vector<DfqLayerReport> layers;
  int pairs = 0;                                   // equalized pairs
  int sweeps = 0;                                  // sweeps run
  double last_change = 0;                          // max |log s_i| of the last sweep
  DfqLayerReport& layer(const std::string& node);  // the entry for `node`, added when missing
};

// Equalizes `folded` in place: weights, biases, Clip -> Relu + Min rewrites (see CleOptions), and the
// statistics of the values inside each pair (keyed by value name, as bn_value_statistics returns them).
DfqReport cross_layer_equalize(ir::Graph& folded, std::map<std::string, ChannelStats>& stats,
                               const CleOptions& options = {});

// Corrects the biases in `g` for the quantization error of `layers` (quantize_weights on `float_graph`,
// the graph whose weights were quantized; `g` may be it or a copy, before or after substitute_dequantized:
// only biases change, always as new tensors). Records per layer in `report`.
void correct_biases(ir::Graph& g, const ir::Graph& float_graph, const std::vector<QuantizedLayer>& layers,
                    const std::map<std::string, ChannelStats>& stats, DfqReport& report);

}  // namespace pare::quant
