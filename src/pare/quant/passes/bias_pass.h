// Integer biases. A layer whose weight (scale s_w per output channel) and input activation (one scale
// s_x) are both quantized adds its bias inside the int32 accumulator of an integer kernel, at scale
// s_x * s_w. ONNX Runtime rounds a float bias to that grid itself when it fuses DequantizeLinear + Conv +
// QuantizeLinear into QLinearConv; pare rounds it first, so that its fake-quant graph, the .pare package
// and the QDQ export (int32 codes + DequantizeLinear) all hold the bias the integer kernel adds.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "pare/ir/graph.h"
#include "pare/quant/passes/activation_pass.h"
#include "pare/quant/passes/weight_pass.h"

namespace pare::quant {

struct QuantizedBias {
  std::string node;  // the layer
  std::string bias;  // the bias initializer it reads (in the graph given to quantize_biases)
  at::Tensor codes;  // int32 [O]
  at::Tensor scale;  // float32 [O]: s_x * s_w
  at::Tensor values() const { return codes.to(at::kFloat) * scale; }  // what DequantizeLinear gives
};

// For every Conv and Gemm of `layers` with a QDQ-expressible weight, a bias initializer and a per-tensor
// activation in `acts` (matched on `folded`, the graph before activation Q/DQ was inserted): replaces the
// bias in `g` by its int32-grid value and returns the codes. Layers whose bias would overflow int32, or
// whose weight has a zero scale, keep their float bias (listed nowhere).
std::vector<QuantizedBias> quantize_biases(ir::Graph& g, const ir::Graph& folded,
                                           const std::vector<QuantizedLayer>& layers,
                                           const std::vector<ActivationQuant>& acts);

}  // namespace pare::quant
