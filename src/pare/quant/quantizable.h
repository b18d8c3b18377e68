// Which nodes of a graph carry a weight that quantization applies to, where that weight is, and which
// axis holds its output channels.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pare/ir/graph.h"

namespace pare::quant {

struct QuantizableLayer {
  std::string node;             // node name
  std::string op_type;          // Conv, ConvTranspose, Gemm, MatMul, Gather
  std::string weight;           // initializer name
  int weight_input = 1;         // input position of the weight
  int64_t out_axis = 0;         // output channels of the weight (granularity.h)
  int activation_input = 0;     // input position of the activation the layer reads; -1: none (Gather)
  int64_t activation_axis = 1;  // the activation's channel (reduction) axis, for per-channel scales
  bool depthwise = false;       // Conv with group == input channels (one input channel per filter)
};

// In graph order: Conv and ConvTranspose with an initializer weight; Gemm and MatMul whose second (or
// first) operand is a 2-D float initializer; with `embeddings`, Gather from a 2-D float initializer table.
std::vector<QuantizableLayer> find_quantizable(const ir::Graph& g, bool embeddings = false);

}  // namespace pare::quant
